// Folding files into one: the values of many files combined per series by the rule of
// their type or gauge mode, as the merge would combine them. Folding is associative,
// so archive + dead files merged later with live files gives the same totals.
import { CorruptFileError, keyTextOf } from '../format/entries.js';
import type { ImageEntry } from '../format/file-image.js';
import { decodeKey } from '../format/key.js';
import type { GaugeMode, MetricType, SideFileKind } from '../format/names.js';
import { DbFileReader, ReadBuffer } from '../format/reader.js';

export type FoldRule = 'sum' | 'min' | 'max' | 'mostrecent';

/** The rule for a file's type and mode, or null when its values do not outlive the process. */
export function foldRuleFor(type: MetricType, mode: GaugeMode | undefined): FoldRule | null {
  if (type !== 'gauge') return 'sum';
  switch (mode) {
    case 'sum': return 'sum';
    case 'min': return 'min';
    case 'max': return 'max';
    case 'mostrecent': return 'mostrecent';
    // `all` is one series per process: a dead process's series has no place in the
    // merged view; `live*` modes drop dead processes by definition.
    default: return null;
  }
}

/**
 * The rule for a side file of a dead process, or null to delete it unfolded: native
 * histogram buckets are counts (summed, as the histogram's `.db` entries are); a summary's
 * sliding window is about recent observations, which a dead process no longer makes.
 */
export function foldRuleForSide(kind: SideFileKind): FoldRule | null {
  return kind === 'nativehistogram' ? 'sum' : null;
}

/**
 * Keys already checked to be well-formed. A compactor keeps one for its life, so each
 * distinct key is decoded once, not once per file per sweep.
 */
export type CheckedKeys = Set<string>;

const MAX_CHECKED_KEYS = 1_000_000;

/**
 * Series values combined over files by one rule; becomes an archive's entries. A series
 * is its raw key: every writer of one series writes the same key bytes, and two spellings
 * of one series (a foreign writer) stay two entries, which the merge combines by the
 * same rule, so the totals are the same.
 */
export class Fold {
  private readonly bySeries = new Map<string, ImageEntry>();
  private readonly scratch = new ReadBuffer();

  constructor(private readonly rule: FoldRule, private readonly checked: CheckedKeys = new Set()) {}

  /** Adds one file's entries, or throws (CorruptFileError for bad bytes) having added nothing. */
  add(file: string): void {
    const keys: string[] = [];
    const reader = new DbFileReader(file, {
      onKey: (buf, start, end) => {
        const key = keyTextOf(buf, start, end);
        if (!this.checked.has(key)) {
          decodeKey(key); // throws KeyFormatError: the reader reports the file corrupt
          if (this.checked.size >= MAX_CHECKED_KEYS) this.checked.clear();
          this.checked.add(key);
        }
        keys.push(key);
      },
    });
    const outcome = reader.read(this.scratch);
    if (!outcome.ok) {
      // A file that vanished has nothing left to fold; treat it like an unreadable one.
      // Nor has a file whose values the merge never reads (too large, a FIFO, a device).
      if (outcome.problem !== 'unreadable') throw new CorruptFileError(outcome.reason, file);
      throw new Error(`${file}: ${outcome.reason}`);
    }
    const { values, timestamps } = reader;
    for (let i = 0; i < keys.length; i++) {
      const seen = this.bySeries.get(keys[i]);
      if (seen) combine(seen, values[i], timestamps[i], this.rule);
      else this.bySeries.set(keys[i], { key: keys[i], value: values[i], timestamp: timestamps[i] });
    }
  }

  entries(): ImageEntry[] {
    return [...this.bySeries.values()];
  }
}

function combine(into: ImageEntry, value: number, timestamp: number, rule: FoldRule): void {
  switch (rule) {
    case 'sum':
      into.value += value;
      break;
    case 'min':
      if (value < into.value) into.value = value;
      break;
    case 'max':
      if (value > into.value) into.value = value;
      break;
    case 'mostrecent':
      if (timestamp > into.timestamp) {
        into.value = value;
        into.timestamp = timestamp;
      }
      break;
  }
}

// Folding files into one: the values of many files combined per series by the rule of
// their type or gauge mode, as the merge would combine them. Folding is associative,
// so archive + dead files merged later with live files gives the same totals.
import { encodeKey, sortLabelPairs } from '../format/key.js';
import type { ImageEntry } from '../format/file-image.js';
import type { GaugeMode, MetricType } from '../format/names.js';
import { readDbFile } from '../format/reader.js';

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

/** Series values combined over files by one rule; becomes an archive's entries. */
export class Fold {
  private readonly bySeries = new Map<string, ImageEntry>();

  constructor(private readonly rule: FoldRule) {}

  /** Adds one file's entries, or throws CorruptFileError having added nothing. */
  add(file: string): void {
    const entries = readDbFile(file);
    for (const e of entries) {
      const key = encodeKey(e.metricName, e.sampleName, sortLabelPairs(Object.entries(e.labels)), e.help);
      const seen = this.bySeries.get(key);
      if (seen) combine(seen, e.value, e.timestamp, this.rule);
      else this.bySeries.set(key, { key, value: e.value, timestamp: e.timestamp });
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

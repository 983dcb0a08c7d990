// What an entry's key means for the merge (sorted labels with and without `pid`, bucket
// bound), worked out once per distinct key for the whole directory: the workers of one
// app write the same keys, so a directory of W workers holds each key W times, and the
// key is decoded and prepared once instead of W times, and kept once in memory.
import { decodeKey, sortLabelPairs, type LabelPairs } from '../format/key.js';
import { floatToGoString } from '../format/number.js';
import { samplePrefix, sortedPairs, unexposableLabels } from './exposition.js';

/**
 * Sorted label pairs, and the exposition prefix (`name{labels} `) of each sample name they
 * are rendered with: made once and kept, since a merge plan is rebuilt whenever a series
 * appears, and rendering every prefix again each time would cost more than the rest of it.
 */
export class RenderedLabels {
  private firstName: string | undefined;
  private firstPrefix = '';
  /** Further names: a histogram series is rendered as `_sum` and `_count`. */
  private more: Map<string, string> | null = null;

  /** Why Prometheus could not parse a sample with these labels (checked once per label set), or null. */
  readonly problem: string | null;

  constructor(readonly pairs: LabelPairs) {
    this.problem = unexposableLabels(pairs);
  }

  prefix(sampleName: string): string {
    if (sampleName === this.firstName) return this.firstPrefix;
    if (this.firstName === undefined) {
      this.firstName = sampleName;
      this.firstPrefix = samplePrefix(sampleName, this.pairs);
      return this.firstPrefix;
    }
    this.more ??= new Map();
    let prefix = this.more.get(sampleName);
    if (prefix === undefined) {
      prefix = samplePrefix(sampleName, this.pairs);
      this.more.set(sampleName, prefix);
    }
    return prefix;
  }
}

/** Rendered labels with a string naming exactly that set, for use as a Map key. */
export class LabelSet extends RenderedLabels {
  constructor(pairs: LabelPairs, readonly key: string) {
    super(pairs);
  }
}

/** A histogram bucket entry: its bound, and its series (labels without `le`). */
export interface BucketEntry {
  /** `float(le)`; NaN when `le` is not a number (then `invalidLe` holds it). */
  readonly bound: number;
  readonly invalidLe: string | null;
  readonly series: LabelSet;
  /** `series` plus `le` re-rendered from `bound`, as the merged sample is labelled. */
  readonly labels: RenderedLabels;
}

/** What the merge needs from one key. */
export interface PreparedKey {
  readonly key: string;
  /** The file id added as `pid` (gauge files), or null for the shared preparation. */
  readonly pid: string | null;
  /** The key's metric (family) name and help; interned: one string per distinct text. */
  readonly metricName: string;
  readonly help: string;
  readonly sampleName: string;
  /** The raw sample's labels: the key's labels, plus `pid` = file id in gauge files. */
  readonly labels: LabelSet;
  /** `labels` without any `pid`, for gauge modes other than all/liveall. */
  readonly labelsWithoutPid: LabelSet;
  /** Set when the labels include `le`. */
  readonly bucket: BucketEntry | null;
}

/**
 * Prepared keys of one directory, shared by its files. Gauge files get their own
 * preparation (their labels carry the file's pid), kept by the file.
 */
export class KeyCache {
  private keys = new Map<string, PreparedKey>();
  /** One LabelSet object per distinct label set (e.g. shared by a histogram's `_sum` and its buckets). */
  private labelSets = new Map<string, LabelSet>();

  /** The shared preparation of a key (throws a KeyFormatError for a malformed one, uncached). */
  prepared(key: string): PreparedKey {
    let prepared = this.keys.get(key);
    if (!prepared) {
      const decoded = decodeKey(key);
      const names = { metricName: this.intern(decoded.metricName), help: this.intern(decoded.help), sampleName: this.intern(decoded.sampleName) };
      prepared = this.prepare(key, names, sortedPairs(decoded.labels), null);
      this.keys.set(key, prepared);
    }
    return prepared;
  }

  /**
   * The preparation for an entry of a gauge file: Python appends ("pid", <file id>) to the
   * labels, overwriting a user label `pid`.
   */
  preparedWithPid(shared: PreparedKey, pid: string): PreparedKey {
    return this.prepare(shared.key, shared, shared.labels.pairs, pid);
  }

  /** Set when a file dropped its entries (it is gone, or was replaced): some keys may be unused now. */
  private dropped = false;

  noteDropped(): void {
    this.dropped = true;
  }

  /**
   * After files dropped entries: keeps only the keys some live file still uses, so memory
   * follows the live files (DESIGN.md promise 6).
   */
  retain(inUse: Iterable<readonly PreparedKey[]>): void {
    if (!this.dropped) return;
    this.dropped = false;
    const keys = new Map<string, PreparedKey>();
    const labelSets = new Map<string, LabelSet>();
    const keep = (set: LabelSet) => labelSets.set(set.key, set);
    for (const prepared of inUse) {
      for (const p of prepared) {
        if (p.pid === null) keys.set(p.key, p);
        keep(p.labels);
        keep(p.labelsWithoutPid);
        if (p.bucket) keep(p.bucket.series);
      }
    }
    this.keys = keys;
    this.labelSets = labelSets;
    this.strings.clear();
  }

  /**
   * Names, help texts and `le` values repeat across thousands of keys; each decoded key
   * brings its own copy. Keeping one per text saves most of the prepared keys' memory.
   */
  private strings = new Map<string, string>();

  private intern(text: string): string {
    const known = this.strings.get(text);
    if (known !== undefined) return known;
    this.strings.set(text, text);
    return text;
  }

  private prepare(
    key: string,
    names: { readonly metricName: string; readonly help: string; readonly sampleName: string },
    keyPairs: LabelPairs,
    pid: string | null,
  ): PreparedKey {
    let pairs = keyPairs as Array<[string, string]>;
    if (pid !== null) {
      pairs = pairs.filter((p) => p[0] !== 'pid');
      pairs.push(['pid', pid]);
      sortLabelPairs(pairs);
    }
    const labels = this.labelSet(pairs);
    const hasPid = pairs.some((p) => p[0] === 'pid');
    const labelsWithoutPid = hasPid ? this.labelSet(pairs.filter((p) => p[0] !== 'pid')) : labels;
    const le = pairs.find((p) => p[0] === 'le');
    let bucket: BucketEntry | null = null;
    if (le) {
      const bound = parsePythonFloat(le[1]);
      const series = this.labelSet(pairs.filter((p) => p[0] !== 'le'));
      // Built from the shared set's pairs, so only the `le` pair is this key's own.
      const labelsWithLe = sortLabelPairs([...series.pairs, ['le', this.intern(floatToGoString(bound ?? NaN))] as [string, string]]);
      bucket = {
        bound: bound ?? NaN,
        invalidLe: bound === null ? le[1] : null,
        series,
        labels: new RenderedLabels(labelsWithLe),
      };
    }
    return { key, pid, metricName: names.metricName, help: names.help, sampleName: names.sampleName, labels, labelsWithoutPid, bucket };
  }

  private labelSet(pairs: Array<[string, string]>): LabelSet {
    const key = JSON.stringify(pairs);
    let set = this.labelSets.get(key);
    if (!set) {
      set = new LabelSet(pairs, key);
      this.labelSets.set(key, set);
    }
    return set;
  }
}

/** Python's float() of an `le` string (sign, digits with `_`, `inf`, `infinity`, `nan`), or null if Python would raise. */
export function parsePythonFloat(text: string): number | null {
  const s = text.trim();
  const special = /^([+-]?)(inf|infinity|nan)$/i.exec(s);
  if (special) {
    if (special[2].toLowerCase() === 'nan') return NaN;
    return special[1] === '-' ? -Infinity : Infinity;
  }
  if (!/^[+-]?(\d(_?\d)*(\.(\d(_?\d)*)?)?|\.\d(_?\d)*)([eE][+-]?\d(_?\d)*)?$/.test(s)) return null;
  return Number(s.replace(/_/g, ''));
}

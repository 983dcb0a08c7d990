// One listed metrics file as the merge sees it: its reader, kept across merges, and what
// each entry means for the merge (family, sorted labels with and without `pid`, bucket
// bound), worked out once when the entry is first parsed. A merge then only re-reads values.
import type { ParsedEntry } from '../format/entries.js';
import { sortLabelPairs, type LabelPairs } from '../format/key.js';
import type { ParsedFileName } from '../format/names.js';
import { floatToGoString } from '../format/number.js';
import { DbFileReader } from '../format/reader.js';
import { sortedPairs } from './exposition.js';

/** Sorted label pairs and a string naming exactly that set, for use as a Map key. */
export interface LabelSet {
  readonly pairs: LabelPairs;
  readonly key: string;
}

/** A histogram bucket entry: its bound, and its series (labels without `le`). */
export interface BucketEntry {
  /** `float(le)`; NaN when `le` is not a number (then `invalidLe` holds it). */
  readonly bound: number;
  readonly invalidLe: string | null;
  readonly series: LabelSet;
  /** `series` plus `le` re-rendered from `bound`, as the merged sample is labelled. */
  readonly labels: LabelPairs;
}

/** What the merge needs from one entry, worked out once when it is first parsed. */
export interface PreparedEntry {
  /** Index into the file's `familyNames`. */
  readonly family: number;
  readonly sampleName: string;
  /** The raw sample's labels: the key's labels, plus `pid` = file id for gauge files. */
  readonly labels: LabelSet;
  /** `labels` without any `pid`, for gauge modes other than all/liveall. */
  readonly labelsWithoutPid: LabelSet;
  /** Set when the labels include `le`. */
  readonly bucket: BucketEntry | null;
}

/** One listed file: its reader and its prepared entries, kept across merges. */
export class TrackedFile {
  readonly reader: DbFileReader | null;
  prepared: PreparedEntry[] = [];
  /** Metric names in the order this file first mentions them, with the help of that first entry. */
  familyNames: string[] = [];
  familyHelp: string[] = [];
  private familyIndex = new Map<string, number>();
  private labelSets = new Map<string, LabelSet>();
  /** The merge that last listed this file; files not listed by the current merge are dropped. */
  listedIn = 0;
  /** Entries parsed by the current merge. */
  parsedNow = 0;
  /** Changes whenever `prepared` does, so a merge plan can tell it still fits. */
  generation = 0;

  constructor(readonly name: string, readonly parsedName: ParsedFileName | null, filePath: string) {
    this.reader = parsedName ? new DbFileReader(filePath) : null;
  }

  /** Prepares the entries the reader just parsed, starting over if it re-read the file from scratch. */
  catchUp(added: readonly ParsedEntry[], restarted: boolean): void {
    if (restarted) this.reset();
    if (added.length > 0) this.generation++;
    for (const entry of added) this.prepared.push(this.prepare(entry));
  }

  reset(): void {
    this.generation++;
    this.prepared = [];
    this.familyNames = [];
    this.familyHelp = [];
    this.familyIndex.clear();
    this.labelSets.clear();
  }

  private prepare(entry: ParsedEntry): PreparedEntry {
    let family = this.familyIndex.get(entry.metricName);
    if (family === undefined) {
      family = this.familyNames.length;
      this.familyNames.push(entry.metricName);
      this.familyHelp.push(entry.help);
      this.familyIndex.set(entry.metricName, family);
    }
    let pairs = sortedPairs(entry.labels);
    if (this.parsedName!.type === 'gauge') {
      // Python appends ("pid", <id>); a user label `pid` is overwritten by it.
      pairs = pairs.filter((p) => p[0] !== 'pid');
      pairs.push(['pid', this.parsedName!.id]);
      sortLabelPairs(pairs);
    }
    const labels = this.labelSet(pairs);
    const hasPid = pairs.some((p) => p[0] === 'pid');
    const labelsWithoutPid = hasPid ? this.labelSet(pairs.filter((p) => p[0] !== 'pid')) : labels;
    const le = pairs.find((p) => p[0] === 'le');
    let bucket: BucketEntry | null = null;
    if (le) {
      const bound = parsePythonFloat(le[1]);
      const seriesPairs = pairs.filter((p) => p[0] !== 'le');
      const labelsWithLe = sortLabelPairs([...seriesPairs, ['le', floatToGoString(bound ?? NaN)] as [string, string]]);
      bucket = { bound: bound ?? NaN, invalidLe: bound === null ? le[1] : null, series: this.labelSet(seriesPairs), labels: labelsWithLe };
    }
    return { family, sampleName: entry.sampleName, labels, labelsWithoutPid, bucket };
  }

  /** The same label set is shared by all entries of a file that have it (e.g. a histogram's buckets). */
  private labelSet(pairs: Array<[string, string]>): LabelSet {
    const key = JSON.stringify(pairs);
    let set = this.labelSets.get(key);
    if (!set) {
      set = { pairs, key };
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

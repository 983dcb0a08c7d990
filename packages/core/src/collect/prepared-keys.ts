// What an entry's key means for the merge (sorted labels with and without `pid`, bucket
// bound), worked out once per distinct key for the whole directory: the workers of one
// app write the same keys, so a directory of W workers holds each key W times, and the
// key is decoded and prepared once instead of W times, and kept once in memory.
import { keyTextOf } from '../format/entries.js';
import { decodeKey, sortLabelPairs, type LabelPairs } from '../format/key.js';
import { bytesEqualString, PlainKeyFields } from '../format/key-bytes.js';
import { floatToGoString } from '../format/number.js';
import type { WalkedValues } from '../format/reader.js';
import { ByteKeyTable, InternedStrings } from './byte-tables.js';
import { LEGACY_LABEL, labelsText, sortedPairs, unexposableLabels } from './exposition.js';

/**
 * Sorted label pairs, and their part of a sample line (`{labels} `): made once per label
 * set and kept, since a merge plan is rebuilt whenever a series appears, and rendering the
 * labels again each time would cost more than the rest of it. A line is the sample name's
 * escaped text and this (exposition.ts `Sample.lineName`, `lineLabels`): a first plan at
 * 8 × 10,000 keeps ~6,500 label sets' texts, not 75,000 lines' prefixes.
 */
export class RenderedLabels {
  private rendered: string | null = null;

  /** Why Prometheus could not parse a sample with these labels (checked once per label set), or null. */
  readonly problem: string | null;

  /** Every label name is legacy-valid: its text is written without escaping names. */
  private readonly legacyNames: boolean;

  constructor(readonly pairs: LabelPairs) {
    this.legacyNames = plainLabelNames(pairs);
    this.problem = this.legacyNames ? null : unexposableLabels(pairs);
  }

  /** `labelsText(pairs)`: `{label="value",...} `, or ` ` for none. */
  get text(): string {
    return (this.rendered ??= labelsText(this.pairs, this.legacyNames));
  }
}

/**
 * True when `pairs` (sorted by name) can have no problem `unexposableLabels` finds: every
 * name legacy-valid (so its own escape, never empty), none `__name__`, no two equal. The
 * common case, checked without the Map `unexposableLabels` makes per label set.
 */
function plainLabelNames(pairs: LabelPairs): boolean {
  for (let i = 0; i < pairs.length; i++) {
    const name = pairs[i][0];
    if (name === '__name__' || !LEGACY_LABEL.test(name) || (i > 0 && !(pairs[i - 1][0] < name))) return false;
  }
  return true;
}

/** Rendered labels with a string naming exactly that set, for use as a Map key. */
export class LabelSet extends RenderedLabels {
  /** The bucket entry of every key with exactly these labels, `le` among them (made by the first). */
  bucket: BucketEntry | null = null;

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
  /**
   * The step (SUM or BUCKET) this key was given by the merge plan placement pass
   * numbered `placedIn` (merge-plan.ts): the same key in another file of that plan gets
   * the same step with no lookup, unless the entry comes before what the step feeds was born.
   */
  placedIn: number;
  placedStep: number;
}

/** An `le` value as the merge uses it: its bound, and the text the merged bucket is labelled with. */
interface LeBound {
  readonly bound: number;
  readonly invalidLe: string | null;
  readonly rendered: string;
}

/**
 * Prepared keys of one directory, shared by its files, found by the key's bytes: a key
 * seen before (in this file or another) costs a hash and a comparison of its bytes, no
 * string. A new key in the common shape (see PlainKeyFields) is decoded in place, each
 * of its strings made only if that text is new; any other key is decoded by JSON.parse.
 * Gauge files get their own preparation (their labels carry the file's pid), kept by the file.
 */
export class KeyCache {
  private keys = new ByteKeyTable<PreparedKey>();
  private readonly strings = new InternedStrings();
  /** One LabelSet per distinct label set (e.g. shared by a histogram's `_sum` and its buckets), by its strings' ids. */
  private labelSets = new LabelSetTable();
  /** `le` values, by text. */
  private bounds = new Map<string, LeBound>();
  private readonly fields = new PlainKeyFields();
  /** The labels of the key being prepared, in key order: names, values, and both ids of each. */
  private names: string[] = [];
  private values: string[] = [];
  private ids: number[] = [];
  private count = 0;

  /**
   * The shared preparation of the key in bytes [start, end) of `buf`. Throws a
   * KeyFormatError for a malformed key (or one that is not UTF-8), which is not cached.
   */
  preparedAt(buf: Buffer, start: number, end: number): PreparedKey {
    let prepared = this.keys.get(buf, start, end);
    if (prepared === undefined) {
      prepared = this.prepareScanned(buf, start, end);
      this.addKey(buf, start, end, prepared);
    }
    return prepared;
  }

  /**
   * `preparedAt` of a key the addon's walk did not find (`walkKeys`): `hash` is its hash,
   * and its fields are at `fields[fieldsAt]` (the label count, then each field's [start,
   * end) in `buf`) when it is in the plain shape, else `fieldsAt` is -1.
   */
  preparedWalked(buf: Buffer, start: number, end: number, hash: number, fields: Int32Array, fieldsAt: number): PreparedKey {
    let prepared = this.keys.getHashed(buf, start, end, hash);
    if (prepared === undefined) {
      prepared = fieldsAt >= 0 ? this.preparePlain(buf, fields, fieldsAt + 1, fields[fieldsAt]) : this.prepareScanned(buf, start, end);
      this.addKey(buf, start, end, prepared);
    }
    return prepared;
  }

  /** Adds a new key's preparation (just missed by a lookup, so not hashed again), and notes its slot's metric. */
  private addKey(buf: Buffer, start: number, end: number, prepared: PreparedKey): void {
    this.keys.add(buf, start, end, prepared, true);
    this.noteMetric(this.keys.last, prepared.metricName);
  }

  /**
   * The metric of each slot as a number (equal numbers, equal metric names; -1 for none),
   * so that a file taking a run of known keys tells its family changed by comparing
   * numbers, without reading the keys' preparations (tracked-file.ts).
   */
  private slotMetrics = new Int32Array(0);
  private readonly metricNumbers = new Map<string, number>();
  private lastMetric: string | null = null;
  private lastMetricNumber = -1;

  /** Each slot's metric number: valid until a key is added or `retain`. */
  metricsBySlot(): Int32Array {
    return this.slotMetrics;
  }

  private noteMetric(slot: number, name: string): void {
    if (slot >= this.slotMetrics.length) {
      const grown = new Int32Array(Math.max(1024, 2 * this.slotMetrics.length, slot + 1)).fill(-1);
      grown.set(this.slotMetrics);
      this.slotMetrics = grown;
    }
    // Keys of one metric mostly come one after the other: the last name is checked first.
    if (name !== this.lastMetric) {
      let number = this.metricNumbers.get(name);
      if (number === undefined) this.metricNumbers.set(name, (number = this.metricNumbers.size));
      this.lastMetric = name;
      this.lastMetricNumber = number;
    }
    this.slotMetrics[slot] = this.lastMetricNumber;
  }

  /** The keys of a file window walked and looked up in one call to the addon: ByteKeyTable.walk. */
  walkKeys(buf: Buffer, from: number, end: number, base: number, used: number, out: Int32Array, fields: Int32Array, values?: WalkedValues): number {
    return this.keys.walk(buf, from, end, base, used, out, fields, values);
  }

  /** The shared preparation of the key `walkKeys` found in `slot`. */
  preparedIn(slot: number): PreparedKey {
    return this.keys.found(slot);
  }

  /** The slot of the shared preparation last returned (a file keeps its entries' keys as slots: see tracked-file.ts). */
  lastSlot(): number {
    return this.keys.last;
  }

  /** The shared preparation in each slot, until the next `retain`. */
  bySlot(): readonly PreparedKey[] {
    return this.keys.bySlot;
  }

  /** The shared preparation of a key given as text. */
  prepared(key: string): PreparedKey {
    const buf = Buffer.from(key, 'utf8');
    return this.preparedAt(buf, 0, buf.length);
  }

  /**
   * The preparation for an entry of a gauge file: Python appends ("pid", <file id>) to the
   * labels, overwriting a user label `pid`.
   */
  preparedWithPid(shared: PreparedKey, pid: string): PreparedKey {
    const pairs: Array<readonly [string, string]> = shared.labels.pairs.filter((p) => p[0] !== 'pid');
    pairs.push(['pid', pid]);
    this.load(sortLabelPairs(pairs));
    return this.prepare(shared.metricName, shared.sampleName, shared.help, pid);
  }

  /** Set when a file dropped its entries (it is gone, or was replaced): some keys may be unused now. */
  private dropped = false;

  noteDropped(): void {
    this.dropped = true;
  }

  /**
   * After files dropped entries: keeps only the keys some live file still uses, so memory
   * follows the live files (DESIGN.md promise 6). The strings of kept label sets keep
   * their ids, so a label set seen again is still the same LabelSet. Returns each old
   * slot's new one (-1: dropped), or null when nothing was dropped (slots unchanged).
   */
  retain(inUse: Iterable<readonly PreparedKey[]>): Int32Array | null {
    if (!this.dropped) return null;
    this.dropped = false;
    const kept = new Set<PreparedKey>();
    const labelSets = new LabelSetTable();
    const strings = new Set<string>();
    const keep = (set: LabelSet) => {
      if (!labelSets.add(set)) return;
      for (const [name, value] of set.pairs) strings.add(name).add(value);
    };
    for (const prepared of inUse) {
      for (const p of prepared) {
        if (p.pid === null) {
          if (kept.has(p)) continue;
          kept.add(p);
        }
        strings.add(p.metricName).add(p.sampleName).add(p.help);
        keep(p.labels);
        keep(p.labelsWithoutPid);
        if (p.bucket) keep(p.bucket.series);
      }
    }
    const renumbered = this.keys.retain((p) => kept.has(p));
    // The slots' metric numbers, for the new slots (and only the metrics kept).
    this.slotMetrics = new Int32Array(0);
    this.metricNumbers.clear();
    this.lastMetric = null;
    const bySlot = this.keys.bySlot;
    for (let slot = 0; slot < bySlot.length; slot++) this.noteMetric(slot, bySlot[slot].metricName);
    this.labelSets = labelSets;
    // Pairs of sets that are gone are not kept (kept sets keep theirs).
    this.pairsByName = new Map();
    // What the last keys used may be gone now: their ids must not be reused for new text.
    this.fieldTexts = [];
    this.fieldIds = [];
    this.recentSets = [undefined, undefined];
    this.strings.retain(strings);
    this.bounds.clear();
    return renumbered;
  }

  /** Prepares the new key in bytes [start, end) of `buf`: in place if PlainKeyFields finds it plain, else by JSON.parse. */
  private prepareScanned(buf: Buffer, start: number, end: number): PreparedKey {
    return this.fields.scan(buf, start, end) ? this.preparePlain(buf, this.fields.at, 0, this.fields.labels) : this.prepareText(keyTextOf(buf, start, end));
  }

  /** Prepares the plain key in `buf` with `labels` labels whose fields' [start, end) pairs are at `at[from..]` (PlainKeyFields' layout). */
  private preparePlain(buf: Buffer, at: Int32Array, from: number, labels: number): PreparedKey {
    this.fieldAt = at;
    this.fieldFrom = from;
    this.field(buf, 0);
    const metricName = this.text;
    this.field(buf, 1);
    const sampleName = this.text;
    this.field(buf, 2);
    const help = this.text;
    for (let i = 0; i < labels; i++) {
      this.ids[2 * i] = this.field(buf, 3 + 2 * i);
      this.names[i] = this.text;
      this.ids[2 * i + 1] = this.field(buf, 4 + 2 * i);
      this.values[i] = this.text;
    }
    this.count = labels;
    return this.prepare(metricName, sampleName, help, null);
  }

  /** Text and id of each field of the previous plain key: the keys of one series (a histogram's buckets) differ in one or two fields. */
  private fieldTexts: string[] = [];
  private fieldIds: number[] = [];
  /** The text of the last `field` call. */
  private text = '';
  /** Where the fields of the key being prepared are: `fieldAt[fieldFrom + 2f]`, `fieldAt[fieldFrom + 2f + 1]`. */
  private fieldAt: Int32Array = new Int32Array(0);
  private fieldFrom = 0;

  /** The id of field `f` of the plain key just scanned (0 metric, 1 sample, 2 help, then each label's name and value); its text in `text`. */
  private field(buf: Buffer, f: number): number {
    const at = this.fieldAt;
    const start = at[this.fieldFrom + 2 * f];
    const end = at[this.fieldFrom + 2 * f + 1];
    const previous = this.fieldTexts[f];
    if (previous !== undefined && bytesEqualString(buf, start, end, previous)) {
      this.text = previous;
      return this.fieldIds[f];
    }
    const id = this.strings.idOfBytes(buf, start, end);
    this.text = this.fieldTexts[f] = this.strings.last;
    this.fieldIds[f] = id;
    return id;
  }

  /** Prepares a key in any other shape: JSON.parse decides what it means. */
  private prepareText(key: string): PreparedKey {
    const decoded = decodeKey(key);
    this.strings.idOf(decoded.metricName);
    const metricName = this.strings.last;
    this.strings.idOf(decoded.sampleName);
    const sampleName = this.strings.last;
    this.strings.idOf(decoded.help);
    const help = this.strings.last;
    this.load(sortedPairs(decoded.labels));
    return this.prepare(metricName, sampleName, help, null);
  }

  /** Makes `pairs` (in key order) the labels of the key being prepared. */
  private load(pairs: LabelPairs): void {
    for (let i = 0; i < pairs.length; i++) {
      this.ids[2 * i] = this.strings.idOf(pairs[i][0]);
      this.names[i] = this.strings.last;
      this.ids[2 * i + 1] = this.strings.idOf(pairs[i][1]);
      this.values[i] = this.strings.last;
    }
    this.count = pairs.length;
  }

  /** Prepares the key whose labels were just loaded. */
  private prepare(metricName: string, sampleName: string, help: string, pid: string | null): PreparedKey {
    let pidAt = -1;
    let leAt = -1;
    for (let i = 0; i < this.count; i++) {
      if (this.names[i] === 'pid') pidAt = i;
      else if (this.names[i] === 'le') leAt = i;
    }
    const labels = this.labelSet(-1);
    const labelsWithoutPid = pidAt >= 0 ? this.labelSet(pidAt) : labels;
    // A bucket entry depends on the labels only: the keys of one label set in several
    // histograms (their series share label values) share one, and its labels' text with `le`.
    const bucket = leAt < 0 ? null : (labels.bucket ??= this.bucketEntry(labels, leAt));
    return { pid, metricName, help, sampleName, labels, labelsWithoutPid, bucket, placedIn: 0, placedStep: 0 };
  }

  /** The bucket entry of the loaded labels (`labels`), whose `le` is at `leAt`. */
  private bucketEntry(labels: LabelSet, leAt: number): BucketEntry {
    const le = this.leBound(this.values[leAt]);
    const series = this.labelSet(leAt);
    let rendered: RenderedLabels = labels;
    if (le.rendered !== this.values[leAt]) {
      // The series' pairs with `le` re-rendered, in the place `le` had: only that pair is this key's own.
      const pairs = series.pairs.slice();
      pairs.splice(leAt, 0, ['le', le.rendered]);
      rendered = new RenderedLabels(pairs);
    }
    return { bound: le.bound, invalidLe: le.invalidLe, series, labels: rendered };
  }

  /** The LabelSet of the loaded labels, leaving out the one at `skip` (-1: none). */
  private labelSet(skip: number): LabelSet {
    // Arrays of exactly the needed length, reused: emptying one (`length = 0`) is a runtime call, slow at one per key.
    const size = 4 * (skip < 0 ? this.count : this.count - 1);
    const codes = (this.codesBySize[size] ??= new Array<number>(size).fill(0));
    let c = 0;
    for (let i = 0; i < this.count; i++) {
      if (i === skip) continue;
      const name = this.ids[2 * i];
      const value = this.ids[2 * i + 1];
      codes[c++] = name & 0xffff;
      codes[c++] = name >>> 16;
      codes[c++] = value & 0xffff;
      codes[c++] = value >>> 16;
    }
    // The previous key's set, with or without a label left out, is the likely one (a series' keys follow each other).
    const recent = skip < 0 ? 0 : 1;
    const last = this.recentSets[recent];
    if (last !== undefined && sameCodes(codes, last.key)) return last;
    // Found by the codes themselves: the key string is made only for a new set.
    let set = this.labelSets.get(codes);
    if (set === undefined) {
      const pairs: Array<readonly [string, string]> = [];
      for (let i = 0; i < this.count; i++) if (i !== skip) pairs.push(this.pair(i));
      set = new LabelSet(pairs, charCodesText(codes));
      this.labelSets.add(set);
    }
    this.recentSets[recent] = set;
    return set;
  }

  /**
   * The label pairs of new label sets, by their strings' ids (name, then value): a pair is
   * shared by every set that has it (a label set holds ~4 pairs, and a directory's sets
   * have few distinct ones: `method="GET"` in most of them). Pairs are never written.
   */
  private pairsByName = new Map<number, Map<number, readonly [string, string]>>();

  /** The pair of the loaded label `i`. */
  private pair(i: number): readonly [string, string] {
    const nameId = this.ids[2 * i];
    const valueId = this.ids[2 * i + 1];
    let byValue = this.pairsByName.get(nameId);
    if (byValue === undefined) this.pairsByName.set(nameId, (byValue = new Map()));
    let pair = byValue.get(valueId);
    if (pair === undefined) byValue.set(valueId, (pair = [this.names[i], this.values[i]]));
    return pair;
  }

  /** Scratch arrays for `labelSet`, by length. */
  private readonly codesBySize: number[][] = [];
  /** The last label set made with all labels (0) and with one left out (1). */
  private recentSets: Array<LabelSet | undefined> = [undefined, undefined];

  private leBound(text: string): LeBound {
    let le = this.bounds.get(text);
    if (!le) {
      const bound = parsePythonFloat(text);
      this.strings.idOf(floatToGoString(bound ?? NaN));
      le = { bound: bound ?? NaN, invalidLe: bound === null ? text : null, rendered: this.strings.last };
      this.bounds.set(text, le);
    }
    return le;
  }
}

/** Whether `key` is the string of the code units `codes`. */
function sameCodes(codes: readonly number[], key: string): boolean {
  if (codes.length !== key.length) return false;
  for (let i = 0; i < codes.length; i++) if (codes[i] !== key.charCodeAt(i)) return false;
  return true;
}

function hashCodes(codes: readonly number[]): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < codes.length; i++) hash = Math.imul(hash ^ codes[i], 0x01000193);
  return hash ^ (hash >>> 15);
}

/**
 * Label sets by their key's code units (their strings' ids): a set seen before is found
 * from the codes, with no string made per key (a directory of 70,000 keys has ~6,500 sets).
 * Open addressing, at most half full.
 */
class LabelSetTable {
  private hashes = new Int32Array(1024);
  /** Index + 1 of each cell's set in `sets`; 0: a free cell. */
  private slots = new Int32Array(1024);
  private sets: LabelSet[] = [];

  get(codes: readonly number[]): LabelSet | undefined {
    const hash = hashCodes(codes);
    const mask = this.slots.length - 1;
    for (let cell = hash & mask; this.slots[cell] !== 0; cell = (cell + 1) & mask) {
      const set = this.sets[this.slots[cell] - 1];
      if (this.hashes[cell] === hash && sameCodes(codes, set.key)) return set;
    }
    return undefined;
  }

  /** Adds `set` unless a set with its key is here; false if one was. */
  add(set: LabelSet): boolean {
    const codes: number[] = [];
    for (let i = 0; i < set.key.length; i++) codes.push(set.key.charCodeAt(i));
    if (this.get(codes) !== undefined) return false;
    if (2 * (this.sets.length + 1) > this.slots.length) this.grow();
    this.sets.push(set);
    this.place(hashCodes(codes), this.sets.length);
    return true;
  }

  private place(hash: number, slot: number): void {
    const mask = this.slots.length - 1;
    let cell = hash & mask;
    while (this.slots[cell] !== 0) cell = (cell + 1) & mask;
    this.hashes[cell] = hash;
    this.slots[cell] = slot;
  }

  private grow(): void {
    const { hashes, slots } = this;
    this.hashes = new Int32Array(2 * slots.length);
    this.slots = new Int32Array(2 * slots.length);
    for (let cell = 0; cell < slots.length; cell++) if (slots[cell] !== 0) this.place(hashes[cell], slots[cell]);
  }
}

/** A string of UTF-16 code units (a label set's ids), in chunks: apply() takes a bounded number of arguments. */
function charCodesText(codes: number[]): string {
  if (codes.length <= 4096) return String.fromCharCode.apply(null, codes);
  const parts: string[] = [];
  for (let i = 0; i < codes.length; i += 4096) parts.push(String.fromCharCode.apply(null, codes.slice(i, i + 4096)));
  return parts.join('');
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

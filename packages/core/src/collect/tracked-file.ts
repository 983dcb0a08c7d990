// One listed metrics file as the merge sees it: its reader, kept across merges, and for
// each entry its prepared key (shared with the other files, see prepared-keys.ts) and its
// family. Parsed entries themselves are not kept: a merge only re-reads values.
import { ARCHIVE_ID, type ParsedFileName } from '../format/names.js';
import { DbFileReader, type WalkedValues } from '../format/reader.js';
import type { KeyCache, PreparedKey } from './prepared-keys.js';

/** One listed file: its reader and its prepared entries, kept across merges. */
export class TrackedFile {
  readonly reader: DbFileReader | null;
  /** Entries prepared. */
  length = 0;
  /**
   * Each entry's prepared key, in file order, as its index in `keyTable()`: the key's slot
   * among the key cache's shared preparations, or for a gauge file the index of the
   * entry's own preparation (its labels carry the file's pid). Numbers, not references:
   * a first scrape fills 560,000 of them at 8 × 10,000, which as arrays of objects grown
   * by push were copied as they grew and scanned by every young-generation collection.
   * Entries [0, length); the rest is room to grow.
   */
  keyIds = new Int32Array(64);
  /** Each entry's family (an index into `familyNames`) for entries [0, length); the rest is room to grow. */
  familyOf = new Int32Array(64);
  /** Metric names in the order this file first mentions them, with the help of that first entry. */
  familyNames: string[] = [];
  familyHelp: string[] = [];
  private familyIndex = new Map<string, number>();
  /** The merge that last listed this file; files not listed by the current merge are dropped. */
  listedIn = 0;
  /** Entries parsed by the current merge. */
  parsedNow = 0;
  /** Changes whenever the entries do, so a merge plan can tell it still fits. */
  generation = 0;
  /** Counts the times entries were dropped: while it stays, the entries only grew (a plan places just the new ones). */
  drops = 0;
  /** A gauge file's pid (added to its entries' labels, as Python does), else null. */
  private readonly pid: string | null;
  /** A gauge file's preparations, one per entry (`keyIds` index them); null for other files. */
  private own: PreparedKey[] | null;

  /** `keepMapping`: the reader keeps its file mapped between reads (DbFileReaderOptions). */
  constructor(readonly name: string, readonly parsedName: ParsedFileName | null, filePath: string, private readonly keys: KeyCache, keepMapping = true) {
    this.pid = parsedName?.type === 'gauge' ? parsedName.id : null;
    this.own = this.pid === null ? null : [];
    // Archives are only ever replaced by the compactor's rename: unchanged, they need no re-read.
    const replacedOnly = parsedName?.id === ARCHIVE_ID;
    const knownKeys = {
      walk: (buf: Buffer, from: number, end: number, base: number, used: number, out: Int32Array, fields: Int32Array, values: WalkedValues) =>
        keys.walkKeys(buf, from, end, base, used, out, fields, values),
      takeKnown: (out: Int32Array, from: number, count: number, first: number) => this.takeKnown(out, from, count, first),
      onNew: (buf: Buffer, start: number, end: number, index: number, hash: number, fields: Int32Array, fieldsAt: number) =>
        this.addPrepared(keys.preparedWalked(buf, start, end, hash, fields, fieldsAt), index),
    };
    // Only gauge files' timestamps count in a merge (mostrecent); Python reads the others' as 0.
    const timestamps = parsedName?.type === 'gauge';
    this.reader = parsedName ? new DbFileReader(filePath, { onKey: (buf, start, end, index) => this.add(buf, start, end, index), knownKeys, replacedOnly, timestamps, keepMapping }) : null;
  }

  /** The prepared keys `keyIds` index: the key cache's shared ones (until its next `retain`), or a gauge file's own. */
  keyTable(): readonly PreparedKey[] {
    return this.own ?? this.keys.bySlot();
  }

  /** Each entry's prepared key, in file order (a new array). */
  preparedKeys(): PreparedKey[] {
    const table = this.keyTable();
    const keys = new Array<PreparedKey>(this.length);
    for (let i = 0; i < this.length; i++) keys[i] = table[this.keyIds[i]];
    return keys;
  }

  /** After a read: drops what the reader dropped (the file was replaced by one with no entries). */
  catchUp(): void {
    if (this.reader!.entryCount === 0 && this.length > 0) this.reset();
  }

  /** Prepares entry `index` of the file (its key: bytes [start, end) of `buf`), as the reader parses it. */
  private add(buf: Buffer, start: number, end: number, index: number): void {
    this.addPrepared(this.keys.preparedAt(buf, start, end), index);
  }

  /** Takes the entries of a walk whose keys are known (the reader's KnownKeyMatcher.takeKnown). */
  private takeKnown(out: Int32Array, from: number, count: number, first: number): number {
    // The reader starts over at entry 0 when the file was replaced.
    if (first + from === 0) this.reset();
    this.reserve(first + count);
    const { keys, keyIds, familyOf } = this;
    // Entries of one metric mostly follow each other: while the slots' metric numbers say
    // the metric is the previous entry's, so is the family, and the key's preparation is
    // not read (in a file whose series come in another order, each would be a cache miss).
    const metrics = keys.metricsBySlot();
    let at = this.length;
    let e = from;
    let family = -1;
    let metric = -1;
    for (; e < count; e++, at++) {
      const slot = out[5 * e + 2];
      if (slot < 0) break;
      const shared = keys.preparedIn(slot);
      keyIds[at] = this.own === null ? slot : this.ownPreparation(shared);
      const known = slot < metrics.length ? metrics[slot] : -1;
      if (known < 0 || known !== metric) {
        family = this.familyFor(shared);
        metric = known;
      }
      familyOf[at] = family;
    }
    this.length = at;
    this.generation++;
    return e;
  }

  /** Entry `index` of the file has the key prepared as `shared`, just looked up in (or added to) the key cache. */
  private addPrepared(shared: PreparedKey, index: number): void {
    // The reader starts over at entry 0 when the file was replaced.
    if (index === 0) this.reset();
    const at = this.length;
    this.reserve(at + 1);
    this.keyIds[at] = this.own === null ? this.keys.lastSlot() : this.ownPreparation(shared);
    // Entries of one metric mostly follow each other: the previous entry's family is the first guess.
    this.familyOf[at] = at > 0 && this.familyNames[this.familyOf[at - 1]] === shared.metricName ? this.familyOf[at - 1] : this.familyFor(shared);
    this.length = at + 1;
    this.generation++;
  }

  /** The index in `own` of a new preparation of `shared` with this gauge file's pid. */
  private ownPreparation(shared: PreparedKey): number {
    const own = this.own!;
    own.push(this.keys.preparedWithPid(shared, this.pid!));
    return own.length - 1;
  }

  /** The family of `shared`'s metric in this file, added if it is the first entry of it. */
  private familyFor(shared: PreparedKey): number {
    let family = this.familyIndex.get(shared.metricName);
    if (family === undefined) {
      family = this.familyNames.length;
      this.familyNames.push(shared.metricName);
      this.familyHelp.push(shared.help);
      this.familyIndex.set(shared.metricName, family);
    }
    return family;
  }

  /** Room for `entries` entries in `keyIds` and `familyOf`: as much as the reader has (it sized its arrays for the file), at least doubled. */
  private reserve(entries: number): void {
    if (entries <= this.keyIds.length) return;
    const size = Math.max(this.keyIds.length * 2, entries, this.reader!.capacity);
    const keyIds = new Int32Array(size);
    keyIds.set(this.keyIds.subarray(0, this.length));
    this.keyIds = keyIds;
    const familyOf = new Int32Array(size);
    familyOf.set(this.familyOf.subarray(0, this.length));
    this.familyOf = familyOf;
  }

  /** After the key cache renumbered its slots (`retainKeys`): each shared key id follows its key. */
  private renumber(renumbered: Int32Array): void {
    if (this.own !== null) return;
    for (let i = 0; i < this.length; i++) this.keyIds[i] = renumbered[this.keyIds[i]];
  }

  reset(): void {
    if (this.length > 0) {
      this.keys.noteDropped();
      this.drops++;
    }
    this.generation++;
    this.length = 0;
    if (this.own !== null) this.own = [];
    this.keyIds = new Int32Array(64);
    this.familyOf = new Int32Array(64);
    this.familyNames = [];
    this.familyHelp = [];
    this.familyIndex.clear();
  }

  /**
   * Before a new plan, after files dropped entries: the key cache keeps only the keys
   * `files` use (every file with entries: a file not read is reset), and their entries'
   * key ids follow the keys' new slots.
   */
  static retainKeys(keys: KeyCache, files: readonly TrackedFile[]): void {
    // The files' key lists are made as `retain` reads them: none when nothing was dropped
    // (every first plan, and whenever files only grew).
    const renumbered = keys.retain((function* () {
      for (const file of files) yield file.preparedKeys();
    })());
    if (renumbered === null) return;
    for (const file of files) file.renumber(renumbered);
  }
}

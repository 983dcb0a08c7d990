// One listed metrics file as the merge sees it: its reader, kept across merges, and for
// each entry its prepared key (shared with the other files, see prepared-keys.ts) and its
// family. Parsed entries themselves are not kept: a merge only re-reads values.
import { ARCHIVE_ID, type ParsedFileName } from '../format/names.js';
import { DbFileReader } from '../format/reader.js';
import type { KeyCache, PreparedKey } from './prepared-keys.js';

/** One listed file: its reader and its prepared entries, kept across merges. */
export class TrackedFile {
  readonly reader: DbFileReader | null;
  /** Each entry's prepared key, in file order. */
  prepared: PreparedKey[] = [];
  /** Each entry's family (an index into `familyNames`) for entries [0, prepared.length); the rest is room to grow. */
  familyOf = new Int32Array(64);
  /** Metric names in the order this file first mentions them, with the help of that first entry. */
  familyNames: string[] = [];
  familyHelp: string[] = [];
  private familyIndex = new Map<string, number>();
  /** The merge that last listed this file; files not listed by the current merge are dropped. */
  listedIn = 0;
  /** Entries parsed by the current merge. */
  parsedNow = 0;
  /** Changes whenever `prepared` does, so a merge plan can tell it still fits. */
  generation = 0;
  /** Counts the times entries were dropped: while it stays, `prepared` only grew (a plan places just the new ones). */
  drops = 0;

  constructor(readonly name: string, readonly parsedName: ParsedFileName | null, filePath: string, private readonly keys: KeyCache) {
    // Archives are only ever replaced by the compactor's rename: unchanged, they need no re-read.
    const replacedOnly = parsedName?.id === ARCHIVE_ID;
    const knownKeys = {
      walk: (buf: Buffer, from: number, end: number, base: number, used: number, out: Int32Array, fields: Int32Array) => keys.walkKeys(buf, from, end, base, used, out, fields),
      onKnown: (slot: number, index: number) => this.addPrepared(keys.preparedIn(slot), index),
      onNew: (buf: Buffer, start: number, end: number, index: number, hash: number, fields: Int32Array, fieldsAt: number) =>
        this.addPrepared(keys.preparedWalked(buf, start, end, hash, fields, fieldsAt), index),
    };
    // Only gauge files' timestamps count in a merge (mostrecent); Python reads the others' as 0.
    const timestamps = parsedName?.type === 'gauge';
    this.reader = parsedName ? new DbFileReader(filePath, { onKey: (buf, start, end, index) => this.add(buf, start, end, index), knownKeys, replacedOnly, timestamps }) : null;
  }

  /** After a read: drops what the reader dropped (the file was replaced by one with no entries). */
  catchUp(): void {
    if (this.reader!.entryCount === 0 && this.prepared.length > 0) this.reset();
  }

  /** Prepares entry `index` of the file (its key: bytes [start, end) of `buf`), as the reader parses it. */
  private add(buf: Buffer, start: number, end: number, index: number): void {
    this.addPrepared(this.keys.preparedAt(buf, start, end), index);
  }

  /** Entry `index` of the file has the key prepared as `shared`. */
  private addPrepared(shared: PreparedKey, index: number): void {
    // The reader starts over at entry 0 when the file was replaced.
    if (index === 0) this.reset();
    const pid = this.parsedName!.type === 'gauge' ? this.parsedName!.id : null;
    this.prepared.push(pid === null ? shared : this.keys.preparedWithPid(shared, pid));
    // Entries of one metric mostly follow each other: the previous entry's family is the first guess.
    const at = this.prepared.length - 1;
    const last = at - 1;
    let family = last >= 0 && this.familyNames[this.familyOf[last]] === shared.metricName ? this.familyOf[last] : this.familyIndex.get(shared.metricName);
    if (family === undefined) {
      family = this.familyNames.length;
      this.familyNames.push(shared.metricName);
      this.familyHelp.push(shared.help);
      this.familyIndex.set(shared.metricName, family);
    }
    if (at === this.familyOf.length) {
      const grown = new Int32Array(at * 2);
      grown.set(this.familyOf);
      this.familyOf = grown;
    }
    this.familyOf[at] = family;
    this.generation++;
  }

  reset(): void {
    if (this.prepared.length > 0) {
      this.keys.noteDropped();
      this.drops++;
    }
    this.generation++;
    this.prepared = [];
    this.familyOf = new Int32Array(64);
    this.familyNames = [];
    this.familyHelp = [];
    this.familyIndex.clear();
  }
}

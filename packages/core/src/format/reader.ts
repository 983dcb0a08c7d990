// Reads a metrics file again and again. Every read `pread()`s the bytes not parsed yet
// (all the used bytes the first time, [parsedTo, used) later) a bounded window at a time
// into a reused buffer (as GitLab's reader does) and parses the entries in them, taking
// the values too the first time; later reads copy each entry's value and timestamp
// (16 bytes) out of a read-only mapping of the file kept by our addon (native/mmap.c), in
// C, under a SIGBUS guard: a file truncated under the mapping is reported, never read as a
// wrong value nor a crash. Where the addon does not
// load (or PROM_MULTIPROC_STORAGE=fallback), every read reads the whole used size.
import fs from 'node:fs';
import os from 'node:os';
import { decodeKey } from './key.js';
import { asCorruptKey, CorruptFileError, HEADER_BYTES, keyText, paddingFor, readUsed, scanEntries, scanEntryBytes, scanEntryWindow, type ParsedEntry } from './entries.js';
import { looksLikePre018File, PRE_018_HINT } from './legacy.js';
import { COPY_OK, COPY_FAULT, readerAddon, type MmapAddon, type ReadMapping } from './mmap.js';
import { isOpenProblem, openRegularForRead } from './safe-files.js';

type ValueMapper = Required<Pick<MmapAddon, 'mapRead' | 'unmapRead' | 'copyValues'>>;
let mapper: ValueMapper | null | undefined;

/** The addon's read-only side, or null: then files are read() whole (a binary too old, none, or the fallback forced). */
function valueMapper(): ValueMapper | null {
  if (mapper === undefined) {
    const addon = readerAddon();
    mapper = addon?.mapRead && addon.unmapRead && addon.copyValues ? (addon as ValueMapper) : null;
  }
  return mapper;
}

/**
 * Loads the addon's read-only side now (a merger does when it is made), so that a new
 * collector's first scrape does not also load the binary: ~2 ms that a scraper would wait.
 */
export function loadValueMapper(): void {
  valueMapper();
}

/** Values are float64s at 8-aligned offsets, so a Float64Array over the buffer reads them without DataView calls. */
const NATIVE_LITTLE_ENDIAN = os.endianness() === 'LE';

/**
 * The most used bytes a file may have (its `used` header) for us to read it: 256 MiB.
 * A process's file holds about 2 million series of 100-byte keys at that size, more than
 * one Prometheus target can usefully expose; beyond it a file is skipped as `too-large`
 * without reading it. This bounds what any one file (a 2 GiB sparse file with a forged
 * header, say) can cost a scrape. The file itself may be larger: the tail past `used`
 * is never read.
 */
export const MAX_USED_BYTES = 256 * 1024 * 1024;

/**
 * The read buffer grows up to this and stays: larger reads get a buffer of their own
 * that is dropped after the read, so one large or hostile file does not pin its size in
 * the collector for good.
 */
export const KEPT_READ_BUFFER_BYTES = 16 * 1024 * 1024;

/**
 * Where values come out of the mapping, keys are parsed from windows of this many bytes
 * (a larger one for an entry that does not fit): the read buffer stays this size instead
 * of growing to the largest file's used size.
 */
export const PARSE_WINDOW_BYTES = 1024 * 1024;

/** How much of an entry's bytes before its value the known-entry check compares (all of any usual key). */
const KNOWN_HEAD_BYTES = 4096;

/**
 * A growable buffer shared by every read of one collector, so a scrape allocates nothing
 * per file. It starts on its own 8-aligned ArrayBuffer (never a slice of Node's pool), so
 * `f64[offset / 8]` is the float64 at any 8-aligned byte offset.
 */
export class ReadBuffer {
  buf: Buffer;
  f64: Float64Array;
  private keptBuf: Buffer;
  private keptF64: Float64Array;

  constructor(initialBytes = 64 * 1024) {
    const memory = new ArrayBuffer(initialBytes);
    this.buf = this.keptBuf = Buffer.from(memory);
    this.f64 = this.keptF64 = new Float64Array(memory);
  }

  /** Where the copy of a file's timestamps goes when its reader does not keep them (see `timestampSink`). */
  private sink = new Float64Array(0);

  /**
   * A Float64Array of at least `count` elements whose contents nobody reads: the addon's
   * copy writes each entry's timestamp with its value, and a reader that keeps no
   * timestamps has it write them here, one array for all its files instead of one per file.
   */
  timestampSink(count: number): Float64Array {
    if (this.sink.length < count) this.sink = new Float64Array(Math.max(count, this.sink.length * 2));
    return this.sink;
  }

  /** Bytes this buffer keeps between reads (a one-off large buffer not counted). */
  get keptBytes(): number {
    return this.keptBuf.length;
  }

  ensure(bytes: number): Buffer {
    if (bytes <= this.keptBuf.length) {
      this.buf = this.keptBuf; // drops a one-off buffer of an earlier large read
      this.f64 = this.keptF64;
      return this.buf;
    }
    if (bytes <= this.buf.length) return this.buf; // the current one-off buffer is big enough
    let size = this.keptBuf.length;
    while (size < bytes) size *= 2;
    const memory = new ArrayBuffer(size);
    this.buf = Buffer.from(memory);
    this.f64 = new Float64Array(memory);
    if (size <= KEPT_READ_BUFFER_BYTES) {
      this.keptBuf = this.buf;
      this.keptF64 = this.f64;
    }
    return this.buf;
  }
}

export type ReadOutcome =
  /** `stale`: a `replacedOnly` file was replaced by a corrupt one; the values are its last good ones (reason says why). */
  | { ok: true; newEntries: number; stale?: string }
  | { ok: false; problem: ReadProblem; reason: string };

/**
 * Why a file was not read: gone (`missing`), bad bytes (`corrupt`), no permission or an
 * I/O error (`unreadable`), a FIFO, device, socket or directory (`not-regular-file`),
 * more used bytes than MAX_USED_BYTES (`too-large`).
 */
export type ReadProblem = 'missing' | 'corrupt' | 'unreadable' | 'not-regular-file' | 'too-large';

export interface DbFileReaderOptions {
  /**
   * Takes each new entry's key as it is parsed, as bytes [start, end) of `buf` (valid
   * only during the call): `index` is the entry's position in the file (0 again after the
   * file was replaced). It must throw a KeyFormatError for a key that is malformed or not
   * UTF-8, which makes the file corrupt. With it, the reader neither decodes keys nor
   * keeps `entries`: a collector prepares each distinct key once for all its files, and
   * makes no string for a key it has seen.
   */
  onKey?: OnKeyBytes;
  /**
   * With `onKey`: finds the keys of a read window in one call where it can (the addon),
   * instead of one `onKey` call per entry. Entries it finds are given to `takeKnown`, the
   * others to `onNew`, in file order as always.
   */
  knownKeys?: KnownKeyMatcher;
  /**
   * Whether to keep each entry's timestamp (default true). Only gauge files' timestamps
   * mean anything to a merge (Python ignores the timestamps of other files: they are
   * read as 0). Without, `timestamps` is all zeros (a view of one shared, never written
   * array) and a read stores no timestamp: 8 bytes less per entry for as long as the
   * reader lives.
   */
  timestamps?: boolean;
  /**
   * The file is never written in place, only replaced by a rename (archives): while its
   * inode, size and mtime stay the same, `read()` reuses the values it has.
   */
  replacedOnly?: boolean;
  /**
   * Whether the read-only mapping a read copies values out of stays for the next read
   * (default true). Kept, a steady read maps nothing, but every page of the file counts in
   * this process's RSS for as long as the reader lives; released, each read maps the file
   * again, and pays a page fault per page (or per group of pages) it copies from.
   */
  keepMapping?: boolean;
}

export type OnKeyBytes = (buf: Buffer, start: number, end: number, index: number) => void;

export interface KnownKeyMatcher {
  /**
   * Walks the entries at `buf[from..end)` (file bytes from `base`) and finds their keys
   * among the known ones: per entry `out[5i..5i+4]` = key start in `buf`, key length, the
   * known key's slot or -1, a new key's hash, and where `fields` holds a new plain key's
   * fields or -1 (ByteKeyTable.walk). Returns how many entries it walked (from `from` on,
   * each whole in the window and well formed, at most `out.length / 5`; it may stop
   * early), or -1 when it cannot.
   */
  walk(buf: Buffer, from: number, end: number, base: number, used: number, out: Int32Array, fields: Int32Array, values: WalkedValues): number;
  /**
   * Takes entries `from`, `from + 1`, ... of the walk's `out` (entry `e` of `out` is the
   * file's entry `first + e`) while their keys are known (a slot, not -1), in order, and
   * returns the first one it did not take: one with a new key (for `onNew`), or `count`.
   * One call per run of known keys, not one per entry: a new worker's file is ~all known.
   */
  takeKnown(out: Int32Array, from: number, count: number, first: number): number;
  /**
   * Entry `index` has a key not known when the window was walked, bytes [start, end) of
   * `buf`, with its hash and fields as `walk` gave them. Throws as `onKey` does.
   */
  onNew(buf: Buffer, start: number, end: number, index: number, hash: number, fields: Int32Array, fieldsAt: number): void;
}

/**
 * Where a walk records, besides `out`, each walked entry's value offset / 8
 * (`valueIndex[first + i]`) and, on a first read, its value and timestamp taken from the
 * window (`values`, `timestamps`: undefined when not wanted). It walks no more entries
 * than each has room for from `first` on.
 */
export interface WalkedValues {
  valueIndex: Int32Array;
  first: number;
  values: Float64Array | undefined;
  timestamps: Float64Array | undefined;
}

/** The smallest entry: a 4-byte length, an empty key, 4 bytes of padding, value and timestamp. */
const MIN_ENTRY_BYTES = 24;

/** Entries per walker call: `out` is 5 int32s an entry, reused by every reader. */
const MATCHED_ENTRIES = 4096;
const OUT_PER_ENTRY = 5;
let matched = new Int32Array(0);
/** The fields of a call's new plain keys (~20 int32s a key with three labels; the addon stops when it is full). */
let matchedFields = new Int32Array(0);
/** The WalkedValues of the current walk call, reused. */
const walked: WalkedValues = { valueIndex: new Int32Array(0), first: 0, values: undefined, timestamps: undefined };

/** The entries of one file and their latest values, re-read on every `read()`. */
export class DbFileReader {
  /** Every parsed entry, in file order (none with the `onKey` option). */
  readonly entries: ParsedEntry[] = [];
  /** Entries parsed so far; `values` and `timestamps` have this length. */
  entryCount = 0;
  /**
   * Values and timestamps of the entries, in file order, as of the last successful read
   * (timestamps all 0 for a reader made with `timestamps: false`).
   */
  values = new Float64Array(0);
  timestamps = new Float64Array(0);
  /** Bytes the last read took from the file: read() or copied out of the mapping. */
  bytesRead = 0;
  /** Each entry's value offset divided by 8: its index in a Float64Array over the file image. */
  private valueIndex = new Int32Array(64);
  private parsedTo = HEADER_BYTES;
  /**
   * The inode parsed, NaN for none (never a file's): a double from the start, as inodes
   * are, so the reader's shape never changes under code optimized for it (a new file's
   * first read would fall back to unoptimized code).
   */
  private inode = NaN;
  private readonly onKey: OnKeyBytes | undefined;
  private readonly knownKeys: KnownKeyMatcher | undefined;
  private readonly replacedOnly: boolean;
  private readonly keepsTimestamps: boolean;
  private readonly keepsMapping: boolean;
  /**
   * The first and the last known entry (length, key and padding: the bytes before its
   * value) and where they start: checked on every read, so a file rewritten in place with
   * another layout is parsed again instead of read at offsets that now hold other series.
   */
  private knownHeads: Array<{ at: number; bytes: Buffer }> = [];
  private headCheck = Buffer.alloc(0);
  private lastEntryAt = 0;
  private lastValueAt = 0;
  private firstValueAt = 0;
  /** inode, size and mtime of the last successful read, for `replacedOnly` files. */
  private readSignature = '';
  /** The outcome of the last read if it failed on the file's bytes, and the file it failed on. */
  private failure: ReadOutcome | undefined;
  private failedSignature = '';
  /** Why the values are those of an earlier image (a `replacedOnly` file replaced by a bad one). */
  private staleReason: string | undefined;
  /** The read-only mapping values are copied from after the first read, its file's inode and its length. */
  private mapping: ReadMapping | undefined;
  private mappedInode = NaN;
  private mappedLength = 0;
  /** Why this file cannot be mapped (a file system without shared mappings, say): it is read() whole instead. */
  private unmappable: string | undefined;

  constructor(readonly path: string, options: DbFileReaderOptions = {}) {
    this.onKey = options.onKey;
    this.knownKeys = options.onKey ? options.knownKeys : undefined;
    this.replacedOnly = options.replacedOnly ?? false;
    this.keepsTimestamps = options.timestamps ?? true;
    this.keepsMapping = options.keepMapping ?? true;
  }

  read(scratch: ReadBuffer): ReadOutcome {
    const opened = openRegularForRead(this.path);
    if (isOpenProblem(opened)) {
      this.close(); // gone or not a file any more: its mapping must not keep the old inode
      return { ok: false, problem: opened.problem, reason: opened.reason };
    }
    const { fd, stat } = opened;
    try {
      return this.readOpen(fd, stat, scratch);
    } catch (err) {
      this.close();
      if (err instanceof CorruptFileError) {
        this.forget();
        this.inode = NaN;
        // Not read again until it changes: a bad file costs one read, not one per scrape.
        this.failedSignature = signatureOf(stat);
        const tooLarge = err instanceof TooLargeError;
        const legacy = !tooLarge && looksLikePre018File(this.path);
        this.failure = { ok: false, problem: tooLarge ? 'too-large' : 'corrupt', reason: legacy ? `${err.reason}; ${PRE_018_HINT}` : err.reason };
        return this.failure;
      }
      const code = (err as NodeJS.ErrnoException).code;
      return { ok: false, problem: 'unreadable', reason: `read failed (${code ?? String(err)})` };
    } finally {
      fs.closeSync(fd);
    }
  }

  private readOpen(fd: number, stat: fs.Stats, scratch: ReadBuffer): ReadOutcome {
    const signature = signatureOf(stat);
    if (this.failure && signature === this.failedSignature) {
      this.bytesRead = 0;
      return this.failure;
    }
    this.failure = undefined;
    if (this.replacedOnly && signature === this.readSignature) {
      this.bytesRead = 0;
      return this.staleReason === undefined ? { ok: true, newEntries: 0 } : { ok: true, newEntries: 0, stale: this.staleReason };
    }
    this.staleReason = undefined;
    // An archive is replaced whole by the compactor. If its new image is bad, keep
    // serving the values of the last good one: folded history must not vanish (counters
    // never go backwards). The next good image replaces them.
    const hadGoodImage = this.replacedOnly && this.readSignature !== '' && this.entryCount > 0;
    this.readSignature = '';
    let used: number;
    let buf: Buffer | undefined;
    let from: number;
    let windowed: boolean;
    try {
      ({ used, buf, from, windowed } = this.readImage(fd, stat, scratch, hadGoodImage));
      if (hadGoodImage) checkImage(buf, used);
    } catch (err) {
      if (!hadGoodImage || !(err instanceof CorruptFileError)) throw err;
      this.readSignature = signature;
      this.staleReason = err.reason;
      this.close();
      this.inode = NaN; // whatever comes next is parsed from its first entry
      this.bytesRead = 0;
      return { ok: true, newEntries: 0, stale: err.reason };
    }
    // A different inode, or a file that shrank, is a new file under the same name; so is
    // one whose known entries are no longer where they were (rewritten in place).
    if (stat.ino === this.inode && this.entryCount > 0 && this.knownEntriesMoved(fd)) this.forget();
    if (stat.ino !== this.inode) {
      this.forget();
      this.inode = stat.ino;
    }
    if (this.mappedInode !== stat.ino) this.close(); // the replaced file's pages go now
    if (used < this.parsedTo) this.forget();
    const before = this.entryCount;
    if (windowed && this.parsedTo < used) this.parsedTo = this.parseWindows(fd, used, scratch, from === 0);
    else if (buf && this.parsedTo < used) this.parsedTo = this.parseEntries(buf, used);
    if (this.values.length !== this.entryCount) this.values = new Float64Array(this.entryCount);
    if (this.timestamps.length !== this.entryCount) this.timestamps = this.keepsTimestamps ? new Float64Array(this.entryCount) : zeroTimestamps(this.entryCount);
    if (used > 0) {
      // The whole image was just read: its values are in the buffer. Otherwise only what
      // was added since is: the values come out of the mapping.
      if (from === 0) {
        if (!windowed) this.readValues(scratch); // else they were taken from the windows
      } else if (!this.copyMappedValues(fd, stat, used, scratch)) this.readValues(this.readWhole(fd, used, scratch));
      // Cut short while it was read: the rest of the page where it was cut reads as zeros
      // (through a mapping, or a read() that saw the old size), which only its size now tells.
      if (fs.fstatSync(fd).size < used) throw new CorruptFileError(`file was truncated below its used size (${used} bytes) while it was read`);
    }
    this.readSignature = signature;
    return { ok: true, newEntries: this.entryCount - before };
  }

  /**
   * Reads the header and the bytes the parse needs into the scratch buffer, at their file
   * offsets: all used bytes (`from` 0) the first time, after a replacement, for an image
   * that must be checked whole, and where no mapping can be had; else only the bytes added
   * since the last parse (`from` = where it stopped; nothing for a file that did not grow).
   */
  private readImage(fd: number, stat: fs.Stats, scratch: ReadBuffer, wholeImage: boolean): { used: number; buf: Buffer | undefined; from: number; windowed: boolean } {
    const header = scratch.ensure(HEADER_BYTES);
    const headerBytes = readRange(fd, header, 0, Math.min(stat.size, HEADER_BYTES));
    this.bytesRead = headerBytes;
    const used = readUsed(header, stat.size);
    if (used > MAX_USED_BYTES) throw new TooLargeError(`its header says ${used} bytes are used, more than the ${MAX_USED_BYTES} a file may have`);
    if (used === 0) return { used, buf: undefined, from: 0, windowed: false };
    const mappable = valueMapper() !== null && this.unmappable === undefined;
    const sameFile = stat.ino === this.inode && used >= this.parsedTo && !wholeImage;
    const from = sameFile && this.parsedTo > HEADER_BYTES && mappable ? this.parsedTo : 0;
    // Values will come out of the mapping: the keys are read and parsed a window at a time (parseWindows).
    if (mappable && !wholeImage) return { used, buf: undefined, from, windowed: true };
    if (from === used) return { used, buf: undefined, from, windowed: false }; // nothing new to parse
    const buf = scratch.ensure(used);
    if (from === 0) {
      // The header was read a moment ago: not again.
      if (buf !== header) header.copy(buf, 0, 0, headerBytes);
      const got = headerBytes + readRange(fd, buf, headerBytes, used);
      this.bytesRead = got;
      if (got < used) throw new CorruptFileError(`file ended after ${got} of ${used} used bytes`);
    } else {
      const got = readRange(fd, buf, from, used);
      this.bytesRead += got;
      if (from + got < used) throw new CorruptFileError(`file ended after ${from + got} of ${used} used bytes`);
    }
    return { used, buf, from, windowed: false };
  }

  /**
   * Parses the entries in [parsedTo, used) from windows of PARSE_WINDOW_BYTES read in
   * turn into the scratch buffer; returns where parsing stopped. An entry cut by a
   * window's end is read again at the start of the next; one larger than a window gets a
   * window that holds it. With `takeValues` (a first read: no mapping is made for it, so a
   * one-off read maps nothing) the values and timestamps are taken from the windows too;
   * otherwise they come out of the mapping afterwards.
   */
  private parseWindows(fd: number, used: number, scratch: ReadBuffer, takeValues: boolean): number {
    const onKey = this.onKey;
    let pos = this.parsedTo;
    let window = PARSE_WINDOW_BYTES;
    // Whether to ask the addon's walk (while it can).
    let matching = this.knownKeys !== undefined;
    while (pos < used) {
      const length = Math.min(used - pos, window);
      const buf = scratch.ensure(length);
      const f64 = scratch.f64; // over `buf`; `pos` is an entry's start, so 8-aligned like the values
      const got = readAt(fd, buf, length, pos);
      this.bytesRead += got;
      if (got < length) throw new CorruptFileError(`file ended after ${pos + got} of ${used} used bytes`);
      const base = pos;
      const countBefore = this.entryCount;
      const from = matching ? this.matchWindow(buf, takeValues ? f64 : null, base, length, used) : base;
      if (from < 0) matching = false;
      const next = scanEntryWindow(buf, base, length, used, (keyStart, keyLength, offset, valueOffset) => {
        if (onKey) onKey(buf, keyStart, keyStart + keyLength, this.entryCount);
        else {
          const key = keyText(buf, keyStart, keyStart + keyLength);
          if (key === null) throw new CorruptFileError(`key at offset ${offset} is not valid UTF-8`);
          this.entries.push({ ...decodeKey(key), key, offset, keyLength, pad: paddingFor(keyLength), valueOffset });
        }
        if (takeValues) this.takeValue(buf, f64, valueOffset - base);
        this.addValueOffset(offset, valueOffset);
      }, from < 0 ? -from : from);
      this.keepKnownHeads(buf, base, countBefore);
      window = next === pos ? window * 2 : PARSE_WINDOW_BYTES;
      pos = next;
    }
    if (takeValues && this.values.length !== this.entryCount) {
      // Room to spare of a few % (the likely size was about right) is kept rather than copied.
      const trim = (a: Float64Array<ArrayBuffer>) => (a.length - this.entryCount <= a.length / 32 ? a.subarray(0, this.entryCount) : a.slice(0, this.entryCount));
      this.values = trim(this.values);
      if (this.keepsTimestamps) this.timestamps = trim(this.timestamps);
    }
    return pos;
  }

  /**
   * The addon's walk over a window (file bytes [base, base + length) in `buf`; `f64` over
   * it when the values are taken from it too): takes the entries it walks, known keys
   * through `takeKnown`, new ones through `onNew`. Returns the file offset where the
   * JavaScript walk goes on (the window's end, an entry cut by it, one the addon left
   * because it is not well formed: the walk names the problem), negated when the addon
   * cannot walk (none, or the fallback storage).
   */
  private matchWindow(buf: Buffer, f64: Float64Array | null, base: number, length: number, used: number): number {
    const knownKeys = this.knownKeys!;
    if (matched.length === 0) {
      matched = new Int32Array(OUT_PER_ENTRY * MATCHED_ENTRIES);
      matchedFields = new Int32Array(24 * MATCHED_ENTRIES);
    }
    const out = matched;
    const fields = matchedFields;
    let pos = base;
    for (;;) {
      // The walk records the entries' value offsets (and values, on a first read) itself:
      // room for as many as the rest of the window likely holds at the density of the
      // entries so far (a few for a file's first call), so a small file's arrays stay small.
      const first = this.entryCount;
      const rest = base + length - pos;
      const likely = first === 0 ? 256 : Math.ceil(((first * rest) / (pos - HEADER_BYTES)) * 1.1) + 16;
      const room = Math.min(MATCHED_ENTRIES, Math.floor(rest / MIN_ENTRY_BYTES), likely);
      if (room === 0) return pos;
      this.reserve(first + room, f64 !== null, pos, used);
      walked.valueIndex = this.valueIndex;
      walked.first = first;
      walked.values = f64 !== null ? this.values : undefined;
      walked.timestamps = f64 !== null && this.keepsTimestamps ? this.timestamps : undefined;
      const count = knownKeys.walk(buf, pos - base, length, base, used, out, fields, walked);
      if (count < 0) return -pos;
      if (count === 0) return pos;
      const valueIndex = this.valueIndex;
      if (first === 0) this.firstValueAt = valueIndex[0] * 8;
      this.lastEntryAt = base + out[OUT_PER_ENTRY * (count - 1)] - 4;
      this.lastValueAt = valueIndex[first + count - 1] * 8;
      this.entryCount = first + count;
      // Then their keys, in file order: runs of known ones in one call each.
      for (let e = 0; e < count; ) {
        const o = OUT_PER_ENTRY * e;
        if (out[o + 2] >= 0) {
          e = knownKeys.takeKnown(out, e, count, first);
          continue;
        }
        const keyStart = out[o];
        try {
          knownKeys.onNew(buf, keyStart, keyStart + out[o + 1], first + e, out[o + 3], fields, out[o + 4]);
        } catch (err) {
          throw asCorruptKey(err, base + keyStart - 4);
        }
        e++;
      }
      pos = this.lastValueAt + 16;
    }
  }

  /**
   * Room for `entries` entries' value offsets (and values and timestamps, with `values`),
   * the entries so far ending at file offset `parsedEnd`. Grown to what the file's `used`
   * bytes likely hold at the density of the entries so far (a file's entries are much
   * alike: the arrays of a 65,000-entry file are allocated about twice, not 11 times by
   * doubling), or by doubling when that is more. At most 16 times the entries so far: a
   * forged `used` (or one of a file whose first entries are unlike the rest) sizes
   * nothing for bytes no entry has been seen in.
   */
  private reserve(entries: number, values: boolean, parsedEnd: number, used: number): void {
    if (entries <= this.valueIndex.length && (!values || entries <= this.values.length)) return;
    const seen = this.entryCount;
    const likely = seen === 0 ? 0 : Math.min(16 * seen, Math.ceil(((seen * (used - HEADER_BYTES)) / (parsedEnd - HEADER_BYTES)) * (1 + 1 / 64)));
    if (entries > this.valueIndex.length) this.growValueIndex(Math.max(this.valueIndex.length * 2, entries, likely));
    if (values && entries > this.values.length) this.growValues(Math.max(64, this.values.length * 2, entries, likely));
  }

  /** `valueIndex` made `size` long, its entries kept. */
  private growValueIndex(size: number): void {
    const grown = new Int32Array(size);
    grown.set(this.valueIndex.subarray(0, this.entryCount));
    this.valueIndex = grown;
  }

  /** `values` (and `timestamps`, if kept) made `size` long, their entries kept. */
  private growValues(size: number): void {
    const values = new Float64Array(size);
    values.set(this.values.subarray(0, this.entryCount));
    this.values = values;
    if (this.keepsTimestamps) {
      const timestamps = new Float64Array(size);
      timestamps.set(this.timestamps.subarray(0, this.entryCount));
      this.timestamps = timestamps;
    }
  }

  /** Entries the reader has room for without growing its arrays (a file's own per-entry arrays may follow it). */
  get capacity(): number {
    return this.valueIndex.length;
  }

  /** Stores the value (and timestamp, if kept) at byte `at` of a window as entry `entryCount`'s, growing the arrays by doubling. */
  private takeValue(buf: Buffer, f64: Float64Array, at: number): void {
    const i = this.entryCount;
    const keepsTimestamps = this.keepsTimestamps;
    if (i >= this.values.length) this.growValues(Math.max(64, this.values.length * 2));
    if (NATIVE_LITTLE_ENDIAN) {
      this.values[i] = f64[at / 8];
      if (keepsTimestamps) this.timestamps[i] = f64[at / 8 + 1];
    } else {
      this.values[i] = buf.readDoubleLE(at);
      if (keepsTimestamps) this.timestamps[i] = buf.readDoubleLE(at + 8);
    }
  }

  /**
   * Copies every entry's value and timestamp out of the file's read-only mapping, mapped
   * (again) when the reader has none (or does not keep it), the file was replaced or it
   * grew past the mapping.
   * False when the file cannot be mapped: the caller reads it whole.
   */
  private copyMappedValues(fd: number, stat: fs.Stats, used: number, scratch: ReadBuffer): boolean {
    const addon = valueMapper()!;
    if (this.mapping && (this.mappedInode !== stat.ino || this.mappedLength < used)) this.close();
    if (!this.mapping) {
      // Never more than MAX_USED_BYTES, however large (sparse) the file is; `used` is under both.
      const length = Math.min(stat.size, MAX_USED_BYTES);
      try {
        this.mapping = addon.mapRead(fd, length);
      } catch (err) {
        this.unmappable = (err as NodeJS.ErrnoException).code ?? String(err);
        return false;
      }
      this.mappedInode = stat.ino;
      this.mappedLength = length;
    }
    const timestamps = this.keepsTimestamps ? this.timestamps : scratch.timestampSink(this.entryCount);
    const result = addon.copyValues(this.mapping, used, this.valueIndex, this.entryCount, this.values, timestamps);
    // A file cut short since its size was checked: a copy from a page past its new end
    // faults (caught in C). The caller drops the values and the mapping; the next read starts over.
    if (result === COPY_FAULT) throw new CorruptFileError(`file was truncated below its used size (${used} bytes) while its values were copied`);
    if (result !== COPY_OK) throw new CorruptFileError(`an entry's value lies past the mapped ${used} used bytes`);
    this.bytesRead += this.entryCount * 16;
    if (!this.keepsMapping) this.close();
    return true;
  }

  /** Reads the used bytes whole into the scratch buffer (for a file that could not be mapped). */
  private readWhole(fd: number, used: number, scratch: ReadBuffer): ReadBuffer {
    const got = readRange(fd, scratch.ensure(used), 0, used);
    this.bytesRead += got;
    if (got < used) throw new CorruptFileError(`file ended after ${got} of ${used} used bytes`);
    return scratch;
  }

  /** Unmaps the file now (not when a GC pass finds the handle); a later read maps it again. */
  close(): void {
    if (this.mapping === undefined) return;
    valueMapper()!.unmapRead(this.mapping);
    this.mapping = undefined;
    this.mappedInode = NaN;
    this.mappedLength = 0;
  }

  /** Parses the entries in [parsedTo, used) of `buf`; returns where parsing stopped. */
  private parseEntries(buf: Buffer, used: number): number {
    const onKey = this.onKey;
    const countBefore = this.entryCount;
    const parsedTo = onKey
      ? scanEntryBytes(buf, used, this.parsedTo, (keyStart, keyLength, offset, valueOffset) => {
        onKey(buf, keyStart, keyStart + keyLength, this.entryCount);
        this.addValueOffset(offset, valueOffset);
      })
      : scanEntries(buf, used, this.parsedTo, (key, offset, keyLength, valueOffset) => {
        this.entries.push({ ...decodeKey(key), key, offset, keyLength, pad: paddingFor(keyLength), valueOffset });
        this.addValueOffset(offset, valueOffset);
      });
    this.keepKnownHeads(buf, 0, countBefore);
    return parsedTo;
  }

  /** Records entry `entryCount`: where its value is (and, for the known-entry check, where it starts). */
  private addValueOffset(offset: number, valueOffset: number): void {
    if (this.entryCount === 0) this.firstValueAt = valueOffset;
    this.lastEntryAt = offset;
    this.lastValueAt = valueOffset;
    if (this.entryCount === this.valueIndex.length) this.growValueIndex(this.valueIndex.length * 2);
    this.valueIndex[this.entryCount++] = valueOffset / 8;
  }

  /** Copies every entry's value (and timestamp, if kept) out of the file image just read. */
  private readValues(scratch: ReadBuffer): void {
    const { values, timestamps, valueIndex } = this;
    const n = this.entryCount;
    const keepsTimestamps = this.keepsTimestamps;
    if (NATIVE_LITTLE_ENDIAN) {
      const f64 = scratch.f64;
      for (let i = 0; i < n; i++) {
        const at = valueIndex[i];
        values[i] = f64[at];
        if (keepsTimestamps) timestamps[i] = f64[at + 1];
      }
    } else {
      const buf = scratch.buf;
      for (let i = 0; i < n; i++) {
        const at = valueIndex[i] * 8;
        values[i] = buf.readDoubleLE(at);
        if (keepsTimestamps) timestamps[i] = buf.readDoubleLE(at + 8);
      }
    }
  }

  /** Drops what was parsed, so the next parse starts at the first entry. */
  private forget(): void {
    this.entries.length = 0;
    this.entryCount = 0;
    // With their values: a failed read leaves none (whatever room a read had made for them), and a read sizes them anew.
    this.values = new Float64Array(0);
    this.timestamps = new Float64Array(0);
    this.parsedTo = HEADER_BYTES;
    this.knownHeads = [];
  }

  /**
   * Keeps the bytes before the value of the first and of the last entry parsed (at most
   * KNOWN_HEAD_BYTES of each), from the buffer they were just parsed from (file offset
   * `base` at its start): entries from `countBefore` on were parsed from it.
   */
  private keepKnownHeads(buf: Buffer, base: number, countBefore: number): void {
    if (this.entryCount === countBefore) return;
    const head = (at: number, end: number) => ({ at, bytes: Buffer.from(buf.subarray(at - base, Math.min(end, at + KNOWN_HEAD_BYTES) - base)) });
    if (countBefore === 0) this.knownHeads = [head(HEADER_BYTES, this.firstValueAt)];
    this.knownHeads[1] = head(this.lastEntryAt, this.lastValueAt);
  }

  /** Whether the first or the last known entry is not what was parsed there (the file was rewritten in place). */
  private knownEntriesMoved(fd: number): boolean {
    for (const { at, bytes } of this.knownHeads) {
      if (this.headCheck.length < bytes.length) this.headCheck = Buffer.allocUnsafe(Math.max(bytes.length, 256));
      const got = readAt(fd, this.headCheck, bytes.length, at);
      this.bytesRead += got;
      if (got !== bytes.length || this.headCheck.compare(bytes, 0, bytes.length, 0, bytes.length) !== 0) return true;
    }
    return false;
  }
}

/** Zeros shared by every reader that keeps no timestamps; never written (so its pages cost no memory until read). */
let sharedZeros: Float64Array<ArrayBuffer> = new Float64Array(0);

/** `count` zero timestamps: a view of the shared zeros, grown when a larger file needs more. */
function zeroTimestamps(count: number): Float64Array<ArrayBuffer> {
  if (sharedZeros.length < count) sharedZeros = new Float64Array(Math.max(count, sharedZeros.length * 2));
  return sharedZeros.subarray(0, count);
}

/** Thrown for a file beyond MAX_USED_BYTES (reported as `too-large`, not `corrupt`). */
class TooLargeError extends CorruptFileError {}

function signatureOf(stat: fs.Stats): string {
  return `${stat.ino}:${stat.size}:${stat.mtimeMs}:${stat.ctimeMs}`;
}

/** Throws a CorruptFileError unless the image is well formed, every length and key checked. */
function checkImage(buf: Buffer | undefined, used: number): void {
  if (!buf || used === 0) throw new CorruptFileError('it has no entries');
  scanEntries(buf, used, HEADER_BYTES, (key) => void decodeKey(key));
}

/** Reads `length` bytes of the file from `position` into the start of `buf`; returns how many it got. */
function readAt(fd: number, buf: Buffer, length: number, position: number): number {
  let got = 0;
  while (got < length) {
    const n = fs.readSync(fd, buf, got, length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return got;
}

/** Reads bytes [from, to) of the file into the same offsets of `buf`; returns how many it got. */
function readRange(fd: number, buf: Buffer, from: number, to: number): number {
  let at = from;
  while (at < to) {
    const n = fs.readSync(fd, buf, at, to - at, at);
    if (n === 0) break;
    at += n;
  }
  return at - from;
}

/** Reads a whole file once: its entries with values, or a CorruptFileError naming the reason. */
export function readDbFile(path: string): Array<ParsedEntry & { value: number; timestamp: number }> {
  const reader = new DbFileReader(path);
  const outcome = reader.read(new ReadBuffer());
  if (!outcome.ok) {
    if (outcome.problem === 'corrupt' || outcome.problem === 'too-large') throw new CorruptFileError(outcome.reason, path);
    throw new Error(`${path}: ${outcome.reason}`);
  }
  return reader.entries.map((e, i) => ({ ...e, value: reader.values[i], timestamp: reader.timestamps[i] }));
}

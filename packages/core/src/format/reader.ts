// Reads a metrics file without mapping it (as GitLab's reader does): `read()` the used
// bytes into a reused buffer, parse only the entries added since the last read, and read
// values at the offsets already known.
import fs from 'node:fs';
import os from 'node:os';
import { decodeKey } from './key.js';
import { CorruptFileError, HEADER_BYTES, paddingFor, readUsed, scanEntries, type ParsedEntry } from './entries.js';

/** Values are float64s at 8-aligned offsets, so a Float64Array over the buffer reads them without DataView calls. */
const NATIVE_LITTLE_ENDIAN = os.endianness() === 'LE';

/**
 * A growable buffer shared by every read of one collector, so a scrape allocates nothing
 * per file. It starts on its own 8-aligned ArrayBuffer (never a slice of Node's pool), so
 * `f64[offset / 8]` is the float64 at any 8-aligned byte offset.
 */
export class ReadBuffer {
  buf: Buffer;
  f64: Float64Array;

  constructor(initialBytes = 64 * 1024) {
    const memory = new ArrayBuffer(initialBytes);
    this.buf = Buffer.from(memory);
    this.f64 = new Float64Array(memory);
  }

  ensure(bytes: number): Buffer {
    if (this.buf.length < bytes) {
      let size = this.buf.length;
      while (size < bytes) size *= 2;
      const memory = new ArrayBuffer(size);
      this.buf = Buffer.from(memory);
      this.f64 = new Float64Array(memory);
    }
    return this.buf;
  }
}

export type ReadOutcome =
  | { ok: true; newEntries: number }
  | { ok: false; problem: 'missing' | 'corrupt' | 'unreadable'; reason: string };

export interface DbFileReaderOptions {
  /**
   * Takes each new entry's key as it is parsed: `index` is the entry's position in the
   * file (0 again after the file was replaced). It may throw a KeyFormatError for a
   * malformed key, which makes the file corrupt. With it, the reader neither decodes keys
   * nor keeps `entries`: a collector prepares each distinct key once for all its files.
   */
  onKey?: (key: string, index: number) => void;
  /**
   * The file is never written in place, only replaced by a rename (archives): while its
   * inode, size and mtime stay the same, `read()` reuses the values it has.
   */
  replacedOnly?: boolean;
}

/** The entries of one file and their latest values, re-read on every `read()`. */
export class DbFileReader {
  /** Every parsed entry, in file order (none with the `onKey` option). */
  readonly entries: ParsedEntry[] = [];
  /** Entries parsed so far; `values` and `timestamps` have this length. */
  entryCount = 0;
  /** Values and timestamps of the entries, in file order, as of the last successful read. */
  values = new Float64Array(0);
  timestamps = new Float64Array(0);
  bytesRead = 0;
  /** Each entry's value offset divided by 8: its index in a Float64Array over the file image. */
  private valueIndex = new Int32Array(64);
  private parsedTo = HEADER_BYTES;
  private inode = -1;
  private readonly onKey: ((key: string, index: number) => void) | undefined;
  private readonly replacedOnly: boolean;
  /** size and mtime of the last successful read, for `replacedOnly` files. */
  private readSignature = '';

  constructor(readonly path: string, options: DbFileReaderOptions = {}) {
    this.onKey = options.onKey;
    this.replacedOnly = options.replacedOnly ?? false;
  }

  read(scratch: ReadBuffer): ReadOutcome {
    let fd: number;
    try {
      fd = fs.openSync(this.path, 'r');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return { ok: false, problem: 'missing', reason: 'file vanished before it was read' };
      return { ok: false, problem: 'unreadable', reason: `cannot open (${code ?? String(err)})` };
    }
    try {
      return this.readOpen(fd, scratch);
    } catch (err) {
      if (err instanceof CorruptFileError) {
        this.forget();
        return { ok: false, problem: 'corrupt', reason: err.reason };
      }
      const code = (err as NodeJS.ErrnoException).code;
      return { ok: false, problem: 'unreadable', reason: `read failed (${code ?? String(err)})` };
    } finally {
      fs.closeSync(fd);
    }
  }

  private readOpen(fd: number, scratch: ReadBuffer): ReadOutcome {
    const stat = fs.fstatSync(fd);
    const signature = `${stat.size}:${stat.mtimeMs}`;
    if (this.replacedOnly && stat.ino === this.inode && signature === this.readSignature) {
      this.bytesRead = 0;
      return { ok: true, newEntries: 0 };
    }
    this.readSignature = '';
    // A different inode, or a file that shrank, is a new file under the same name.
    if (stat.ino !== this.inode) {
      this.forget();
      this.inode = stat.ino;
    }
    const header = scratch.ensure(HEADER_BYTES);
    readFully(fd, header, Math.min(stat.size, HEADER_BYTES));
    const used = readUsed(header, stat.size);
    if (used < this.parsedTo) this.forget();
    this.bytesRead = 0;
    const before = this.entryCount;
    if (used > 0) {
      const buf = scratch.ensure(used);
      const got = readFully(fd, buf, used);
      this.bytesRead = got;
      if (got < used) throw new CorruptFileError(`file ended after ${got} of ${used} used bytes`);
      if (this.parsedTo < used) this.parsedTo = scanEntries(buf, used, this.parsedTo, this.addEntry);
    }
    if (this.values.length !== this.entryCount) {
      this.values = new Float64Array(this.entryCount);
      this.timestamps = new Float64Array(this.entryCount);
    }
    if (used > 0) this.readValues(scratch);
    this.readSignature = signature;
    return { ok: true, newEntries: this.entryCount - before };
  }

  private readonly addEntry = (key: string, offset: number, keyLength: number, valueOffset: number): void => {
    if (this.onKey) this.onKey(key, this.entryCount);
    else this.entries.push({ ...decodeKey(key), key, offset, keyLength, pad: paddingFor(keyLength), valueOffset });
    if (this.entryCount === this.valueIndex.length) {
      const grown = new Int32Array(this.valueIndex.length * 2);
      grown.set(this.valueIndex);
      this.valueIndex = grown;
    }
    this.valueIndex[this.entryCount++] = valueOffset / 8;
  };

  /** Copies every entry's value and timestamp out of the file image just read. */
  private readValues(scratch: ReadBuffer): void {
    const { values, timestamps, valueIndex } = this;
    const n = this.entryCount;
    if (NATIVE_LITTLE_ENDIAN) {
      const f64 = scratch.f64;
      for (let i = 0; i < n; i++) {
        const at = valueIndex[i];
        values[i] = f64[at];
        timestamps[i] = f64[at + 1];
      }
    } else {
      const buf = scratch.buf;
      for (let i = 0; i < n; i++) {
        const at = valueIndex[i] * 8;
        values[i] = buf.readDoubleLE(at);
        timestamps[i] = buf.readDoubleLE(at + 8);
      }
    }
  }

  /** Drops what was parsed, so the next parse starts at the first entry. */
  private forget(): void {
    this.entries.length = 0;
    this.entryCount = 0;
    this.parsedTo = HEADER_BYTES;
  }
}

function readFully(fd: number, buf: Buffer, length: number): number {
  let got = 0;
  while (got < length) {
    const n = fs.readSync(fd, buf, got, length - got, got);
    if (n === 0) break;
    got += n;
  }
  return got;
}

/** Reads a whole file once: its entries with values, or a CorruptFileError naming the reason. */
export function readDbFile(path: string): Array<ParsedEntry & { value: number; timestamp: number }> {
  const reader = new DbFileReader(path);
  const outcome = reader.read(new ReadBuffer());
  if (!outcome.ok) {
    if (outcome.problem === 'corrupt') throw new CorruptFileError(outcome.reason, path);
    throw new Error(`${path}: ${outcome.reason}`);
  }
  return reader.entries.map((e, i) => ({ ...e, value: reader.values[i], timestamp: reader.timestamps[i] }));
}

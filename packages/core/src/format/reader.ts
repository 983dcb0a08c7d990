// Reads a metrics file without mapping it (as GitLab's reader does): `read()` the used
// bytes into a reused buffer, parse only the entries added since the last read, and read
// values at the offsets already known.
import fs from 'node:fs';
import { CorruptFileError, HEADER_BYTES, parseEntries, readUsed, type ParsedEntry } from './entries.js';

/** A growable buffer shared by every read of one collector, so a scrape allocates nothing per file. */
export class ReadBuffer {
  buf: Buffer = Buffer.allocUnsafe(64 * 1024);

  ensure(bytes: number): Buffer {
    if (this.buf.length < bytes) {
      let size = this.buf.length;
      while (size < bytes) size *= 2;
      this.buf = Buffer.allocUnsafe(size);
    }
    return this.buf;
  }
}

export type ReadOutcome =
  | { ok: true; newEntries: number }
  | { ok: false; problem: 'missing' | 'corrupt' | 'unreadable'; reason: string };

/** The entries of one file and their latest values, re-read on every `read()`. */
export class DbFileReader {
  readonly entries: ParsedEntry[] = [];
  /** Values and timestamps of `entries`, in the same order, as of the last successful read. */
  values = new Float64Array(0);
  timestamps = new Float64Array(0);
  bytesRead = 0;
  private parsedTo = HEADER_BYTES;
  private inode = -1;

  constructor(readonly path: string) {}

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
    if (used === 0) return { ok: true, newEntries: 0 };
    const buf = scratch.ensure(used);
    const got = readFully(fd, buf, used);
    this.bytesRead = got;
    if (got < used) throw new CorruptFileError(`file ended after ${got} of ${used} used bytes`);
    const before = this.entries.length;
    this.parsedTo = parseEntries(buf, used, this.parsedTo, (entry) => this.entries.push(entry));
    if (this.values.length !== this.entries.length) {
      this.values = new Float64Array(this.entries.length);
      this.timestamps = new Float64Array(this.entries.length);
    }
    for (let i = 0; i < this.entries.length; i++) {
      const at = this.entries[i].valueOffset;
      this.values[i] = buf.readDoubleLE(at);
      this.timestamps[i] = buf.readDoubleLE(at + 8);
    }
    return { ok: true, newEntries: this.entries.length - before };
  }

  private forget(): void {
    this.entries.length = 0;
    this.parsedTo = HEADER_BYTES;
    this.inode = -1;
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

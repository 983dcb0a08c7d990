// One process's exemplar file (docs/format.md, "Exemplar files"): the latest exemplar of
// each counter series and histogram bucket it wrote, in fixed-size records beside its
// `.db` files. The name starts with a dot, so Python's collector never reads it.
//
// Layout (little-endian): an 8-byte header (int32 `used`, int32 magic "EXM1"), then
// entries laid out as in a `.db` file, except that the 16-byte value is a record:
//   int32 keyLength | key (the sample's `.db` key, UTF-8) | spaces to 8 | record
//   record: int32 seq | int32 labelBytes | float64 value | float64 timestamp | labels
// `labels` is the exemplar's label set as OpenMetrics writes it (`a="b",c="d"`).
//
// Torn-read protection is a seqlock: the writer (the one process that owns the file)
// makes `seq` odd, writes the record, makes it even again. A reader takes the record only
// if `seq` read before it and read after it are the same even number (three reads with
// a system call between each: see readExemplarFile).
import fs from 'node:fs';
import { CorruptFileError, paddingFor, entrySize, writeEntryHead } from './entries.js';
import { decodeKey, type DecodedKey } from './key.js';
import type { FileMemory, StorageMode } from './file-memory.js';
import { loadMmap, MmapMemory } from './mmap.js';
import { WrittenMemory } from './written-memory.js';
import { isOpenProblem, openRegularForRead } from './safe-files.js';
import { FILE_MODE } from './modes.js';

export const EXEMPLAR_FILE_PREFIX = '.prom-multiproc-exemplars-';
export const EXEMPLAR_MAGIC = 0x314d5845; // "EXM1"
const HEADER = 8;
/** Bytes for the label text: 128 characters of names and values at 3 UTF-8 bytes each, plus `=""` and `,` per label, fit. */
export const LABEL_CAPACITY = 1024;
export const RECORD_BYTES = 24 + LABEL_CAPACITY;
const INITIAL_BYTES = 65536;
const SPECIAL = /[\\\n"]/;

export function exemplarFileName(processId: string): string {
  return EXEMPLAR_FILE_PREFIX + processId;
}

/** An exemplar label value in OpenMetrics text. */
function escapeValue(s: string): string {
  return SPECIAL.test(s) ? s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"') : s;
}

/**
 * Stores `s` at `pos` if every character is printable ASCII other than `"` and `\\`
 * (a label name always; a trace id almost always), byte by byte: cheaper than a call
 * into Buffer.write for short strings. Returns the end, or -1 (nothing usable written).
 */
function writeAscii(buf: Buffer, pos: number, s: string): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return -1;
    buf[pos + i] = c;
  }
  return pos + s.length;
}

export class ExemplarFile {
  private memory: FileMemory;
  private buffer!: Buffer;
  private seq!: Int32Array;
  private numbers!: Float64Array;
  private capacity: number;
  private used = HEADER;
  private readonly records = new Map<string, number>();

  private constructor(readonly path: string, private readonly fd: number, mode: StorageMode) {
    this.capacity = INITIAL_BYTES;
    this.memory = mode === 'mmap' ? new MmapMemory(loadMmap()!, fd, this.capacity) : new WrittenMemory(fd, path, this.capacity);
    this.view();
    this.buffer.writeInt32LE(EXEMPLAR_MAGIC, 4);
    this.buffer.writeInt32LE(this.used, 0);
  }

  /**
   * Creates the file anew: an earlier file under this name belongs to a process that had
   * this id before (its exemplars may be dropped), never to a second writer.
   */
  static create(path: string, mode: StorageMode): ExemplarFile {
    fs.rmSync(path, { force: true });
    // Fresh, never through a link planted under our name (docs/security.md).
    const fd = fs.openSync(path, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, FILE_MODE);
    try {
      allocate(fd, 0, INITIAL_BYTES);
      return new ExemplarFile(path, fd, mode);
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
  }

  /** The record of a sample (its `.db` key), appended zeroed (seq 0: never written) the first time. */
  recordFor(key: string): number {
    const known = this.records.get(key);
    if (known !== undefined) return known;
    const keyLength = Buffer.byteLength(key, 'utf8');
    const size = entrySize(keyLength) - 16 + RECORD_BYTES;
    let capacity = this.capacity;
    while (this.used + size > capacity) capacity *= 2;
    if (capacity > 0x7fffffff) throw new Error(`${this.path}: file would exceed 2 GiB`);
    if (capacity !== this.capacity) this.grow(capacity);
    const buf = this.buffer;
    const at = this.used;
    const record = writeEntryHead(buf, at, key, keyLength);
    buf.fill(0, record, record + RECORD_BYTES);
    // The entry's bytes first, then `used`: a reader never sees an entry before its bytes.
    this.used = record + RECORD_BYTES;
    buf.writeInt32LE(this.used, 0);
    this.records.set(key, record);
    return record;
  }

  /**
   * Writes one exemplar into its record: `labelSet` (it must have passed
   * checkExemplarLabels, which bounds the text to LABEL_CAPACITY) and `numbers`, its
   * [value, timestamp] (an array: see metrics/exemplar.ts). No allocation unless a value
   * needs escaping.
   */
  write(record: number, labelSet: Record<string, string | number | undefined>, numbers: Float64Array): void {
    const buf = this.buffer;
    const seq = this.seq;
    const at = record >> 2;
    const before = seq[at];
    Atomics.store(seq, at, (before + 1) | 0);
    let pos = record + 24;
    let first = true;
    for (const name in labelSet) {
      if (!first) buf[pos++] = 0x2c;
      first = false;
      pos = writeAscii(buf, pos, name);
      buf[pos++] = 0x3d;
      buf[pos++] = 0x22;
      const v = labelSet[name];
      const text = typeof v === 'string' ? v : String(v);
      const end = writeAscii(buf, pos, text);
      // Not plain ASCII (or needs escaping): the general path.
      pos = end >= 0 ? end : pos + buf.write(escapeValue(text), pos, 'utf8');
      buf[pos++] = 0x22;
    }
    seq[at + 1] = pos - record - 24;
    this.numbers[(record + 8) >> 3] = numbers[0];
    this.numbers[(record + 16) >> 3] = numbers[1];
    Atomics.store(seq, at, (before + 2) | 0);
  }

  close(): void {
    this.memory.close();
    fs.closeSync(this.fd);
  }

  private grow(capacity: number): void {
    allocate(this.fd, this.capacity, capacity - this.capacity);
    this.capacity = capacity;
    this.memory.resize(capacity);
    this.view();
  }

  private view(): void {
    const buf = this.memory.buffer;
    this.buffer = buf;
    this.seq = new Int32Array(buf.buffer, buf.byteOffset, this.capacity >> 2);
    this.numbers = new Float64Array(buf.buffer, buf.byteOffset, this.capacity >> 3);
  }
}

const ZEROS = Buffer.alloc(65536);
function allocate(fd: number, offset: number, length: number): void {
  for (let done = 0; done < length;) {
    done += fs.writeSync(fd, ZEROS, 0, Math.min(ZEROS.length, length - done), offset + done);
  }
}

/** One exemplar as read from a file. */
export interface StoredExemplar {
  key: DecodedKey;
  /** The label set in OpenMetrics text, checked: `a="b",c="d"`. */
  labels: string;
  value: number;
  timestamp: number;
}

/** 64 MiB of records: about 60,000 series with exemplars in one process. */
const MAX_USED = 64 * 1024 * 1024;

const LABEL_TEXT = /^(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\n"])*"(?:,(?=[a-zA-Z_])|$))*$/;

/** Whole-file read at `fd` into `into` (grown as needed); returns the buffer and the bytes read. */
function readAll(fd: number, into: Buffer, length: number): Buffer {
  const buf = into.length >= length ? into : Buffer.alloc(length);
  let read = 0;
  while (read < length) {
    const n = fs.readSync(fd, buf, read, length - read, read);
    if (n === 0) break;
    read += n;
  }
  if (read < length) throw new CorruptFileError(`file shrank while read (${read} of ${length} bytes)`, '');
  return buf;
}

/**
 * Reads every exemplar written so far, never a torn one: pass 1 reads the sequence
 * numbers, pass 2 the records, pass 3 the sequence numbers again; a record counts only if
 * all three show the same even, non-zero number. A record being written during the read
 * is retried (a few times), then left out of this scrape.
 */
export function readExemplarFile(path: string): StoredExemplar[] {
  // Only a regular file, opened without blocking, at most MAX_USED bytes (docs/security.md).
  const opened = openRegularForRead(path);
  if (isOpenProblem(opened)) {
    if (opened.problem === 'missing') throw Object.assign(new Error(`${path}: ${opened.reason}`), { code: 'ENOENT' });
    throw new CorruptFileError(`${opened.problem}: ${opened.reason}`, path);
  }
  const fd = opened.fd;
  try {
    const header = Buffer.alloc(HEADER);
    if (fs.readSync(fd, header, 0, HEADER, 0) < HEADER) throw new CorruptFileError('shorter than its header', path);
    if (header.readInt32LE(4) !== EXEMPLAR_MAGIC) throw new CorruptFileError('not an exemplar file (bad magic)', path);
    const used = header.readInt32LE(0);
    const size = fs.fstatSync(fd).size;
    if (used < HEADER || used > size) throw new CorruptFileError(`used ${used} outside the file's ${size} bytes`, path);
    if (used > MAX_USED) throw new CorruptFileError(`used ${used} bytes, more than the ${MAX_USED} accepted`, path);
    const first = readAll(fd, Buffer.alloc(0), used);
    const records: Array<{ key: DecodedKey; at: number }> = [];
    for (let pos = HEADER; pos < used;) {
      const keyLength = first.readInt32LE(pos);
      const record = pos + 4 + keyLength + paddingFor(keyLength);
      if (keyLength <= 0 || record + RECORD_BYTES > used) throw new CorruptFileError(`entry at ${pos} runs past used (${used})`, path);
      let key: DecodedKey;
      try {
        key = decodeKey(first.toString('utf8', pos + 4, pos + 4 + keyLength));
      } catch (err) {
        throw new CorruptFileError(`entry at ${pos}: ${(err as Error).message}`, path);
      }
      records.push({ key, at: record });
      pos = record + RECORD_BYTES;
    }
    const out: StoredExemplar[] = [];
    let pending = records;
    let before = first;
    for (let attempt = 0; attempt < 4 && pending.length > 0; attempt++) {
      const data = readAll(fd, Buffer.alloc(0), used);
      const after = readAll(fd, Buffer.alloc(0), used);
      const retry: typeof records = [];
      for (const r of pending) {
        const seq = before.readInt32LE(r.at);
        if (seq === 0) continue; // never written
        if ((seq & 1) !== 0 || data.readInt32LE(r.at) !== seq || after.readInt32LE(r.at) !== seq) {
          retry.push(r);
          continue;
        }
        const labelBytes = data.readInt32LE(r.at + 4);
        if (labelBytes < 0 || labelBytes > LABEL_CAPACITY) throw new CorruptFileError(`record at ${r.at}: label length ${labelBytes}`, path);
        const labels = data.toString('utf8', r.at + 24, r.at + 24 + labelBytes);
        const value = data.readDoubleLE(r.at + 8);
        const timestamp = data.readDoubleLE(r.at + 16);
        if (!LABEL_TEXT.test(labels) || !Number.isFinite(timestamp) || Number.isNaN(value)) {
          throw new CorruptFileError(`record at ${r.at} is not a valid exemplar`, path);
        }
        out.push({ key: r.key, labels, value, timestamp });
      }
      pending = retry;
      before = after;
    }
    return out;
  } finally {
    fs.closeSync(fd);
  }
}

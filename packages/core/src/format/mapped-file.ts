// One process's metrics file, written through memory (Python's mmap_dict.py): mapped
// (mmap mode) or an image written back on a short period (fallback mode, where no mmap
// binary loads). It owns the file and nothing else: create, allocate, append entries,
// grow, and keep every value holder pointing at the current memory.
import fs from 'node:fs';
import { describeFileType } from './safe-files.js';
import { CorruptFileError, HEADER_BYTES, entrySize, paddingFor, readUsed, scanEntries } from './entries.js';
import { decodeKey } from './key.js';
import { scratchKey, type EncodedKey } from './key-encoder.js';
import { KeyOffsets } from './key-offsets.js';
import type { FileMemory, StorageMode } from './file-memory.js';
import { loadMmap, MmapMemory } from './mmap.js';
import { processStorageMode } from './storage-mode.js';
import { WrittenMemory } from './written-memory.js';
import { FILE_MODE } from './modes.js';

export const INITIAL_FILE_BYTES = 65536;
const ZERO_CHUNK = Buffer.alloc(1 << 20);

/** Anything that reads or writes values through `values[index]`. */
export interface ValueHolder {
  values: Float64Array;
}

/** Storage of series values: a mapped file, or plain memory when not in multiprocess mode. */
export interface SeriesStore {
  /** float64 view of the whole store; `values[slot]` is the value, `values[slot + 1]` its timestamp. */
  readonly values: Float64Array;
  /** The slot of `key`, appending a zeroed entry the first time. */
  slotFor(key: string): number;
  /** The same for a key encoded as bytes (`EncodedKey.encode`): no string is made. */
  slotOf(key: EncodedKey): number;
  /** Keeps `holder.values` pointing at the store's memory when it moves (growth). */
  attach(holder: ValueHolder): void;
  detach(holder: ValueHolder): void;
}

/** Writes `length` real zero bytes from `offset`, so the pages exist before they are mapped. */
function allocate(fd: number, offset: number, length: number): void {
  let written = 0;
  while (written < length) {
    written += fs.writeSync(fd, ZERO_CHUNK, 0, Math.min(ZERO_CHUNK.length, length - written), offset + written);
  }
}

export class MappedFile implements SeriesStore {
  values!: Float64Array;
  private readonly memory: FileMemory;
  private capacity: number;
  private used: number;
  /** Where each key's entry is; the keys themselves stay in the file only. */
  private readonly positions = new KeyOffsets();
  private readonly holders = new Set<ValueHolder>();

  private constructor(readonly path: string, private readonly fd: number, capacity: number, readonly mode: StorageMode) {
    this.capacity = capacity;
    this.memory = mode === 'mmap' ? new MmapMemory(loadMmap()!, fd, capacity) : new WrittenMemory(fd, path, capacity);
    this.view();
    this.used = this.buffer.readInt32LE(0);
    if (this.used === 0) {
      this.used = HEADER_BYTES;
      this.buffer.writeInt32LE(this.used, 0);
    } else {
      try {
        this.continueExisting();
      } catch (err) {
        this.memory.close();
        throw err;
      }
    }
  }

  /** Opens or creates the file at `path` for writing, mapped or written back (`mode`, default: this process's). */
  static open(path: string, mode: StorageMode = processStorageMode().mode): MappedFile {
    if (mode === 'mmap' && !loadMmap()) throw new Error('prom-multiproc: mmap mode, but the mmap addon does not load here');
    // Never through a symlink someone planted under our name, never a FIFO or device.
    const fd = fs.openSync(path, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK, FILE_MODE);
    try {
      const stat = fs.fstatSync(fd);
      if (!stat.isFile()) throw new Error(`prom-multiproc: cannot write metrics to ${path}: ${describeFileType(stat)}, not a regular file`);
      let size = stat.size;
      if (size === 0) {
        allocateOrExplain(fd, path, 0, INITIAL_FILE_BYTES);
        size = INITIAL_FILE_BYTES;
      }
      if (size < HEADER_BYTES) throw new CorruptFileError(`file is ${size} bytes, shorter than its 8-byte header`, path);
      return new MappedFile(path, fd, size, mode);
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
  }

  private get buffer(): Buffer {
    return this.memory.buffer;
  }

  /** Makes every update so far visible in the file (a no-op for a mapping). */
  flush(): void {
    this.memory.flush();
  }

  /** Flushes, releases the memory and closes the file; holders must not write after this. */
  close(): void {
    this.memory.close();
    fs.closeSync(this.fd);
  }

  get usedBytes(): number {
    return this.used;
  }

  get capacityBytes(): number {
    return this.capacity;
  }

  slotFor(key: string): number {
    return this.slotOf(scratchKey.setText(key));
  }

  slotOf(key: EncodedKey): number {
    const at = this.positions.get(this.buffer, key.bytes, key.length);
    return (at >= 0 ? valueOffsetOf(this.buffer, at) : this.append(key)) / 8;
  }

  attach(holder: ValueHolder): void {
    holder.values = this.values;
    this.holders.add(holder);
  }

  detach(holder: ValueHolder): void {
    this.holders.delete(holder);
  }

  /** Appends a zeroed entry: the whole entry first, then `used` (FORMAT.md §5.3). */
  private append(key: EncodedKey): number {
    const keyLength = key.length;
    const size = entrySize(keyLength);
    if (this.used + size > 0x7fffffff) throw new Error(`${this.path}: file would exceed 2 GiB, the format's limit`);
    let capacity = this.capacity;
    while (this.used + size > capacity) capacity *= 2;
    if (capacity !== this.capacity) this.grow(capacity);
    const buf = this.buffer;
    const at = this.used;
    buf.writeInt32LE(keyLength, at);
    // A loop, not Buffer#copy: copy makes a Uint8Array view per call (garbage per entry).
    const bytes = key.bytes;
    for (let i = 0; i < keyLength; i++) buf[at + 4 + i] = bytes[i];
    const valueOffset = at + 4 + keyLength + paddingFor(keyLength);
    buf.fill(0x20, at + 4 + keyLength, valueOffset);
    buf.fill(0, valueOffset, valueOffset + 16);
    this.used = at + size;
    buf.writeInt32LE(this.used, 0);
    this.positions.set(buf, at);
    return valueOffset;
  }

  private grow(capacity: number): void {
    allocateOrExplain(this.fd, this.path, this.capacity, capacity - this.capacity);
    this.capacity = capacity;
    // The old memory is released now (an old mapping is unmapped): every holder moves
    // to the new one before any other code runs.
    this.memory.resize(capacity);
    this.view();
    for (const holder of this.holders) holder.values = this.values;
  }

  private view(): void {
    const buf = this.memory.buffer;
    this.values = new Float64Array(buf.buffer, buf.byteOffset, Math.floor(this.capacity / 8));
  }

  /** Rebuilds key -> offset from an existing file; the last occurrence of a key wins, as in Python. */
  private continueExisting(): void {
    try {
      const used = readUsed(this.buffer, this.capacity);
      const buf = this.buffer;
      scanEntries(buf, used, HEADER_BYTES, (key, offset) => {
        decodeKey(key); // a malformed key makes the file corrupt, as in the reader
        this.positions.set(buf, offset);
      });
      this.used = Math.max(used, HEADER_BYTES);
    } catch (err) {
      if (err instanceof CorruptFileError) throw new CorruptFileError(`cannot continue existing file: ${err.reason}`, this.path);
      throw err;
    }
  }
}

function valueOffsetOf(buf: Buffer, entry: number): number {
  const keyLength = buf.readInt32LE(entry);
  return entry + 4 + keyLength + paddingFor(keyLength);
}

function allocateOrExplain(fd: number, path: string, offset: number, length: number): void {
  try {
    allocate(fd, offset, length);
  } catch (err) {
    // Leave the file at its old size: a half-allocated tail is never mapped.
    try {
      fs.ftruncateSync(fd, offset);
    } catch {
      /* the original error is the one to report */
    }
    const code = (err as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new Error(`prom-multiproc: cannot allocate ${length} bytes at offset ${offset} of ${path} (${code})`, {
      cause: err,
    });
  }
}

// One process's metrics file, memory-mapped for writing (Python's mmap_dict.py).
// It owns the file and nothing else: create, allocate, append entries, grow, and keep
// every value holder pointing at the current mapping.
import fs from 'node:fs';
import { CorruptFileError, HEADER_BYTES, entrySize, paddingFor, parseEntries, readUsed } from './entries.js';
import { loadMmap } from './mmap.js';

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
  private buffer!: Buffer;
  private capacity: number;
  private used: number;
  private readonly positions = new Map<string, number>();
  private readonly holders = new Set<ValueHolder>();

  private constructor(readonly path: string, private readonly fd: number, capacity: number) {
    this.capacity = capacity;
    this.map();
    this.used = this.buffer.readInt32LE(0);
    if (this.used === 0) {
      this.used = HEADER_BYTES;
      this.buffer.writeInt32LE(this.used, 0);
    } else {
      this.continueExisting();
    }
  }

  /** Opens or creates the file at `path` and maps it read-write. */
  static open(path: string): MappedFile {
    const fd = fs.openSync(path, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o666);
    try {
      let size = fs.fstatSync(fd).size;
      if (size === 0) {
        allocateOrExplain(fd, path, 0, INITIAL_FILE_BYTES);
        size = INITIAL_FILE_BYTES;
      }
      if (size < HEADER_BYTES) throw new CorruptFileError(`file is ${size} bytes, shorter than its 8-byte header`, path);
      return new MappedFile(path, fd, size);
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
  }

  get usedBytes(): number {
    return this.used;
  }

  get capacityBytes(): number {
    return this.capacity;
  }

  slotFor(key: string): number {
    const known = this.positions.get(key);
    if (known !== undefined) return known / 8;
    return this.append(key) / 8;
  }

  attach(holder: ValueHolder): void {
    holder.values = this.values;
    this.holders.add(holder);
  }

  detach(holder: ValueHolder): void {
    this.holders.delete(holder);
  }

  /** Appends a zeroed entry: the whole entry first, then `used` (FORMAT.md §5.3). */
  private append(key: string): number {
    const keyLength = Buffer.byteLength(key, 'utf8');
    const size = entrySize(keyLength);
    if (this.used + size > 0x7fffffff) throw new Error(`${this.path}: file would exceed 2 GiB, the format's limit`);
    let capacity = this.capacity;
    while (this.used + size > capacity) capacity *= 2;
    if (capacity !== this.capacity) this.grow(capacity);
    const buf = this.buffer;
    const at = this.used;
    buf.writeInt32LE(keyLength, at);
    buf.write(key, at + 4, keyLength, 'utf8');
    const valueOffset = at + 4 + keyLength + paddingFor(keyLength);
    buf.fill(0x20, at + 4 + keyLength, valueOffset);
    buf.fill(0, valueOffset, valueOffset + 16);
    this.used = at + size;
    buf.writeInt32LE(this.used, 0);
    this.positions.set(key, valueOffset);
    return valueOffset;
  }

  private grow(capacity: number): void {
    allocateOrExplain(this.fd, this.path, this.capacity, capacity - this.capacity);
    this.capacity = capacity;
    // The old mapping stays valid until it is garbage-collected (the addon has no
    // munmap); every holder moves to the new one now.
    this.map();
    for (const holder of this.holders) holder.values = this.values;
  }

  private map(): void {
    const mmap = loadMmap();
    this.buffer = mmap.map(this.capacity, mmap.PROT_READ | mmap.PROT_WRITE, mmap.MAP_SHARED, this.fd, 0);
    this.values = new Float64Array(this.buffer.buffer, this.buffer.byteOffset, Math.floor(this.capacity / 8));
  }

  /** Rebuilds key -> offset from an existing file; the last occurrence of a key wins, as in Python. */
  private continueExisting(): void {
    try {
      const used = readUsed(this.buffer, this.capacity);
      parseEntries(this.buffer, used, HEADER_BYTES, (entry) => this.positions.set(entry.key, entry.valueOffset));
      this.used = Math.max(used, HEADER_BYTES);
    } catch (err) {
      if (err instanceof CorruptFileError) throw new CorruptFileError(`cannot continue existing file: ${err.reason}`, this.path);
      throw err;
    }
  }
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

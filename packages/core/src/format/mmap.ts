// The mmap path: our Node-API addon (native/mmap.c), loaded once through node-gyp-build,
// which takes a local source build (native/build/Release) first and the prebuilt binary
// shipped in native/prebuilds/<platform>-<arch>/ second. Where neither loads, the reason
// is kept and the writer falls back to plain file writes (storage-mode.ts), the
// collector to read() (reader.ts).
import path from 'node:path';
import type { FileMemory } from './file-memory.js';
import { packageRequire } from './package-require.js';

declare const readMappingBrand: unique symbol;
/** A read-only mapping of a file, held by the addon: JavaScript never sees its memory. */
export interface ReadMapping {
  readonly [readMappingBrand]: true;
}

/** What copyValues returns: copied, or the file shrank under the mapping (caught SIGBUS), or an offset past `used`. */
export const COPY_OK = 0;
export const COPY_FAULT = 1;
export const COPY_OUT_OF_RANGE = 2;

export interface MmapAddon {
  /** Maps bytes [0, length) of the open file `fd` shared read-write. */
  map(fd: number, length: number): ArrayBuffer;
  /** Releases the mapping now and detaches `buffer` (its views read as empty). */
  unmap(buffer: ArrayBuffer): void;
  /** Maps bytes [0, length) of `fd` read-only (the collector). Absent from binaries built before it. */
  mapRead?(fd: number, length: number): ReadMapping;
  /** Unmaps now; again does nothing. */
  unmapRead?(mapping: ReadMapping): void;
  /**
   * Copies the value and timestamp at byte `valueIndex[i] * 8` of the mapping into
   * `values[i]`, `timestamps[i]` for i < count, under a SIGBUS guard: COPY_OK, COPY_FAULT
   * (the file was truncated under the mapping) or COPY_OUT_OF_RANGE.
   */
  copyValues?(mapping: ReadMapping, used: number, valueIndex: Int32Array, count: number, values: Float64Array, timestamps: Float64Array): number;
  /**
   * Walks the entries of `window[from..end)` (file bytes from `base`), finds each key in a
   * collector's table of known keys (collect/byte-tables.ts ByteKeyTable's arrays), and
   * gives each new key's hash and, for a key in the plain shape, its fields (`out`: 5 int32s
   * an entry): see ByteKeyTable.walk. With `valueIndex` and `first`, it also records each
   * walked entry's value offset / 8 in `valueIndex[first + i]`, and with `values` and
   * `timestamps` its value and timestamp taken from the window (stopping when one is
   * full). Absent from binaries built before it.
   */
  walkKeys?(
    window: Uint8Array,
    from: number,
    end: number,
    base: number,
    used: number,
    cells: Int32Array,
    slots: Int32Array,
    chunks: Uint8Array[],
    previous: number,
    out: Int32Array,
    fields: Int32Array,
    valueIndex?: Int32Array,
    first?: number,
    values?: Float64Array,
    timestamps?: Float64Array,
  ): number;
  /** True where `walkKeys` records value offsets and values (binaries from before: absent, and their walk is not used). */
  walkKeysRecordsValues?: boolean;
}

let addon: MmapAddon | undefined;
let failure: string | undefined;

/**
 * The directory holding binding.gyp, build/ and prebuilds/: `native/` at the package root,
 * found through the package's own package.json (the ES module and CommonJS builds sit at
 * different depths). Resolved on first use: a bundle of the collector never needs it.
 */
export function nativeDir(): string {
  return path.join(path.dirname(packageRequire.resolve('@prom-multiproc/core/package.json')), 'native');
}

/** The addon, or undefined when no binary loads here; `mmapFailure()` then says why. */
export function loadMmap(): MmapAddon | undefined {
  if (addon || failure !== undefined) return addon;
  try {
    const load = packageRequire('node-gyp-build') as (dir: string) => MmapAddon;
    const dir = nativeDir();
    addon = load(dir);
    if (typeof addon.map !== 'function' || typeof addon.unmap !== 'function') {
      throw new Error(`the binary in ${dir} is not prom-multiproc's mmap addon`);
    }
  } catch (err) {
    addon = undefined;
    failure = (err instanceof Error ? err.message : String(err)).split('\n')[0];
  }
  return addon;
}

/**
 * The addon for a collector's reads (mapped values, known-key lookups), or undefined: none
 * loads, or PROM_MULTIPROC_STORAGE=fallback forces the JavaScript paths (as for writes).
 */
export function readerAddon(): MmapAddon | undefined {
  return (process.env.PROM_MULTIPROC_STORAGE ?? '').trim() === 'fallback' ? undefined : loadMmap();
}

/** Why the addon did not load, or undefined if it did (or was not tried yet). */
export function mmapFailure(): string | undefined {
  return failure;
}

/** A file's bytes as a shared mapping: every store is in the file at once. */
export class MmapMemory implements FileMemory {
  buffer!: Buffer;
  private mapping!: ArrayBuffer;

  constructor(private readonly mmap: MmapAddon, private readonly fd: number, capacity: number) {
    this.map(capacity);
  }

  resize(capacity: number): void {
    const old = this.mapping;
    this.map(capacity);
    // Released now, not when a GC pass finds the old Buffer: the caller moves every
    // holder to the new mapping before any other code runs.
    this.mmap.unmap(old);
  }

  flush(): void {
    // The mapping is the file.
  }

  close(): void {
    this.mmap.unmap(this.mapping);
  }

  private map(capacity: number): void {
    this.mapping = this.mmap.map(this.fd, capacity);
    this.buffer = Buffer.from(this.mapping);
  }
}

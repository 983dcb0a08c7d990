// Where a metrics file's bytes live while this process writes them: the file itself
// (mmap) or an image in memory written back to it on a short period (fallback). The
// writer (mapped-file.ts) lays out entries the same way in both.

export type StorageMode = 'mmap' | 'fallback';

export interface FileMemory {
  /** Bytes [0, capacity) of the file. */
  readonly buffer: Buffer;
  /** Covers the file's new size; called once bytes [0, capacity) exist on disk. */
  resize(capacity: number): void;
  /** Makes every store so far visible in the file (nothing to do for a mapping). */
  flush(): void;
  /** Flushes and lets go of the memory; the file stays. */
  close(): void;
}

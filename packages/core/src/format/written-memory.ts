// The fallback where no mmap binary loads: the file's bytes live in this process's memory
// and are written back to the same offsets of the same file every FLUSH_INTERVAL_MS and
// at every exit (normal end, process.exit, an uncaught exception, a fatal signal). The
// hot path stays a store into memory; a SIGKILL or a crash loses the updates made since
// the last write-back, nothing else. Files look exactly like the mmap writer's.
import fs from 'node:fs';
import path from 'node:path';
import { onExit } from 'signal-exit';
import { HEADER_BYTES } from './entries.js';
import type { FileMemory } from './file-memory.js';

export const FLUSH_INTERVAL_MS = 100;
/** Changes are found and written per page, as the kernel writes back a mapping. */
const PAGE_BYTES = 4096;

const open = new Map<string, WrittenMemory>();
let timer: NodeJS.Timeout | undefined;
let exitHooked = false;

/** Writes every fallback file's changes now (the timer and the exit hooks call this). */
export function flushWrittenFiles(): void {
  for (const memory of open.values()) memory.flush();
}

export class WrittenMemory implements FileMemory {
  buffer: Buffer;
  /** What the file holds: the bytes last read from or written to it. */
  private written: Buffer;
  private reportedError = false;
  private readonly key: string;

  constructor(private readonly fd: number, private readonly filePath: string, capacity: number) {
    // One writer per file: an earlier open of the same file in this process writes no more.
    this.key = path.resolve(filePath);
    open.get(this.key)?.close();
    this.buffer = Buffer.alloc(capacity);
    let read = 0;
    while (read < capacity) {
      const n = fs.readSync(fd, this.buffer, read, capacity - read, read);
      if (n === 0) break;
      read += n;
    }
    this.written = Buffer.from(this.buffer);
    open.set(this.key, this);
    startWritingBack();
  }

  resize(capacity: number): void {
    // The file's new bytes are zeros already (allocated by real writes before this call).
    const grown = Buffer.alloc(capacity);
    this.buffer.copy(grown);
    const grownWritten = Buffer.alloc(capacity);
    this.written.copy(grownWritten);
    this.buffer = grown;
    this.written = grownWritten;
  }

  /** Writes the pages that changed; `used` last, so a reader never sees an entry before its bytes. */
  flush(): void {
    const buf = this.buffer;
    const end = Math.min(Math.max(buf.readInt32LE(0), HEADER_BYTES), buf.length);
    let runStart = -1;
    for (let page = 0; page < end; page += PAGE_BYTES) {
      const from = page === 0 ? HEADER_BYTES : page;
      const to = Math.min(page + PAGE_BYTES, end);
      if (from < to && buf.compare(this.written, from, to, from, to) !== 0) {
        if (runStart < 0) runStart = from;
      } else if (runStart >= 0) {
        if (!this.write(runStart, from)) return;
        runStart = -1;
      }
    }
    if (runStart >= 0 && !this.write(runStart, end)) return;
    if (buf.compare(this.written, 0, HEADER_BYTES, 0, HEADER_BYTES) !== 0) this.write(0, HEADER_BYTES);
  }

  close(): void {
    this.flush();
    if (open.get(this.key) === this) open.delete(this.key);
    if (open.size === 0 && timer) {
      clearInterval(timer);
      timer = undefined;
    }
  }

  private write(from: number, to: number): boolean {
    try {
      let done = from;
      while (done < to) done += fs.writeSync(this.fd, this.buffer, done, to - done, done);
    } catch (err) {
      // The changes stay in memory and go out with the next write that succeeds.
      if (!this.reportedError) {
        this.reportedError = true;
        console.warn(`prom-multiproc: cannot write ${this.filePath} (${(err as NodeJS.ErrnoException).code ?? String(err)}); its updates stay in memory until a write succeeds`);
      }
      return false;
    }
    this.buffer.copy(this.written, from, from, to);
    return true;
  }
}

function startWritingBack(): void {
  if (!timer) {
    timer = setInterval(flushWrittenFiles, FLUSH_INTERVAL_MS);
    timer.unref();
  }
  if (exitHooked) return;
  exitHooked = true;
  // signal-exit runs the flush on 'exit' and on fatal signals, then lets the signal kill
  // the process as before. Last of all exit handlers: the bridge's last mirror (and any
  // other handler's final writes) go into this memory at exit, and must reach the file;
  // a handler registered after this one would otherwise write after the last write-back.
  onExit(() => flushWrittenFiles(), { alwaysLast: true });
}

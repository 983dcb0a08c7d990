// Opening files in a directory that others can write to (docs/security.md). Whoever can
// write the metrics directory can put anything under our names: a FIFO, a device, a
// symlink to either or to a file elsewhere. So: never open what is not a regular file
// (a stat first, so a device's open has no side effect), open without blocking (a FIFO
// that appears between the stat and the open cannot hang the event loop), and check the
// opened file again (fstat) before reading a byte. Files we write or replace are created
// fresh under a temp name (O_EXCL | O_NOFOLLOW) and renamed into place, so a planted
// symlink or hard link is replaced, never written through.
import fs from 'node:fs';
import path from 'node:path';
import { FILE_MODE } from './modes.js';

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK } = fs.constants;

export type OpenProblem =
  | { problem: 'missing'; reason: string }
  | { problem: 'not-regular-file'; reason: string }
  | { problem: 'unreadable'; reason: string };

/** What a path is, in words, for a log line. */
export function describeFileType(stat: fs.Stats): string {
  if (stat.isDirectory()) return 'a directory';
  if (stat.isFIFO()) return 'a FIFO';
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return 'a device';
  if (stat.isSocket()) return 'a socket';
  if (stat.isSymbolicLink()) return 'a symlink';
  return 'not a regular file';
}

/**
 * Opens a regular file for reading without blocking, or says why not. Symlinks to
 * regular files are followed (people link files into the directory; we only read them).
 * Returns the fd and its fstat; the caller closes the fd.
 */
export function openRegularForRead(file: string): { fd: number; stat: fs.Stats } | OpenProblem {
  let fd: number;
  try {
    const before = fs.statSync(file);
    if (!before.isFile()) return { problem: 'not-regular-file', reason: `${describeFileType(before)}, not a regular file` };
    fd = fs.openSync(file, O_RDONLY | O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { problem: 'missing', reason: 'file vanished before it was read' };
    return { problem: 'unreadable', reason: `cannot open (${code ?? String(err)})` };
  }
  let stat: fs.Stats;
  try {
    stat = fs.fstatSync(fd);
  } catch (err) {
    fs.closeSync(fd);
    return { problem: 'unreadable', reason: `cannot stat (${(err as NodeJS.ErrnoException).code ?? String(err)})` };
  }
  if (!stat.isFile()) {
    fs.closeSync(fd);
    return { problem: 'not-regular-file', reason: `${describeFileType(stat)}, not a regular file` };
  }
  return { fd, stat };
}

export function isOpenProblem(opened: { fd: number; stat: fs.Stats } | OpenProblem): opened is OpenProblem {
  return 'problem' in opened;
}

/**
 * Reads at most `maxBytes` of a regular file, without following a symlink at `file`
 * itself and without blocking. Throws an error naming the problem otherwise (ENOENT
 * passes through with its code).
 */
export function readOwnFile(file: string, maxBytes: number): Buffer {
  const fd = fs.openSync(file, O_RDONLY | O_NONBLOCK | O_NOFOLLOW);
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) throw new Error(`${describeFileType(stat)}, not a regular file`);
    if (stat.size > maxBytes) throw new Error(`${stat.size} bytes, more than the ${maxBytes} accepted`);
    const buf = Buffer.alloc(stat.size);
    let got = 0;
    while (got < buf.length) {
      const n = fs.readSync(fd, buf, got, buf.length - got, got);
      if (n === 0) break;
      got += n;
    }
    return buf.subarray(0, got);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Writes `data` to `dir/name` by creating a fresh temp file next to it (never through a
 * planted symlink or hard link) and renaming it over `name`. With `durable`, the temp is
 * fsynced before the rename. `tempName` must be a name only we create.
 */
export function replaceFile(dir: string, name: string, tempName: string, data: Buffer | string, durable = false): void {
  const temp = path.join(dir, tempName);
  writeNewFile(temp, data, durable);
  fs.renameSync(temp, path.join(dir, name));
}

/** Creates `file` anew (removing whatever had its name) and writes `data`; never follows a symlink. */
export function writeNewFile(file: string, data: Buffer | string, durable = false): void {
  fs.rmSync(file, { force: true }); // a leftover temp, or something planted under our temp name
  const fd = fs.openSync(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, FILE_MODE);
  try {
    fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    if (durable) fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Moves `dir/name` aside to `dir/<name>.bad-<ms>`, so it can be looked at; returns the new name. */
export function setAside(dir: string, name: string): string {
  const aside = `${name}.bad-${Date.now()}`;
  fs.renameSync(path.join(dir, name), path.join(dir, aside));
  return aside;
}

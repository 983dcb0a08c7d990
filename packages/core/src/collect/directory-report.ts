// What a multiprocess directory holds, per process, for people (the landing page): not
// on the scrape path; it stats every file and reads the start of one file per process.
import fs from 'node:fs';
import path from 'node:path';
import { ARCHIVE_ID, parseDbFileName } from '../format/names.js';
import { HEADER_BYTES, parseEntries } from '../format/entries.js';
import { judgeProcess } from './liveness.js';
import { isOpenProblem, openRegularForRead } from '../format/safe-files.js';

export type ProcessState = 'alive' | 'dead' | 'archive' | 'unknown';

export interface ProcessReport {
  /** The id in the file names: a pid (`<pid>` or `<pid>t<thread>`), `archive`, or a custom id. */
  id: string;
  /** alive / dead (to be folded), judged as the compactor judges (liveness socket, else kill(pid, 0)); `archive` for the folded dead; `unknown` when it cannot tell. */
  state: ProcessState;
  files: string[];
  bytes: number;
  /** The newest mtime of its files (approximate for mapped files: the kernel updates it at page faults, not at every store). */
  lastChange: Date;
  /** Labels all sampled entries of its smallest file carry: its process labels (PM2 app and slot, custom), or a lone series' own. */
  labels: Array<[string, string]>;
}

export interface DirectoryReport {
  directory: string;
  processes: ProcessReport[];
  /** Why the directory could not be listed, if it could not. */
  error?: string;
}

/** Stats every metrics file of `directory`, grouped by process; never rejects. */
export async function reportDirectory(directory: string): Promise<DirectoryReport> {
  let names: string[];
  try {
    names = fs.readdirSync(directory);
  } catch (err) {
    return { directory, processes: [], error: `cannot list ${directory} (${(err as NodeJS.ErrnoException).code ?? String(err)})` };
  }
  const byId = new Map<string, Array<{ name: string; size: number; mtime: Date }>>();
  for (const name of names.sort()) {
    const parsed = parseDbFileName(name);
    if (!parsed) continue;
    let stat: fs.Stats;
    try {
      stat = fs.statSync(path.join(directory, name));
    } catch {
      continue; // gone since the listing (a fold)
    }
    const files = byId.get(parsed.id) ?? [];
    files.push({ name, size: stat.size, mtime: stat.mtime });
    byId.set(parsed.id, files);
  }
  const processes: ProcessReport[] = [];
  const verdicts = await Promise.all([...byId.keys()].map((id) => judgeProcess(directory, id).catch(() => undefined)));
  for (const [index, [id, files]] of [...byId].entries()) {
    const alive = verdicts[index]?.alive;
    const state: ProcessState = id === ARCHIVE_ID ? 'archive' : alive === undefined ? 'unknown' : alive ? 'alive' : 'dead';
    processes.push({
      id,
      state,
      files: files.map((f) => f.name),
      bytes: files.reduce((sum, f) => sum + f.size, 0),
      lastChange: new Date(Math.max(...files.map((f) => f.mtime.getTime()))),
      labels: state === 'archive' ? [] : commonLabels(directory, files),
    });
  }
  return { directory, processes: processes.sort(byArchiveThenId) };
}

/** Label pairs on every sampled entry of the process's smallest file; none if it cannot be read. */
function commonLabels(directory: string, files: Array<{ name: string; size: number }>): Array<[string, string]> {
  const smallest = files.reduce((a, b) => (b.size < a.size ? b : a));
  const sampled = sampleEntryLabels(path.join(directory, smallest.name));
  if (sampled.length === 0) return [];
  let common = Object.entries(sampled[0]);
  for (const labels of sampled) common = common.filter(([name, value]) => labels[name] === value);
  return common.filter(([name]) => name !== 'le' && name !== 'quantile');
}

// Process labels are on every series, so the first entries tell them: the page reads at
// most this much of a file, whatever its size (parsing a whole 10,000-series file took ~0.3 s).
const SAMPLE_BYTES = 64 * 1024;
const SAMPLE_ENTRIES = 64;
const enough = new Error('enough entries');

/** The labels of a file's first entries (up to SAMPLE_ENTRIES within SAMPLE_BYTES); [] if unreadable. */
function sampleEntryLabels(file: string): Array<Record<string, string>> {
  const labels: Array<Record<string, string>> = [];
  let fd: number | undefined;
  try {
    const opened = openRegularForRead(file); // never blocks on a FIFO, never opens a device
    if (isOpenProblem(opened)) return [];
    fd = opened.fd;
    const buf = Buffer.alloc(SAMPLE_BYTES);
    const length = fs.readSync(fd, buf, 0, buf.length, 0);
    if (length < HEADER_BYTES) return [];
    parseEntries(buf, Math.min(buf.readInt32LE(0), length), HEADER_BYTES, (entry) => {
      labels.push(entry.labels);
      if (labels.length >= SAMPLE_ENTRIES) throw enough;
    });
  } catch {
    // Enough entries, a corrupt entry or one cut off at SAMPLE_BYTES, or an unreadable
    // file: the labels of the entries before it are what we have.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
  return labels;
}

function byArchiveThenId(a: ProcessReport, b: ProcessReport): number {
  if (a.state === 'archive' || b.state === 'archive') return a.state === 'archive' ? -1 : 1;
  const pa = Number.parseInt(a.id, 10);
  const pb = Number.parseInt(b.id, 10);
  if (Number.isFinite(pa) && Number.isFinite(pb) && pa !== pb) return pa - pb;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

// What a multiprocess directory holds, per process, for people (the landing page): not
// on the scrape path, so it stats every file and reads one small file per process.
import fs from 'node:fs';
import path from 'node:path';
import { ARCHIVE_ID, parseDbFileName } from '../format/names.js';
import { readDbFile } from '../format/reader.js';
import { isProcessAlive } from './liveness.js';

export type ProcessState = 'alive' | 'dead' | 'archive' | 'unknown';

export interface ProcessReport {
  /** The id in the file names: a pid (`<pid>` or `<pid>t<thread>`), `archive`, or a custom id. */
  id: string;
  /** alive / dead (to be folded) by kill(pid, 0); `archive` for the folded dead; `unknown` for ids that are not pids. */
  state: ProcessState;
  files: string[];
  bytes: number;
  /** The newest mtime of its files (approximate for mapped files: the kernel updates it at page faults, not at every store). */
  lastChange: Date;
  /** Labels every series of the process carries (the PM2 app and slot, custom process labels). */
  labels: Array<[string, string]>;
}

export interface DirectoryReport {
  directory: string;
  processes: ProcessReport[];
  /** Why the directory could not be listed, if it could not. */
  error?: string;
}

/** Stats every metrics file of `directory`, grouped by process; never throws. */
export function reportDirectory(directory: string): DirectoryReport {
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
  for (const [id, files] of byId) {
    const alive = isProcessAlive(id);
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

/** Label pairs on every entry of the process's smallest file; none if it cannot be read. */
function commonLabels(directory: string, files: Array<{ name: string; size: number }>): Array<[string, string]> {
  const smallest = files.reduce((a, b) => (b.size < a.size ? b : a));
  let entries;
  try {
    entries = readDbFile(path.join(directory, smallest.name));
  } catch {
    return [];
  }
  if (entries.length === 0) return [];
  let common = Object.entries(entries[0].labels);
  for (const entry of entries) common = common.filter(([name, value]) => entry.labels[name] === value);
  return common.filter(([name]) => name !== 'le' && name !== 'quantile');
}

function byArchiveThenId(a: ProcessReport, b: ProcessReport): number {
  if (a.state === 'archive' || b.state === 'archive') return a.state === 'archive' ? -1 : 1;
  const pa = Number.parseInt(a.id, 10);
  const pb = Number.parseInt(b.id, 10);
  if (Number.isFinite(pa) && Number.isFinite(pb) && pa !== pb) return pa - pb;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

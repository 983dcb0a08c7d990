// What happens to a process's files when it exits.
import fs from 'node:fs';
import path from 'node:path';
import { GAUGE_MODES, isLiveMode, parseDbFileName } from '../format/names.js';

/**
 * Python's mark_process_dead: deletes the live-gauge files of process `id`, so its
 * `live*` gauges leave the merged output. Its counters and other files stay (they must
 * not go backwards). Returns the names deleted.
 */
export function markProcessDead(directory: string, id: string | number): string[] {
  const deleted: string[] = [];
  for (const mode of GAUGE_MODES) {
    if (!isLiveMode(mode)) continue;
    const name = `gauge_${mode}_${id}.db`;
    try {
      fs.unlinkSync(path.join(directory, name));
      deleted.push(name);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return deleted;
}

/** Deletes every metrics file in `directory` (what a previous run left). Returns the count. */
export function clearDirectory(directory: string): number {
  let count = 0;
  for (const name of fs.readdirSync(directory)) {
    if (!parseDbFileName(name) && !name.endsWith('.db')) continue;
    fs.rmSync(path.join(directory, name), { force: true });
    count++;
  }
  return count;
}

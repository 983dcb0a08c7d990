// Python's mark_process_dead, for callers that manage processes themselves. (The
// collector's compactor does more: it folds a dead process's counters into the archives.)
import fs from 'node:fs';
import path from 'node:path';
import { GAUGE_MODES, isLiveMode } from '../format/names.js';

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

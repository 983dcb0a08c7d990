// Which processes behind the files in a directory are gone.
import fs from 'node:fs';
import { ARCHIVE_ID, isRetiredProcessId, parseDbFileName } from '../format/names.js';

/**
 * true / false when the owner of `id` is known to be alive / dead; undefined for ids
 * that are not ours to judge (archives, custom ids of Python processes).
 */
export function isProcessAlive(id: string): boolean | undefined {
  if (id === ARCHIVE_ID) return undefined;
  if (isRetiredProcessId(id)) return false;
  const match = /^(\d+)(t\d+)?$/.exec(id);
  if (!match) return undefined;
  try {
    process.kill(Number(match[1]), 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by another user
  }
}

/** Ids of processes with files in `dir` that are dead (the liveness sweep). */
export function findDeadProcessIds(dir: string): string[] {
  const ids = new Set<string>();
  for (const name of fs.readdirSync(dir)) {
    const parsed = parseDbFileName(name);
    if (parsed) ids.add(parsed.id);
  }
  return [...ids].filter((id) => isProcessAlive(id) === false);
}

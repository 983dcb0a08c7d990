// How this process writes its metrics files: `mmap` (stores into a shared mapping) where
// the addon loads, else `fallback` (written-memory.ts). PROM_MULTIPROC_STORAGE=auto (the
// default), mmap (fail where it cannot load) or fallback chooses; it is read once.
import type { StorageMode } from './file-memory.js';
import { nativeDir, loadMmap, mmapFailure } from './mmap.js';
import { FLUSH_INTERVAL_MS } from './written-memory.js';

export interface StorageChoice {
  mode: StorageMode;
  /** Why the fallback is used; undefined for mmap. */
  reason?: string;
}

let chosen: StorageChoice | undefined;
const FORCED = 'PROM_MULTIPROC_STORAGE=fallback';

export function chooseStorageMode(env: NodeJS.ProcessEnv = process.env): StorageChoice {
  const wanted = (env.PROM_MULTIPROC_STORAGE ?? '').trim() || 'auto';
  if (wanted === 'fallback') return { mode: 'fallback', reason: FORCED };
  if (wanted !== 'auto' && wanted !== 'mmap') {
    throw new Error(`prom-multiproc: PROM_MULTIPROC_STORAGE must be auto, mmap or fallback, not "${wanted}"`);
  }
  if (loadMmap()) return { mode: 'mmap' };
  const reason = `no mmap binary loads on ${process.platform}-${process.arch}: ${mmapFailure()}`;
  if (wanted === 'mmap') throw new Error(`prom-multiproc: PROM_MULTIPROC_STORAGE=mmap, but ${reason}`);
  return { mode: 'fallback', reason };
}

/** This process's choice, made on first use. */
export function processStorageMode(): StorageChoice {
  chosen ??= chooseStorageMode();
  return chosen;
}

/** The one line a process logs when it writes in fallback mode. */
export function fallbackNotice(directory: string, choice: StorageChoice): string {
  const forced = choice.reason === FORCED;
  return (
    `prom-multiproc: storage mode fallback in process ${process.pid} (${choice.reason}): values are kept in memory and ` +
    `written to ${directory} every ${FLUSH_INTERVAL_MS} ms and at exit; a SIGKILL or a crash loses the updates of the ` +
    'last period.' +
    (forced ? '' : ` For the mmap mode here, build the addon: npx node-gyp@11 rebuild -C ${nativeDir()} (needs a C compiler, make and python3).`)
  );
}

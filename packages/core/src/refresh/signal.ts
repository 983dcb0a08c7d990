// The refresh signal: how a collector asks every live process of a directory to refresh
// the values it computes on demand (prom-client mirrors, `collect` callbacks) without
// waiting for any of them. The collector rewrites a dot-file in the directory (Python's
// collector ignores dot-files); processes watch the directory (inotify on Linux) and
// refresh when they can. One small write, no IPC, no reply: it works the same under
// node:cluster, PM2 and `prom-multiproc serve`.
import fs from 'node:fs';
import { replaceFile } from '../format/safe-files.js';

export const REFRESH_SIGNAL_FILE = '.prom-multiproc-refresh';

/**
 * Asks the processes writing to `directory` to refresh. Never waits for them; returns
 * false if the write failed. The signal is a fresh file renamed over the old one, so a
 * symlink or hard link someone planted under its name is replaced, never written through.
 */
export function sendRefreshSignal(directory: string): boolean {
  try {
    replaceFile(directory, REFRESH_SIGNAL_FILE, `${REFRESH_SIGNAL_FILE}.${process.pid}.tmp`, `${Date.now()}\n`);
    return true;
  } catch {
    return false; // a read-only directory or a vanished one: processes still refresh on their timer
  }
}

/**
 * Calls `onSignal` whenever a collector signals `directory`. The watch does not keep
 * the process alive. Returns a function that stops watching, or undefined when the
 * directory cannot be watched (then the caller's timer is the only refresh).
 */
export function watchRefreshSignal(directory: string, onSignal: () => void): (() => void) | undefined {
  let watcher: fs.FSWatcher;
  try {
    watcher = fs.watch(directory, { persistent: false }, (_event, filename) => {
      if (filename === REFRESH_SIGNAL_FILE) onSignal();
    });
  } catch {
    return undefined;
  }
  watcher.on('error', () => watcher.close());
  return () => watcher.close();
}

// Worker side of refreshing. Most values are written to the files at every update; a few
// are computed on demand: prom-client registries mirrored by the bridge, and `collect`
// callbacks (the default metrics). In a process that writes to a multiprocess directory
// nobody scrapes its registry, so those are refreshed into its files here:
//   - every `intervalMs` (default 1 s): the staleness bound;
//   - when a collector sends the refresh signal, just before a predicted scrape;
//   - at graceful exit: 'beforeExit' refreshes fully;
//   - at every other end a process can observe (process.exit(), the 'exit' event, and a
//     terminating signal: SIGINT from PM2, SIGTERM, SIGHUP, ...) each task's synchronous
//     best effort runs. Signals go through `signal-exit`, which runs us only when the app has
//     no handler of its own, and then re-raises the signal: the process still dies of it,
//     as it would without us (exit status, PM2's and cluster's view unchanged). An app with
//     its own handler decides when to exit; its process.exit() runs us on the way out.
// Timers and the watch never keep the process alive.
import { onExit } from 'signal-exit';
import { currentStorage } from '../storage/storage.js';
import { watchRefreshSignal } from './signal.js';
import { processState } from '../process-state.js';

export interface RefreshTask {
  /** Writes this task's current values into the files. */
  refresh(): Promise<void>;
  /** The same, synchronously, at process exit where nothing asynchronous can run. */
  refreshSync?(): void;
}

export const DEFAULT_REFRESH_INTERVAL_MS = 1000;

export class WorkerRefresh {
  private readonly tasks = new Set<RefreshTask>();
  /** The shortest period any caller asked for; the default when none did. */
  private requestedMs: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopWatching: (() => void) | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private flushedBeforeExit = false;
  private readonly reported = new Set<string>();
  /** Completed refresh rounds (for tests). */
  rounds = 0;

  constructor(readonly directory: string, private readonly log: (message: string) => void = (m) => console.warn(m)) {}

  /** Adds a task. Of the intervals callers ask for, the shortest (the tightest bound) wins. */
  add(task: RefreshTask, intervalMs?: number): void {
    if (intervalMs !== undefined) {
      if (!(intervalMs > 0)) throw new Error(`prom-multiproc: refresh interval must be a positive number of ms, got ${String(intervalMs)}`);
      this.requestedMs = Math.min(intervalMs, this.requestedMs ?? Infinity);
    }
    this.tasks.add(task);
    this.start();
  }

  remove(task: RefreshTask): void {
    this.tasks.delete(task);
    if (this.tasks.size === 0) this.stop();
  }

  /** The refresh period in ms: the staleness bound of refreshed values. */
  get period(): number {
    return this.requestedMs ?? DEFAULT_REFRESH_INTERVAL_MS;
  }

  /** Refreshes every task; concurrent calls share one round (plus one more if asked during it). */
  refresh(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        for (const task of [...this.tasks]) {
          try {
            await task.refresh();
          } catch (err) {
            this.logOnce(`prom-multiproc: refreshing metrics failed: ${err instanceof Error ? err.message : String(err)}`);
          }
        }
        this.rounds++;
      } while (this.again);
    })().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** Synchronous best effort of every task (the exit and signal path). */
  refreshSync(): void {
    for (const task of this.tasks) {
      try {
        task.refreshSync?.();
      } catch {
        /* exiting: the last periodic refresh stands */
      }
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.stopWatching?.();
    this.stopWatching = undefined;
  }

  private start(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = setInterval(() => void this.refresh(), this.period);
    this.timer.unref();
    this.stopWatching ??= watchRefreshSignal(this.directory, () => void this.refresh());
    hookExit();
  }

  /** 'beforeExit' fires again after the work it schedules; refresh once. */
  onBeforeExit(): void {
    if (this.flushedBeforeExit || this.tasks.size === 0) return;
    this.flushedBeforeExit = true;
    void this.refresh();
  }

  private logOnce(message: string): void {
    if (this.reported.has(message)) return;
    this.reported.add(message);
    this.log(message);
  }
}

// One refresher per process, even with both builds of this package loaded.
const state = processState('workerRefresh', () => ({ current: undefined as WorkerRefresh | undefined, exitHooked: false }));

function hookExit(): void {
  if (state.exitHooked) return;
  state.exitHooked = true;
  process.on('beforeExit', () => state.current?.onBeforeExit());
  // Returning nothing: signal-exit re-raises a signal nobody else handles.
  onExit(() => {
    state.current?.refreshSync();
  });
}

/**
 * This process's refresher, or undefined when it keeps values in memory (no directory):
 * then its registries are scraped directly and run their callbacks themselves.
 */
export function workerRefresh(): WorkerRefresh | undefined {
  const directory = currentStorage().directory;
  if (directory === undefined) return undefined;
  if (!state.current || state.current.directory !== directory) {
    state.current?.stop();
    state.current = new WorkerRefresh(directory);
  }
  return state.current;
}

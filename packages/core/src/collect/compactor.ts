// The one process per directory that folds dead processes (a cross-process lock decides
// which). Others serve read-only and try to take over when the holder goes away.
import fs from 'node:fs';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import { FALLBACK_MARKER_PREFIX, isOwnMetricsFileName, isOwnSideFileName, parseDbFileName, parseSideFileName } from '../format/names.js';
import { describeFileType, setAside } from '../format/safe-files.js';
import { DIRECTORY_MODE } from '../format/modes.js';
import type { Family } from './exposition.js';
import { compactDeadProcesses, recoverCompaction } from './compaction.js';
import type { CheckedKeys } from './fold.js';
import { ARCHIVE_TEMP, JOURNAL_NAME, JOURNAL_TEMP_NAME } from './journal.js';
import { judgeProcesses, removeOrphanSockets, removeStaleSocket, stillDead } from './liveness.js';

export type StartupPolicy = 'fold' | 'clear';

export interface CompactorOptions {
  /**
   * What to do with files a previous run left: `fold` (default) folds those of dead
   * processes into the archives and keeps the rest, so a running deployment's counters
   * never go backwards; `clear` deletes every metrics file (a fresh start).
   */
  startup?: StartupPolicy;
  /** Liveness sweep period in ms (default 10 s; 0 disables the timer). */
  sweepIntervalMs?: number;
  log?: (message: string) => void;
}

/** The process id in a metrics or side file name the compaction reported. */
const fileProcessId = (name: string): string | undefined => parseDbFileName(name)?.id ?? parseSideFileName(name)?.id;

const LOCK_NAME = '.prom-multiproc-compactor.lock';
/** A lock not touched for this long is stale (its holder updates it every 10 s). */
const LOCK_STALE_MS = 30_000;

/** The names `startup: 'clear'` removes: only files our writers and compactor create. */
function isClearedOnStartup(name: string): boolean {
  return isOwnMetricsFileName(name) || isOwnSideFileName(name) || name === JOURNAL_NAME || name === JOURNAL_TEMP_NAME || ARCHIVE_TEMP.test(name)
    || (name.startsWith(FALLBACK_MARKER_PREFIX) && /^[A-Za-z0-9.-]+$/.test(name.slice(FALLBACK_MARKER_PREFIX.length)));
}

export class Compactor {
  private release: (() => Promise<void>) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private compactions = 0;
  private folded = 0;
  private errors = 0;
  private lastFoldAt: Date | undefined;
  private filesSkipped = 0;
  private readonly logged = new Set<string>();
  private saidReadOnly = false;
  private lastFailure = '';
  private readonly checkedKeys: CheckedKeys = new Set();
  private readonly log: (message: string) => void;

  private constructor(readonly directory: string, private readonly options: CompactorOptions) {
    this.log = options.log ?? ((m) => console.warn(m));
  }

  /** Never rejects: a lock or start-up problem is logged and counted, and the collector serves read-only. */
  static async start(directory: string, options: CompactorOptions = {}): Promise<Compactor> {
    const compactor = new Compactor(directory, options);
    if (await compactor.tryTakeLock()) {
      await compactor.startUp();
      // Stale liveness sockets whose files are gone (e.g. cleared): at start-up only.
      await removeOrphanSockets(directory).catch(() => {});
    }
    const period = options.sweepIntervalMs ?? 10_000;
    if (period > 0) {
      compactor.timer = setInterval(() => void compactor.tick(), period);
      compactor.timer.unref();
    }
    return compactor;
  }

  /** True when this collector holds the lock and compacts; false when it serves read-only. */
  get isCompactor(): boolean {
    return this.release !== undefined;
  }

  /**
   * Folds every process with files here that is gone (the sweep). Cheap when nothing
   * died: a directory listing and one connect or kill(pid, 0) per process. Resolves to
   * the ids folded. Sweeps run one at a time, in call order.
   */
  sweep(): Promise<string[]> {
    const next = this.sweeping.then(() => this.sweepOnce());
    this.sweeping = next.catch(() => []);
    return next;
  }

  private sweeping: Promise<unknown> = Promise.resolve();

  private async sweepOnce(): Promise<string[]> {
    if (!this.isCompactor) return [];
    try {
      const verdicts = (await judgeProcesses(this.directory)).filter((v) => v.alive === false);
      if (verdicts.length === 0 || !this.isCompactor) return [];
      const byId = new Map(verdicts.map((v) => [v.id, v]));
      const result = compactDeadProcesses(this.directory, byId.keys(), {
        checkedKeys: this.checkedKeys,
        isStillDead: (id) => stillDead(this.directory, byId.get(id)!),
      });
      this.filesSkipped += result.skipped.length;
      for (const problem of result.problems) this.logOnce(`prom-multiproc: compaction: ${problem}`);
      // A process with a file left in place (skipped) or reclaimed is not gone yet: tried again next sweep.
      const handled = new Set([...result.folded, ...result.dropped].map(fileProcessId));
      const left = new Set(result.skipped.map(fileProcessId));
      const gone = verdicts.filter((v) => handled.has(v.id) && !left.has(v.id));
      for (const verdict of gone) removeStaleSocket(this.directory, verdict);
      if (result.folded.length + result.dropped.length > 0) {
        this.compactions++;
        this.lastFoldAt = new Date();
      }
      this.folded += gone.length;
      return gone.map((v) => v.id);
    } catch (err) {
      this.fail('compaction', err);
      return [];
    }
  }

  /** What the landing page shows. */
  state(): { compacting: boolean; compactions: number; folded: number; errors: number; lastFoldAt: Date | undefined } {
    return { compacting: this.isCompactor, compactions: this.compactions, folded: this.folded, errors: this.errors, lastFoldAt: this.lastFoldAt };
  }

  selfMetrics(): Family[] {
    const counter = (name: string, help: string, value: number): Family => ({
      name, help, type: 'counter', samples: [{ name: `${name}_total`, labels: [], value }],
    });
    return [
      {
        name: 'prom_multiproc_compactor', help: '1 if this collector compacts the directory, 0 if it serves read-only.', type: 'gauge',
        samples: [{ name: 'prom_multiproc_compactor', labels: [], value: this.isCompactor ? 1 : 0 }],
      },
      counter('prom_multiproc_compactions', 'Compactions that folded dead processes into the archives.', this.compactions),
      counter('prom_multiproc_processes_folded', 'Dead processes folded into the archives.', this.folded),
      counter('prom_multiproc_compaction_errors', 'Compactions that failed (retried at the next sweep).', this.errors),
      counter('prom_multiproc_compaction_files_skipped', 'Dead processes\' files left in place by a sweep, unfolded (not regular, unreadable, or not deletable by this collector); each sweep counts.', this.filesSkipped),
    ];
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    const release = this.release;
    this.release = undefined;
    await release?.().catch(() => {});
  }

  /** A problem that persists (a file we may not delete) is logged once, not at every sweep. */
  private logOnce(message: string): void {
    if (this.logged.has(message)) return;
    if (this.logged.size > 10_000) this.logged.clear();
    this.logged.add(message);
    this.log(message);
  }

  /** Runs on a timer: must never reject (an unhandled rejection would end the process). */
  private async tick(): Promise<void> {
    try {
      if (!this.isCompactor && (await this.tryTakeLock())) {
        this.log(`prom-multiproc: took over compaction of ${this.directory}`);
        await this.startUp();
      }
      await this.sweep();
    } catch (err) {
      this.fail('compaction sweep', err);
    }
  }

  /** Counts and logs a failure (each distinct message once); the next sweep retries. */
  private fail(what: string, err: unknown): void {
    this.errors++;
    const message = `prom-multiproc: ${what} of ${this.directory} failed, will retry: ${err instanceof Error ? err.message : String(err)}`;
    if (message !== this.lastFailure) this.log(message);
    this.lastFailure = message;
  }

  /**
   * A lock path that is not a lock we could have made stops proper-lockfile for good: a
   * regular file or symlink (ENOTDIR when it tries to remove it), or a directory dated in
   * the future (never stale). Set the first aside; treat the second as stale.
   */
  private clearTamperedLock(): void {
    const lockPath = path.join(this.directory, LOCK_NAME);
    const stat = fs.lstatSync(lockPath, { throwIfNoEntry: false });
    if (!stat) return;
    if (!stat.isDirectory()) {
      const aside = setAside(this.directory, LOCK_NAME);
      this.log(`prom-multiproc: the compaction lock ${lockPath} was ${describeFileType(stat)}, not a lock directory; set aside as ${aside}`);
    } else if (stat.mtimeMs > Date.now() + LOCK_STALE_MS) {
      const aside = setAside(this.directory, LOCK_NAME);
      this.log(`prom-multiproc: the compaction lock ${lockPath} is dated ${new Date(stat.mtimeMs).toISOString()}, in the future; taken as stale and set aside as ${aside}`);
    }
  }

  private async tryTakeLock(): Promise<boolean> {
    try {
      this.clearTamperedLock();
      this.release = await lockfile.lock(this.directory, {
        lockfilePath: path.join(this.directory, LOCK_NAME),
        stale: LOCK_STALE_MS,
        update: 10_000,
        realpath: false,
        onCompromised: (err) => {
          this.release = undefined;
          this.log(`prom-multiproc: lost the compaction lock of ${this.directory} (${err.message}); serving read-only`);
        },
      });
      // proper-lockfile makes the lock with mkdir's default mode: take group/other write away.
      fs.chmod(path.join(this.directory, LOCK_NAME), DIRECTORY_MODE, () => {});
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') {
        // The directory removed, not writable, or the lock path tampered with again.
        this.fail('taking the compaction lock', err);
        if (!this.saidReadOnly) {
          this.saidReadOnly = true;
          this.log(`prom-multiproc: cannot take the compaction lock of ${this.directory}; this collector serves read-only and retries at each sweep`);
        }
        return false;
      }
      if (this.release === undefined && !this.saidReadOnly) {
        this.saidReadOnly = true;
        this.log(`prom-multiproc: another collector compacts ${this.directory}; this one serves read-only`);
      }
      return false;
    }
  }

  private async startUp(): Promise<void> {
    try {
      if (this.options.startup === 'clear') this.clear();
      else {
        const recovered = recoverCompaction(this.directory, (problem) => this.log(`prom-multiproc: ${problem}`));
        if (recovered !== 'nothing') this.log(`prom-multiproc: an interrupted compaction was ${recovered}`);
        const folded = await this.sweep();
        if (folded.length > 0) this.log(`prom-multiproc: folded ${folded.length} processes a previous run left`);
      }
    } catch (err) {
      this.fail('start-up', err);
    }
  }

  /** startup=clear: removes the files we create, nothing else (docs/security.md). */
  private clear(): void {
    let removed = 0;
    for (const name of fs.readdirSync(this.directory)) {
      if (!isClearedOnStartup(name)) continue;
      const file = path.join(this.directory, name);
      try {
        const stat = fs.lstatSync(file);
        if (stat.isDirectory()) {
          this.log(`prom-multiproc: startup=clear left ${file}: a directory, not a metrics file`);
          continue;
        }
        fs.rmSync(file, { force: true });
        removed++;
      } catch (err) {
        this.fail(`startup=clear removing ${name}`, err);
      }
    }
    if (removed > 0) this.log(`prom-multiproc: startup=clear removed ${removed} files a previous run left in ${this.directory}`);
  }
}

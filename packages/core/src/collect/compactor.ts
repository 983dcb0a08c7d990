// The one process per directory that folds dead processes (a cross-process lock decides
// which). Others serve read-only and try to take over when the holder goes away.
import fs from 'node:fs';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import type { Family } from './exposition.js';
import { ARCHIVE_TEMP, JOURNAL_NAME, compactDeadProcesses, recoverCompaction } from './compaction.js';
import type { CheckedKeys } from './fold.js';
import { findDeadProcessIds } from './liveness.js';

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

const LOCK_NAME = '.prom-multiproc-compactor.lock';

export class Compactor {
  private release: (() => Promise<void>) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private compactions = 0;
  private folded = 0;
  private errors = 0;
  private lastFoldAt: Date | undefined;
  private saidReadOnly = false;
  private readonly checkedKeys: CheckedKeys = new Set();
  private readonly log: (message: string) => void;

  private constructor(readonly directory: string, private readonly options: CompactorOptions) {
    this.log = options.log ?? ((m) => console.warn(m));
  }

  static async start(directory: string, options: CompactorOptions = {}): Promise<Compactor> {
    const compactor = new Compactor(directory, options);
    if (await compactor.tryTakeLock()) compactor.startUp();
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
   * died: a directory listing and one kill(pid, 0) per process. Returns ids folded.
   */
  sweep(): string[] {
    if (!this.isCompactor) return [];
    try {
      const dead = findDeadProcessIds(this.directory);
      if (dead.length === 0) return [];
      const result = compactDeadProcesses(this.directory, dead, { checkedKeys: this.checkedKeys });
      this.compactions++;
      this.folded += dead.length;
      this.lastFoldAt = new Date();
      for (const problem of result.problems) this.log(`prom-multiproc: compaction: ${problem}`);
      return dead;
    } catch (err) {
      this.errors++;
      this.log(`prom-multiproc: compaction failed, will retry: ${err instanceof Error ? err.message : String(err)}`);
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
    ];
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    const release = this.release;
    this.release = undefined;
    await release?.().catch(() => {});
  }

  private async tick(): Promise<void> {
    if (!this.isCompactor && (await this.tryTakeLock())) {
      this.log(`prom-multiproc: took over compaction of ${this.directory}`);
      this.startUp();
    }
    this.sweep();
  }

  private async tryTakeLock(): Promise<boolean> {
    try {
      this.release = await lockfile.lock(this.directory, {
        lockfilePath: path.join(this.directory, LOCK_NAME),
        stale: 30_000,
        update: 10_000,
        realpath: false,
        onCompromised: (err) => {
          this.release = undefined;
          this.log(`prom-multiproc: lost the compaction lock of ${this.directory} (${err.message}); serving read-only`);
        },
      });
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') throw err;
      if (this.release === undefined && !this.saidReadOnly) {
        this.saidReadOnly = true;
        this.log(`prom-multiproc: another collector compacts ${this.directory}; this one serves read-only`);
      }
      return false;
    }
  }

  private startUp(): void {
    if (this.options.startup === 'clear') {
      let removed = 0;
      for (const name of fs.readdirSync(this.directory)) {
        if (name.endsWith('.db') || name.startsWith(JOURNAL_NAME) || ARCHIVE_TEMP.test(name)) {
          fs.rmSync(path.join(this.directory, name), { force: true });
          removed++;
        }
      }
      if (removed > 0) this.log(`prom-multiproc: startup=clear removed ${removed} files a previous run left in ${this.directory}`);
      return;
    }
    const recovered = recoverCompaction(this.directory);
    if (recovered !== 'nothing') this.log(`prom-multiproc: an interrupted compaction was ${recovered}`);
    const folded = this.sweep();
    if (folded.length > 0) this.log(`prom-multiproc: folded ${folded.length} processes a previous run left`);
  }
}

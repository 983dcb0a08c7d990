// Re-reads the web config when it or a file it names changes (certificates rotate). A
// timer compares each file's identity and times (stat) with those it had when it was
// read: that sees a file replaced by rename (how certificate tools and Kubernetes secrets
// rotate), one rewritten in place, and one that comes back after it was gone, and it
// cannot miss a change made between reading and watching. A configuration that no longer
// loads keeps the last good one in force and is logged once, until a good one loads.
import { fileVersion, loadWebConfig, type WebConfig } from './web-config.js';

/** Applies a new configuration; returns why it cannot be applied without a restart, or undefined. */
export type ApplyWebConfig = (next: WebConfig) => string | undefined;

export class WebConfigWatch {
  /** 1 while the last reload succeeded (or none failed since start), 0 after a failed one. */
  lastReloadSuccessful = 1;
  private lastProblem: string | undefined;
  /** Versions of the files at the last attempt, good or bad: a bad file is tried again only when it changes. */
  private tried: Map<string, string>;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private current: WebConfig,
    private readonly apply: ApplyWebConfig,
    private readonly log: (message: string) => void,
    intervalMs = 1_000,
  ) {
    this.tried = current.files;
    this.timer = setInterval(() => this.check(), intervalMs);
    this.timer.unref();
  }

  get config(): WebConfig {
    return this.current;
  }

  /** Reloads if a file changed since the last attempt. */
  check(): void {
    for (const [file, version] of this.tried) {
      if (fileVersion(file) !== version) {
        this.reload();
        return;
      }
    }
  }

  /** Loads the file again now; true if the new configuration is in force. */
  reload(): boolean {
    // Taken before reading: a change while this attempt reads is seen by the next check.
    const before = new Map([...this.current.files.keys(), ...this.tried.keys()].map((file) => [file, fileVersion(file)]));
    let next: WebConfig;
    try {
      next = loadWebConfig(this.current.file);
    } catch (err) {
      this.tried = before;
      this.failed(err instanceof Error ? err.message : String(err));
      return false;
    }
    this.tried = next.files;
    let refusal: string | undefined;
    try {
      refusal = this.apply(next);
    } catch (err) {
      // Checked by loadWebConfig, so not expected; but a timer callback must never throw.
      refusal = `cannot be applied: ${err instanceof Error ? err.message : String(err)}`;
    }
    if (refusal) {
      this.failed(`web config ${next.file}: ${refusal}`);
      return false;
    }
    this.current = next;
    this.lastProblem = undefined;
    this.lastReloadSuccessful = 1;
    this.log(`prom-multiproc: web config ${next.file} reloaded`);
    return true;
  }

  close(): void {
    clearInterval(this.timer);
  }

  private failed(problem: string): void {
    this.lastReloadSuccessful = 0;
    if (problem !== this.lastProblem) this.log(`prom-multiproc: ${problem}; keeping the previous web config`);
    this.lastProblem = problem;
  }
}

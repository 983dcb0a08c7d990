// Collector side of refresh-before-scrape. A scrape never waits on a worker (promise 4),
// so a refresh asked for at scrape time would only help the next scrape. Prometheus
// scrapes a target at a fixed period, though: the scheduler learns the period from the
// scrapes it sees and sends the refresh signal `lead` before the next one is due. The
// scrape itself still only reads files; a worker that is busy when the signal comes
// refreshes later (its timer bounds the staleness either way).
import { sendRefreshSignal } from './signal.js';

/** Scrapes closer together than this are not a period worth predicting. */
const MIN_PERIOD_MS = 200;
/** Two successive gaps further apart than this share are not a steady period. */
const PERIOD_TOLERANCE = 0.25;

/** How long before the predicted scrape the signal goes out: 5% of the period, 50–500 ms. */
export function refreshLeadMs(periodMs: number): number {
  return Math.min(500, Math.max(50, periodMs * 0.05));
}

export class RefreshScheduler {
  private lastScrape: number | undefined;
  private lastGap: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Signals sent so far (for tests and self-metrics). */
  signalsSent = 0;

  constructor(
    private readonly directory: string,
    private readonly send: (directory: string) => boolean = sendRefreshSignal,
    private readonly now: () => number = Date.now,
  ) {}

  /** Called at the start of every scrape; cheap, never throws, never waits. */
  noteScrape(): void {
    const at = this.now();
    const gap = this.lastScrape === undefined ? undefined : at - this.lastScrape;
    const previous = this.lastGap;
    this.lastScrape = at;
    this.lastGap = gap;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    // Predict only from two gaps that agree: a second scraper at another phase, or a
    // person with curl, makes the gaps disagree, and a wrong prediction would send the
    // signal far too early. Then only the workers' own timers refresh.
    if (gap === undefined || previous === undefined || gap < MIN_PERIOD_MS) return;
    if (Math.abs(gap - previous) > PERIOD_TOLERANCE * Math.max(gap, previous)) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.send(this.directory)) this.signalsSent++;
    }, gap - refreshLeadMs(gap));
    this.timer.unref();
  }

  /** The period learned from the last two gaps, if they agree. */
  get predictedPeriodMs(): number | undefined {
    return this.timer ? this.lastGap : undefined;
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

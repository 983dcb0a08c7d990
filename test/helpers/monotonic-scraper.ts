// A scraper that runs beside a test of process churn and records every decrease or
// disappearance of a monotonic series (promise 2: counters never go backwards).
import { httpGet } from './cluster.js';
import { sleep } from './pm2.js';

/**
 * Scrapes the module every 100 ms; records every decrease or disappearance of a series of
 * an app family typed counter, histogram or summary (the module's own prom_multiproc_* and
 * pm2_* start over with the module process, like any process's counters).
 */
export class MonotonicScraper {
  scrapes = 0;
  failures = 0;
  allowFailures = false;
  readonly violations: string[] = [];
  private readonly last = new Map<string, number>();
  private running = true;
  private readonly loop: Promise<void>;

  constructor(private readonly url: string) {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        const res = await httpGet(this.url);
        if (res.status !== 200) throw new Error(`status ${res.status}`);
        this.check(res.body);
      } catch (err) {
        this.failures++;
        if (!this.allowFailures) this.violations.push(`scrape failed: ${err instanceof Error ? err.message : String(err)}`);
      }
      await sleep(100);
    }
  }

  private check(body: string): void {
    this.scrapes++;
    const seen = new Set<string>();
    let monotonic = false;
    for (const line of body.split('\n')) {
      const type = /^# TYPE (\S+) (\S+)$/.exec(line);
      if (type) {
        monotonic = ['counter', 'histogram', 'summary'].includes(type[2]) && !/^(prom_multiproc|pm2)_/.test(type[1]);
        continue;
      }
      if (!monotonic || line === '' || line.startsWith('#')) continue;
      const at = line.lastIndexOf(' ');
      const series = line.slice(0, at);
      const value = Number(line.slice(at + 1));
      seen.add(series);
      const before = this.last.get(series);
      if (before !== undefined && value < before) this.violations.push(`${series} went from ${before} to ${value}`);
      this.last.set(series, value);
    }
    for (const series of this.last.keys()) if (!seen.has(series)) this.violations.push(`${series} disappeared`);
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}

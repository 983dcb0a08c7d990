// Summary quantiles in multiprocess mode: merged from every process's window of
// exponential buckets, within the stated bound; the window slides; rotation reuses entries.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Collector, Summary, configureStorage, relativeErrorBound, sideFileName } from '../src/index.js';
import { MappedFile } from '../src/format/mapped-file.js';
import { encodeKey } from '../src/format/key.js';
import { SUMMARY_SCHEMA, SummaryWindowWriter } from '../src/metrics/summary-window.js';
import { mergeSummaryWindows } from '../src/collect/summary-merge.js';
import { flushWrites, tempDir } from './helpers/fixtures.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});
const newDir = () => {
  const d = tempDir();
  dirs.push(d);
  return d;
};

function valuesFor(worker: number, n: number): number[] {
  let seed = 77 + worker;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  // Different distributions: uniform, log-uniform, a narrow bump, and some zeros and negatives.
  return Array.from({ length: n }, (_, i) => {
    const r = random();
    switch (worker) {
      case 0: return 100 * r;
      case 1: return 10 ** (r * 4 - 2);
      case 2: return 5 + r;
      default: return i % 5 === 0 ? 0 : -1 - 3 * r;
    }
  });
}

function exactQuantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1];
}

const PERCENTILES = [0.01, 0.1, 0.5, 0.9, 0.99, 0.999];

function quantiles(text: string, name: string): Map<number, number> {
  const found = new Map<number, number>();
  for (const m of text.matchAll(new RegExp(`^${name}\\{quantile="([^"]+)"\\} (\\S+)$`, 'gm'))) found.set(Number(m[1]), Number(m[2]));
  return found;
}

describe('summary quantiles in multiprocess mode', () => {
  it('merges 4 processes with different distributions within the stated bound of the exact quantiles', async () => {
    const dir = newDir();
    const all: number[] = [];
    for (let w = 0; w < 4; w++) {
      const values = valuesFor(w, 2000 + 500 * w);
      all.push(...values);
      const script = `
        import('@prom-multiproc/core').then(({ configureStorage, Summary }) => {
          configureStorage({ directory: process.argv[1], processId: process.argv[2] });
          const s = new Summary({ name: 'job_size', help: 'h', percentiles: ${JSON.stringify(PERCENTILES)}, maxAgeSeconds: 600, ageBuckets: 5 });
          for (const v of JSON.parse(process.argv[3])) s.observe(v);
        });`;
      const result = spawnSync(process.execPath, ['-e', script, dir, String(2000 + w), JSON.stringify(values)], { cwd: __dirname, encoding: 'utf8' });
      expect(result.status, result.stderr).toBe(0);
    }
    const { body } = await new Collector({ directory: dir }).scrape();
    const found = quantiles(body, 'job_size');
    expect([...found.keys()]).toEqual(PERCENTILES);
    const bound = relativeErrorBound(SUMMARY_SCHEMA);
    expect(bound).toBeLessThan(0.011);
    for (const q of PERCENTILES) {
      const exact = exactQuantile(all, q);
      const estimate = found.get(q)!;
      if (exact === 0) expect(estimate).toBe(0);
      else expect(Math.abs(estimate - exact) / Math.abs(exact), `q=${q}: ${estimate} vs ${exact}`).toBeLessThanOrEqual(bound);
    }
    expect(body).toMatch(new RegExp(`^job_size_count ${all.length}\\.0$`, 'm'));
  });

  it('after maxAgeSeconds without observations, the quantiles reflect only newer ones', async () => {
    const dir = newDir();
    configureStorage({ directory: dir, processId: 'window1' });
    const s = new Summary({ name: 'slide', help: 'h', percentiles: [0, 0.5, 1], maxAgeSeconds: 2, ageBuckets: 2 });
    for (let i = 0; i < 100; i++) s.observe(1000 + i);
    flushWrites();
    const collector = new Collector({ directory: dir });
    let found = quantiles((await collector.scrape()).body, 'slide');
    expect(found.get(0)!).toBeGreaterThan(990);
    await new Promise((r) => setTimeout(r, 2500));
    for (let i = 0; i < 100; i++) s.observe(1 + i / 100);
    flushWrites();
    found = quantiles((await collector.scrape()).body, 'slide');
    expect(found.get(1)!).toBeLessThan(2.1);
    expect(found.get(0)!).toBeGreaterThan(0.98);
  });

  it('keeps the file size after 1,000 rotations equal to that after ageBuckets rotations', () => {
    const dir = newDir();
    const file = MappedFile.open(path.join(dir, sideFileName('summarywindow', '4242')));
    let clock = 1_000_000;
    const ageBuckets = 5;
    const writer = new SummaryWindowWriter(file, 'rot', (sample) => encodeKey('rot', sample, [], 'h'), 10, ageBuckets, [0.5, 0.99], clock);
    const values = [0.5, 3, 70, 1e-3, -2, 0];
    const rotate = () => {
      clock += 2000; // maxAgeSeconds / ageBuckets
      writer.rotateIfDue(clock);
      for (const v of values) writer.observe(v);
    };
    for (let r = 0; r < ageBuckets; r++) rotate();
    const afterRing = file.usedBytes;
    for (let r = ageBuckets; r < 1000; r++) rotate();
    expect(file.usedBytes).toBe(afterRing);
    file.flush();
    // The reader sees only the generations of the last 10 s: ageBuckets of them.
    const families = [{ name: 'rot', help: 'h', type: 'summary' as const, samples: [] }];
    mergeSummaryWindows(dir, fs.readdirSync(dir), families, clock);
    const median = families[0].samples.find((x) => x.labels.some(([k, v]) => k === 'quantile' && v === '0.5'))!;
    // Sorted, the window's 30 values are five each of -2, 0, 0.001, 0.5, 3, 70: rank 15 is 0.001.
    expect(Math.abs(median.value - 0.001) / 0.001).toBeLessThanOrEqual(relativeErrorBound(SUMMARY_SCHEMA));
    expect(fs.statSync(path.join(dir, sideFileName('summarywindow', '4242'))).size).toBe(file.capacityBytes);
    file.close();
  });
});

// The worker's series cache (metric.ts, label-tree.ts) and its file slots, on real files:
// label sets that differ only in their raw values (200 and '200', a lone surrogate and
// U+FFFD) are one series and one entry; children taken before the file grows keep writing
// into it after (one store holder per metric); a histogram whose entries are not laid out
// one after the other (a file continued from a process with other buckets) still updates
// the right bucket of each series.
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Counter, Gauge, Histogram, configureStorage, readDbFile } from '../src/index.js';
import { dbFiles, flushWrites, tempDir } from './helpers/fixtures.js';

const dirs: string[] = [];
afterEach(() => {
  configureStorage();
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});
function directory(): string {
  const dir = tempDir();
  dirs.push(dir);
  return dir;
}
function entries(dir: string, file: string) {
  flushWrites();
  return readDbFile(path.join(dir, file));
}

describe('series cache over a metrics file', () => {
  it('makes one series and one entry of label sets that differ only in raw values', async () => {
    const dir = directory();
    configureStorage({ directory: dir, processId: '11' });
    const c = new Counter({ name: 'raw_total', help: 'h', labelNames: ['code', 'path'], registers: [] });
    c.inc({ code: 200, path: '\ud800' });
    c.inc({ code: '200', path: '\ufffd' }, 2);
    c.labels('200', '\ud800').inc(3);
    c.inc({ path: '\ufffd', code: 200 }, 4);
    expect(c.labels(200, '\ufffd')).toBe(c.labels('200', '\ud800'));
    const values = (await c.get()).values;
    expect(values).toHaveLength(1);
    expect(values[0].value).toBe(10);
    const written = entries(dir, 'counter_11.db');
    expect(written).toHaveLength(1);
    expect(written[0].labels).toEqual({ code: '200', path: '\ufffd' });
    expect(written[0].value).toBe(10);
  });

  it('finds a series again after remove() and reset() by any of its raw values, at its entry', async () => {
    const dir = directory();
    configureStorage({ directory: dir, processId: '12' });
    const g = new Gauge({ name: 'g', help: 'h', labelNames: ['a', 'b'], registers: [] });
    g.set({ a: 1, b: 'x' }, 5);
    g.set({ a: 2, b: 'x' }, 6);
    g.remove('1', 'x');
    expect((await g.get()).values.map((v) => v.value)).toEqual([6]);
    g.set({ a: '1', b: 'x' }, 7); // the same entry again (a file entry cannot be deleted)
    g.inc({ a: 1, b: 'x' });
    expect((await g.get()).values.map((v) => v.value).sort()).toEqual([6, 8]);
    expect(entries(dir, 'gauge_livesum_12.db').map((e) => e.value).sort()).toEqual([6, 8]);
    g.reset();
    g.set({ a: 2, b: 'x' }, 9);
    expect((await g.get()).values).toEqual([{ value: 9, labels: { a: 2, b: 'x' } }]);
    expect(entries(dir, 'gauge_livesum_12.db')).toHaveLength(2);
  });

  it('keeps children taken before the file grew writing into it after', () => {
    const dir = directory();
    configureStorage({ directory: dir, processId: '13' });
    const c = new Counter({ name: 'grow_total', help: 'h', labelNames: ['route', 'code'], registers: [] });
    const h = new Histogram({ name: 'grow_seconds', help: 'h', labelNames: ['route'], buckets: [1], registers: [] });
    const early = c.labels('/first', '200');
    const earlyHistogram = h.labels('/first');
    early.inc();
    earlyHistogram.observe(0.5);
    const sizeBefore = fs.statSync(path.join(dir, 'counter_13.db')).size;
    // Long routes: several doublings of both files (64 KiB to 1 MiB and more).
    const long = 'x'.repeat(200);
    for (let i = 0; i < 5000; i++) c.inc({ route: `/${long}/${i}`, code: String(i % 5) });
    for (let i = 0; i < 3000; i++) h.observe({ route: `/${long}/${i}` }, i % 3);
    expect(fs.statSync(path.join(dir, 'counter_13.db')).size).toBeGreaterThan(sizeBefore * 8);
    early.inc(41);
    earlyHistogram.observe(2);
    const counter = entries(dir, 'counter_13.db');
    expect(counter).toHaveLength(5001);
    expect(counter.find((e) => e.labels.route === '/first')!.value).toBe(42);
    const first = entries(dir, 'histogram_13.db').filter((e) => e.labels.route === '/first');
    expect(Object.fromEntries(first.map((e) => [`${e.sampleName}${e.labels.le ?? ''}`, e.value]))).toEqual({
      grow_seconds_sum: 2.5, 'grow_seconds_bucket1.0': 1, 'grow_seconds_bucket+Inf': 1,
    });
  });

  it('updates the right buckets of a file continued from a process with other buckets (entries out of order)', () => {
    const dir = directory();
    configureStorage({ directory: dir, processId: '14' });
    const before = new Histogram({ name: 'lat_seconds', help: 'h', labelNames: ['r'], buckets: [1], registers: [] });
    before.observe({ r: 'a' }, 0.7);
    before.observe({ r: 'b' }, 5);
    // A new storage on the same id continues the same file, as a restarted writer would.
    configureStorage({ directory: dir, processId: '14' });
    const after = new Histogram({ name: 'lat_seconds', help: 'h', labelNames: ['r'], buckets: [0.5, 1, 2], registers: [] });
    after.observe({ r: 'a' }, 0.2);
    after.observe({ r: 'a' }, 1.5);
    after.observe({ r: 'b' }, 0.9);
    after.observe({ r: 'c' }, 3);
    const byKey = new Map(entries(dir, 'histogram_14.db').map((e) => [`${e.labels.r} ${e.sampleName.slice(12)} ${e.labels.le ?? ''}`, e.value]));
    expect(Object.fromEntries(byKey)).toEqual({
      'a sum ': 0.7 + 0.2 + 1.5, 'a bucket 1.0': 1, 'a bucket +Inf': 0, 'a bucket 0.5': 1, 'a bucket 2.0': 1,
      'b sum ': 5 + 0.9, 'b bucket 1.0': 1, 'b bucket +Inf': 1, 'b bucket 0.5': 0, 'b bucket 2.0': 0,
      'c sum ': 3, 'c bucket 0.5': 0, 'c bucket 1.0': 0, 'c bucket 2.0': 0, 'c bucket +Inf': 1,
    });
    expect(dbFiles(dir)).toEqual(['histogram_14.db']);
  });
});

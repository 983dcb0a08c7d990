// Native histograms: exponential buckets in memory, in side files of real processes,
// merged across schemas, folded with a dead process, and rendered as protobuf.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  Collector, Histogram, Registry, bucketIndex, compactDeadProcesses, configureStorage, renderProtobuf, renderText,
  type ExponentialBuckets,
} from '../src/index.js';
import { tempDir } from './helpers/fixtures.js';
import { decodeFamilies } from './helpers/protobuf.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** Expected buckets of `values` at `schema`, built from the bucket index alone. */
function expectedBuckets(values: number[], schema: number): Pick<ExponentialBuckets, 'schema' | 'zeroCount' | 'positive' | 'negative'> {
  const b = { schema, zeroCount: 0, positive: new Map<number, number>(), negative: new Map<number, number>() };
  for (const v of values) {
    if (Number.isNaN(v)) continue;
    if (Math.abs(v) <= 2 ** -128) b.zeroCount++;
    else {
      const side = v < 0 ? b.negative : b.positive;
      const i = bucketIndex(v, schema);
      side.set(i, (side.get(i) ?? 0) + 1);
    }
  }
  return b;
}

const sorted = (m: Map<number, number>) => [...m].sort((a, b) => a[0] - b[0]);

describe('native histogram in memory', () => {
  it('counts exponential buckets beside the classic ones; NaN and ±Inf as client_golang', async () => {
    configureStorage({});
    const registry = new Registry();
    const h = new Histogram({ name: 'latency_seconds', help: 'h', nativeHistogramBucketFactor: 1.1, buckets: [0.1, 1], registers: [registry] });
    expect(h.nativeSchema).toBe(3);
    const values = [0.05, 0.2, 0.2, 3, 0, -0.5, -7, 1e-200, Infinity, -Infinity];
    for (const v of values) h.observe(v);
    h.observe(NaN);
    const family = await h.family();
    const native = family.native![0].buckets;
    const expected = expectedBuckets(values, 3);
    expect(native.schema).toBe(3);
    expect(native.zeroCount).toBe(2);
    expect(sorted(native.positive)).toEqual(sorted(expected.positive));
    expect(sorted(native.negative)).toEqual(sorted(expected.negative));
    // Count includes NaN; +Inf and NaN in the +Inf bucket, -Inf in the first; the sum is NaN.
    const text = renderText([family]);
    expect(text).toMatch(/^latency_seconds_count 11\.0$/m);
    expect(text).toMatch(/^latency_seconds_bucket\{le="0\.1"\} 6\.0$/m);
    expect(text).toMatch(/^latency_seconds_sum NaN$/m);
    // A classic histogram still refuses them, as prom-client does.
    const classic = new Histogram({ name: 'classic', help: 'h', registers: [registry] });
    expect(() => classic.observe(NaN)).toThrow();
  });

  it('lowers the schema when the bucket limit is passed, keeping every count', async () => {
    configureStorage({});
    const h = new Histogram({ name: 'wide', help: 'h', nativeHistogramBucketFactor: 1.01, nativeHistogramMaxBucketNumber: 20, buckets: [], registers: [] });
    const values = Array.from({ length: 300 }, (_, i) => 1.05 ** i);
    for (const v of values) h.observe(v);
    const native = (await h.family()).native![0].buckets;
    expect(native.positive.size).toBeLessThanOrEqual(20);
    expect(native.schema).toBeLessThan(6);
    expect(sorted(native.positive)).toEqual(sorted(expectedBuckets(values, native.schema).positive));
    expect(() => new Histogram({ name: 'bad', help: 'h', nativeHistogramBucketFactor: 1, registers: [] })).toThrow(/nativeHistogramBucketFactor/);
    expect(() => new Histogram({ name: 'bad2', help: 'h', nativeHistogramBucketFactor: 2, nativeHistogramMaxBucketNumber: 0, registers: [] })).toThrow(/nativeHistogramMaxBucketNumber/);
  });
});

/** Runs a real process that observes `values` into a native histogram of `factor` in `dir`. */
function writerProcess(dir: string, id: string, factor: number, values: number[], maxBuckets = 160): void {
  const script = `
    import('@prom-multiproc/core').then(({ configureStorage, Histogram }) => {
      configureStorage({ directory: process.argv[1], processId: process.argv[2] });
      const h = new Histogram({ name: 'rt_seconds', help: 'rt', labelNames: ['route'], nativeHistogramBucketFactor: Number(process.argv[3]), nativeHistogramMaxBucketNumber: Number(process.argv[5]) });
      for (const v of JSON.parse(process.argv[4])) h.observe({ route: '/a' }, v);
    });`;
  const result = spawnSync(process.execPath, ['-e', script, dir, id, String(factor), JSON.stringify(values), String(maxBuckets)], { cwd: __dirname, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(result.stderr);
}

describe('native histogram in multiprocess mode', () => {
  it('merges processes of different schemas at the lowest, folds a dead one, and renders protobuf', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const a = [0.001, 0.3, 0.3, 2.5, 40, -1.5, 0];
    const b = [0.002, 0.31, 7, 7, 7, 1000];
    const c = Array.from({ length: 200 }, (_, i) => 1.03 ** i); // passes a limit of 30: lowers its schema
    writerProcess(dir, '1001', 1.01, a); // schema 6
    writerProcess(dir, '1002', 1.3, b); // schema 2
    writerProcess(dir, '1003', 1.01, c, 30);
    const names = fs.readdirSync(dir).sort();
    expect(names).toContain('.nativehistogram_1001.db');
    expect(names).toContain('histogram_1001.db');

    // `prom-multiproc inspect` names a side file and lists its bucket entries.
    const inspect = spawnSync(process.execPath, [path.join(__dirname, '..', 'bin', 'prom-multiproc.js'), 'inspect', path.join(dir, '.nativehistogram_1002.db')], { encoding: 'utf8' });
    expect(inspect.stdout).toMatch(/\.nativehistogram_1002\.db: side file nativehistogram, process 1002; \d+ entries/);
    expect(inspect.stdout).toMatch(/rt_seconds:p:2:\d+\{route="\/a"\}\s+3\.0/);

    const collector = new Collector({ directory: dir });
    const check = async () => {
      const family = (await collector.collect()).find((f) => f.name === 'rt_seconds')!;
      const native = family.native!;
      expect(native).toHaveLength(1);
      expect(native[0].labels).toEqual([['route', '/a']]);
      const merged = native[0].buckets;
      expect(merged.schema).toBeLessThanOrEqual(2);
      const expected = expectedBuckets([...a, ...b, ...c], merged.schema);
      expect(merged.zeroCount).toBe(1);
      expect(sorted(merged.positive)).toEqual(sorted(expected.positive));
      expect(sorted(merged.negative)).toEqual(sorted(expected.negative));
      const decoded = decodeFamilies(renderProtobuf([family]), { defaults: true });
      const h = decoded[0].metric[0].histogram;
      expect(decoded[0]).toMatchObject({ name: 'rt_seconds', type: 4 });
      expect(h.sampleCount).toBe(a.length + b.length + c.length);
      expect(h.schema).toBe(merged.schema);
      expect(h.zeroCount).toBe(1);
      // Spans and deltas give back the bucket counts.
      const counts: Array<[number, number]> = [];
      let index = 0;
      let running = 0;
      let d = 0;
      for (const span of h.positiveSpan) {
        index += span.offset;
        for (let k = 0; k < span.length; k++) {
          running += h.positiveDelta[d++];
          counts.push([index++, running]);
        }
      }
      expect(counts).toEqual(sorted(expected.positive));
    };
    await check();
    // The `.db` merge does not see the side files: the text is the same without them
    // (as Python's collector, whose glob skips dot-files, reads only the `.db` files).
    const withoutSideFiles = tempDir();
    dirs.push(withoutSideFiles);
    for (const name of fs.readdirSync(dir).filter((n) => !n.startsWith('.'))) fs.copyFileSync(path.join(dir, name), path.join(withoutSideFiles, name));
    const text = (families: Awaited<ReturnType<Collector['collect']>>) => renderText(families.filter((f) => f.name === 'rt_seconds'));
    expect(text(await new Collector({ directory: withoutSideFiles }).collect())).toBe(text(await new Collector({ directory: dir }).collect()));
    // The first process is gone: its side file folds into the archive with its `.db` files.
    const result = compactDeadProcesses(dir, ['1001']);
    expect(result.folded).toContain('.nativehistogram_1001.db');
    expect(fs.existsSync(path.join(dir, '.nativehistogram_archive.db'))).toBe(true);
    expect(fs.existsSync(path.join(dir, '.nativehistogram_1001.db'))).toBe(false);
    await check();
  });
});

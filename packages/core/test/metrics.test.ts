import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  Counter, Gauge, Histogram, Summary, Registry, configureStorage, exponentialBuckets, linearBuckets, readDbFile, register,
} from '../src/index.js';
import { dbFiles, flushWrites, tempDir } from './helpers/fixtures.js';

const registers: Registry[] = [];
const fresh = () => {
  const r = new Registry();
  registers.push(r);
  return [r];
};

describe('metric API (in memory, like prom-client)', () => {
  beforeEach(() => {
    configureStorage();
  });

  it('counts with inc(), inc(n), label objects and positional labels', async () => {
    const c = new Counter({ name: 'req_total', help: 'h', labelNames: ['method', 'code'], registers: fresh() });
    c.inc({ method: 'GET', code: 200 });
    c.inc({ method: 'GET', code: '200' }, 2);
    c.labels('GET', '200').inc(0.5);
    c.labels({ method: 'POST', code: 500 }).inc();
    const values = (await c.get()).values;
    expect(values).toEqual([
      // As prom-client: the labels of the call that created the series, numbers kept.
      { value: 3.5, labels: { method: 'GET', code: 200 } },
      { value: 1, labels: { method: 'POST', code: 500 } },
    ]);
    expect(c.labels('GET', '200')).toBe(c.labels({ code: 200, method: 'GET' }));
  });

  it('rejects bad counter input with prom-client\'s errors', () => {
    const c = new Counter({ name: 'c_total', help: 'h', labelNames: ['a'], registers: fresh() });
    expect(() => c.inc(-1)).toThrow('It is not possible to decrease a counter');
    expect(() => c.inc({ a: 'x' }, -0.5)).toThrow('It is not possible to decrease a counter');
    expect(() => c.inc(NaN)).toThrow(TypeError);
    expect(() => c.inc(Infinity)).toThrow('Value is not a valid number: Infinity');
    expect(() => c.inc('3' as unknown as number)).toThrow('Value is not a valid number: 3');
    expect(() => c.inc({ b: 'x' } as never)).toThrow(`Added label "b" is not included in initial labelset: [ 'a' ]`);
    expect(() => c.labels('x', 'y')).toThrow('Invalid number of arguments (2): "x, y" for label names (1): "a".');
    expect(() => c.inc({ a: {} as never })).toThrow(/Label "a" of c_total must be a string or a number/);
  });

  it('rejects bad names and configuration', () => {
    expect(() => new Counter({ name: 'bad-name', help: 'h', registers: [] })).toThrow('Invalid metric name');
    expect(() => new Counter({ name: '1abc', help: 'h', registers: [] })).toThrow('Invalid metric name');
    expect(() => new Counter({ name: 'ok', help: 'h', labelNames: ['bad-label'], registers: [] })).toThrow('Invalid label name');
    expect(() => new Counter({ name: 'ok', help: 'h', labelNames: ['a', 'a'], registers: [] })).toThrow('Duplicate label name');
    expect(() => new Counter({ name: 'ok', help: '', registers: [] })).toThrow('Missing mandatory help parameter');
    expect(() => new Counter({ name: '', help: 'h', registers: [] })).toThrow('Missing mandatory name parameter');
    expect(() => new Counter(null as never)).toThrow('constructor expected a config object');
    expect(() => new Histogram({ name: 'h', help: 'h', labelNames: ['le'], registers: [] })).toThrow('le is a reserved label keyword');
    expect(() => new Histogram({ name: 'h', help: 'h', buckets: [1, 0.5], registers: [] })).toThrow(/increasing order/);
    expect(() => new Summary({ name: 's', help: 'h', labelNames: ['quantile'], registers: [] })).toThrow('quantile is a reserved label keyword');
    expect(() => new Gauge({ name: 'g', help: 'h', multiprocessMode: 'avg' as never, registers: [] })).toThrow(/Invalid multiprocessMode "avg"/);
    const r = fresh();
    new Counter({ name: 'dup', help: 'h', registers: r });
    expect(() => new Counter({ name: 'dup', help: 'h', registers: r })).toThrow('A metric with the name dup has already been registered.');
  });

  it('gauges set, inc, dec, time and refuse inc in mostrecent mode', async () => {
    const g = new Gauge({ name: 'g', help: 'h', labelNames: ['k'], registers: fresh() });
    g.set({ k: 'a' }, 5);
    g.inc({ k: 'a' });
    g.dec({ k: 'a' }, 3);
    g.labels('b').inc(2);
    g.labels('b').dec();
    const before = Date.now() / 1000;
    g.setToCurrentTime({ k: 'c' });
    const end = g.startTimer({ k: 'd' });
    const seconds = end();
    const values = Object.fromEntries((await g.get()).values.map((v) => [v.labels.k, v.value]));
    expect(values.a).toBe(3);
    expect(values.b).toBe(1);
    expect(values.c).toBeGreaterThanOrEqual(before);
    expect(values.d).toBe(seconds);
    expect(() => g.set({ k: 'a' }, 'x' as never)).toThrow('Value is not a valid number');
    const latest = new Gauge({ name: 'latest', help: 'h', multiprocessMode: 'mostrecent', registers: [] });
    latest.set(4);
    expect(() => latest.inc()).toThrow(/mostrecent mode: only set\(\) is allowed/);
  });

  it('histograms bucket cumulatively with sum and count', async () => {
    const h = new Histogram({ name: 'lat', help: 'h', labelNames: ['r'], buckets: [0.1, 1, 5], registers: fresh() });
    for (const v of [0.05, 0.1, 0.5, 2, 10]) h.observe({ r: '/' }, v);
    const values = (await h.get()).values.map((v) => [v.metricName, v.labels.le, v.value]);
    expect(values).toEqual([
      ['lat_bucket', 0.1, 2], ['lat_bucket', 1, 3], ['lat_bucket', 5, 4], ['lat_bucket', '+Inf', 5],
      ['lat_sum', undefined, 12.65], ['lat_count', undefined, 5],
    ]);
    expect(() => h.observe({ r: '/' }, NaN)).toThrow('Value is not a valid number');
    const timer = h.labels('/t').startTimer();
    expect(timer()).toBeGreaterThanOrEqual(0);
    expect(linearBuckets(1, 2, 3)).toEqual([1, 3, 5]);
    expect(exponentialBuckets(1, 10, 3)).toEqual([1, 10, 100]);
    expect(() => exponentialBuckets(0, 2, 3)).toThrow('Exponential buckets needs a positive start');
    expect(() => linearBuckets(0, 1, 0)).toThrow('Linear buckets needs a positive count');
  });

  it('summaries compute quantiles in memory', async () => {
    const s = new Summary({ name: 'size', help: 'h', percentiles: [0.5, 0.9], registers: fresh() });
    for (let i = 1; i <= 100; i++) s.observe(i);
    const values = (await s.get()).values;
    const q = (p: number) => values.find((v) => v.labels.quantile === p)!.value;
    expect(q(0.5)).toBeCloseTo(50.5, 0);
    expect(q(0.9)).toBeCloseTo(90.5, 0);
    expect(values.find((v) => v.metricName === 'size_count')!.value).toBe(100);
    expect(values.find((v) => v.metricName === 'size_sum')!.value).toBe(5050);
  });

  it('reset and remove forget series; zero creates one', async () => {
    const c = new Counter({ name: 'r_total', help: 'h', labelNames: ['k'], registers: fresh() });
    c.inc({ k: 'a' }, 2);
    c.inc({ k: 'b' });
    c.remove('b');
    expect((await c.get()).values.map((v) => v.labels.k)).toEqual(['a']);
    c.reset();
    expect((await c.get()).values).toEqual([]);
    c.zero({ k: 'z' });
    expect((await c.get()).values).toEqual([{ value: 0, labels: { k: 'z' } }]);
    c.inc({ k: 'a' });
    expect((await c.get()).values.find((v) => v.labels.k === 'a')!.value).toBe(1);
  });

  it('the registry renders text and OpenMetrics with default labels and collect callbacks', async () => {
    const [r] = fresh();
    let calls = 0;
    new Counter({ name: 'jobs', help: 'Jobs.', registers: [r] }).inc(3);
    new Gauge({ name: 'temp', help: 'T.', registers: [r], collect() { calls++; (this as Gauge).set(21.5); } });
    r.setDefaultLabels({ app: 'x' });
    expect(await r.metrics()).toBe(
      '# HELP jobs Jobs.\n# TYPE jobs counter\njobs{app="x"} 3\n\n# HELP temp T.\n# TYPE temp gauge\ntemp{app="x"} 21.5\n',
    );
    r.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
    expect(await r.metrics()).toMatch(/^# HELP jobs Jobs\.\n# TYPE jobs counter\njobs_total\{app="x"\} 3\n[\s\S]*# EOF\n$/);
    expect(calls).toBe(2);
    expect(Registry.merge([r, new Registry(Registry.OPENMETRICS_CONTENT_TYPE)]).getMetricsAsArray().length).toBe(2);
    expect(register).toBeInstanceOf(Registry);
  });
});

describe('multiprocess mode writes through to this process\'s files', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => {
    configureStorage();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const valueOf = (file: string, sample: string, labels: Record<string, string> = {}) => {
    flushWrites();
    return readDbFile(path.join(dir, file)).find((e) => e.sampleName === sample && JSON.stringify(e.labels) === JSON.stringify(labels))?.value;
  };

  it('every update is visible in the file at once, for every type', () => {
    configureStorage({ directory: dir, processId: '42' });
    const c = new Counter({ name: 'hits_total', help: 'h', labelNames: ['k'], registers: [] });
    const g = new Gauge({ name: 'temp', help: 'h', multiprocessMode: 'max', registers: [] });
    const h = new Histogram({ name: 'lat', help: 'h', buckets: [1], registers: [] });
    const s = new Summary({ name: 'size', help: 'h', registers: [] });
    c.inc({ k: 'a' }, 2);
    expect(valueOf('counter_42.db', 'hits_total', { k: 'a' })).toBe(2);
    c.labels('a').inc();
    expect(valueOf('counter_42.db', 'hits_total', { k: 'a' })).toBe(3);
    g.set(7.5);
    expect(valueOf('gauge_max_42.db', 'temp')).toBe(7.5);
    h.observe(0.5);
    h.observe(3);
    expect(valueOf('histogram_42.db', 'lat_sum')).toBe(3.5);
    expect(valueOf('histogram_42.db', 'lat_bucket', { le: '1.0' })).toBe(1);
    expect(valueOf('histogram_42.db', 'lat_bucket', { le: '+Inf' })).toBe(1);
    s.observe(4);
    expect(valueOf('summary_42.db', 'size_count')).toBe(1);
    expect(valueOf('summary_42.db', 'size_sum')).toBe(4);
  });

  it('default gauge mode is livesum and mostrecent gauges stamp the time', () => {
    configureStorage({ directory: dir, processId: '7' });
    new Gauge({ name: 'a', help: 'h', registers: [] }).set(1);
    const before = Date.now() / 1000;
    new Gauge({ name: 'b', help: 'h', multiprocessMode: 'livemostrecent', registers: [] }).set(2);
    expect(dbFiles(dir)).toEqual(['gauge_livemostrecent_7.db', 'gauge_livesum_7.db']);
    flushWrites();
    const [entry] = readDbFile(path.join(dir, 'gauge_livemostrecent_7.db'));
    expect(entry.value).toBe(2);
    expect(entry.timestamp).toBeGreaterThanOrEqual(before);
  });

  it('keeps writing through children after the file grows and is mapped again', () => {
    configureStorage({ directory: dir, processId: '9' });
    const c = new Counter({ name: 'many_total', help: 'h', labelNames: ['id'], registers: [] });
    const first = c.labels('first');
    first.inc();
    for (let i = 0; i < 2000; i++) c.inc({ id: `series-${i}-padding-padding-padding` });
    expect(fs.statSync(path.join(dir, 'counter_9.db')).size).toBe(262144);
    first.inc(41);
    expect(valueOf('counter_9.db', 'many_total', { id: 'first' })).toBe(42);
    expect(valueOf('counter_9.db', 'many_total', { id: 'series-1999-padding-padding-padding' })).toBe(1);
  });

  it('summaries keep no quantiles in multiprocess mode', async () => {
    configureStorage({ directory: dir, processId: '11' });
    const s = new Summary({ name: 'q', help: 'h', registers: [] });
    s.observe(1);
    expect((await s.get()).values.map((v) => v.metricName)).toEqual(['q_sum', 'q_count']);
  });

  it('a worker thread gets its own id and files', async () => {
    const distIndex = path.resolve(__dirname, '../dist/esm/index.js');
    const code = `
      const { parentPort, workerData, threadId } = require('node:worker_threads');
      import(workerData.lib).then(({ Counter }) => {
        new Counter({ name: 'thread_total', help: 'h', registers: [] }).inc(5);
        parentPort.postMessage(threadId);
      });`;
    const threadId = await new Promise<number>((resolve, reject) => {
      const w = new Worker(code, { eval: true, workerData: { lib: distIndex }, env: { ...process.env, PROMETHEUS_MULTIPROC_DIR: dir } });
      let id: number;
      w.once('message', (m: number) => (id = m));
      w.once('error', reject);
      // Read after the thread ended: its last updates are in the file in either mode.
      w.once('exit', () => resolve(id));
    });
    const file = `counter_${process.pid}t${threadId}.db`;
    expect(dbFiles(dir)).toEqual([file]);
    expect(readDbFile(path.join(dir, file))[0].value).toBe(5);
  });

  it('names a missing directory or a file in its place', () => {
    expect(() => configureStorage({ directory: path.join(dir, 'nope') })).toThrow(/multiprocess directory .*nope does not exist \(ENOENT\)/);
    fs.writeFileSync(path.join(dir, 'file'), '');
    expect(() => configureStorage({ directory: path.join(dir, 'file') })).toThrow(/is not a directory/);
    expect(() => configureStorage({ directory: dir, processId: 'a_b' })).toThrow(/Invalid process id "a_b"/);
  });

  it('a full disk is an error when a file grows, not a crash', () => {
    const mnt = tempDir('pmp-tmpfs-');
    // A real full filesystem: a 192 KiB tmpfs. Needs root, as the test machines have.
    require('node:child_process').execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=192k', 'tmpfs', mnt]);
    try {
      configureStorage({ directory: mnt, processId: '5' });
      const c = new Counter({ name: 'fill_total', help: 'h', labelNames: ['id'], registers: [] });
      const keep = c.labels('keep');
      let error: unknown;
      try {
        for (let i = 0; i < 10000; i++) c.inc({ id: `${i}-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx` });
      } catch (err) {
        error = err;
      }
      expect(String(error)).toMatch(/cannot allocate \d+ bytes at offset \d+ of .*counter_5\.db \(ENOSPC\)/);
      keep.inc(3);
      flushWrites();
      expect(readDbFile(path.join(mnt, 'counter_5.db')).find((e) => e.labels.id === 'keep')!.value).toBe(3);
    } finally {
      configureStorage();
      require('node:child_process').execFileSync('umount', ['-l', mnt]) // lazy: our mapping holds it until GC;
      fs.rmSync(mnt, { recursive: true, force: true });
    }
  });
});

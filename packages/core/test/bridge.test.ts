// The prom-client bridge, in one process: real prom-client metrics are mirrored into
// this process's files, and the directory is merged by the ordinary merge code.
import fs from 'node:fs';
import path from 'node:path';
import client from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Counter, DirectoryMerger, configureStorage, readDbFile, register, renderText } from '../src/index.js';
import { SnapshotWriter } from '../src/interop/bridge.js';
import { GAUGE_MODE_FOR_AGGREGATOR } from '../src/interop/aggregator-modes.js';
import { snapshotFromInternals, snapshotFromJson, type MetricSnapshot } from '../src/interop/snapshot.js';
import { bridgePromClient } from '../src/interop/prom-client-bridge.js';
import { AggregatorRegistry } from '../src/interop/aggregator-registry.js';
import { workerRefresh } from '../src/refresh/worker-refresh.js';
import { tempDir } from './helpers/fixtures.js';

let dir: string;
let prom: client.Registry;

beforeEach(() => {
  dir = tempDir();
  prom = new client.Registry();
});
afterEach(() => {
  configureStorage();
  register.clear();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Mirrors `registry` once, as process `id`, through prom-client's public JSON. */
async function mirror(writer: SnapshotWriter, registry: client.Registry): Promise<void> {
  for (const metric of await registry.getMetricsAsJSON()) {
    const snapshot = snapshotFromJson(metric as never);
    if (snapshot) writer.write(snapshot);
  }
}

const merged = () => renderText(new DirectoryMerger(dir).merge().families);

function value(body: string, series: string): number | undefined {
  const line = body.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('mapping prom-client metrics to the Python format', () => {
  it('counters, histograms and summaries of two processes merge to the sums prom-client would report', async () => {
    const writers: SnapshotWriter[] = [];
    const registries: client.Registry[] = [];
    for (const id of ['101', '102']) {
      const registry = new client.Registry();
      const counter = new client.Counter({ name: 'jobs_total', help: 'Jobs.', labelNames: ['kind'], registers: [registry] });
      const histogram = new client.Histogram({ name: 'lat_seconds', help: 'Latency.', buckets: [0.1, 1], labelNames: ['route'], registers: [registry] });
      const summary = new client.Summary({ name: 'size_bytes', help: 'Size.', registers: [registry] });
      counter.inc({ kind: 'a' }, id === '101' ? 3 : 4);
      counter.inc({ kind: 'b' });
      for (const v of [0.05, 0.5, 5]) histogram.observe({ route: '/' }, v);
      summary.observe(10);
      registries.push(registry);
      writers.push(new SnapshotWriter(configureStorage({ directory: dir, processId: id })));
      await mirror(writers[writers.length - 1], registry);
    }
    const body = merged();
    expect(value(body, 'jobs_total{kind="a"}')).toBe(7);
    expect(value(body, 'jobs_total{kind="b"}')).toBe(2);
    expect(body).toContain('# TYPE lat_seconds histogram');
    expect(value(body, 'lat_seconds_bucket{le="0.1",route="/"}')).toBe(2);
    expect(value(body, 'lat_seconds_bucket{le="1.0",route="/"}')).toBe(4);
    expect(value(body, 'lat_seconds_bucket{le="+Inf",route="/"}')).toBe(6);
    expect(value(body, 'lat_seconds_count{route="/"}')).toBe(6);
    expect(value(body, 'lat_seconds_sum{route="/"}')).toBeCloseTo(11.1, 10);
    expect(value(body, 'size_bytes_count')).toBe(2);
    expect(value(body, 'size_bytes_sum')).toBe(20);
    // The file holds each bucket's own count (Python's layout), not prom-client's cumulative one.
    const entries = readDbFile(path.join(dir, 'histogram_101.db'));
    expect(entries.map((e) => [e.sampleName, e.labels.le, e.value])).toEqual([
      ['lat_seconds_sum', undefined, 5.55],
      ['lat_seconds_bucket', '0.1', 1],
      ['lat_seconds_bucket', '1.0', 1],
      ['lat_seconds_bucket', '+Inf', 1],
    ]);
  });

  it('mirroring again sets values, it does not add them', async () => {
    const counter = new client.Counter({ name: 'hits', help: 'Hits.', registers: [prom] });
    const writer = new SnapshotWriter(configureStorage({ directory: dir, processId: '5' }));
    counter.inc(2);
    await mirror(writer, prom);
    await mirror(writer, prom);
    expect(value(merged(), 'hits_total')).toBe(2); // a counter without _total gets it, as ours do
    counter.inc();
    await mirror(writer, prom);
    expect(value(merged(), 'hits_total')).toBe(3);
  });

  it('gauges take the mode of their aggregator; omit is not mirrored; an override wins', async () => {
    const names = Object.keys(GAUGE_MODE_FOR_AGGREGATOR) as Array<keyof typeof GAUGE_MODE_FOR_AGGREGATOR>;
    for (const id of ['201', '202']) {
      const registry = new client.Registry();
      for (const aggregator of names) {
        new client.Gauge({ name: `g_${aggregator}`, help: aggregator, aggregator, registers: [registry] }).set(id === '201' ? 2 : 6);
      }
      new client.Gauge({ name: 'g_override', help: 'o', registers: [registry] }).set(id === '201' ? 2 : 6);
      await mirror(new SnapshotWriter(configureStorage({ directory: dir, processId: id }), { gaugeModes: { g_override: 'max' } }), registry);
    }
    const body = merged();
    expect(value(body, 'g_sum')).toBe(8);
    expect(value(body, 'g_min')).toBe(2);
    expect(value(body, 'g_max')).toBe(6);
    expect(value(body, 'g_average{pid="201"}')).toBe(2);
    expect(value(body, 'g_average{pid="202"}')).toBe(6);
    expect([2, 6]).toContain(value(body, 'g_first'));
    expect(body).not.toContain('g_omit');
    expect(value(body, 'g_override')).toBe(6);
    expect(fs.readdirSync(dir).filter((f) => f.startsWith('gauge_')).sort()).toEqual([
      'gauge_liveall_201.db', 'gauge_liveall_202.db', 'gauge_livemax_201.db', 'gauge_livemax_202.db',
      'gauge_livemin_201.db', 'gauge_livemin_202.db', 'gauge_livemostrecent_201.db', 'gauge_livemostrecent_202.db',
      'gauge_livesum_201.db', 'gauge_livesum_202.db', 'gauge_max_201.db', 'gauge_max_202.db',
    ]);
  });

  it('a gauge series prom-client drops stops counting in a sum; a max keeps its last value', async () => {
    const handles = new client.Gauge({ name: 'handles', help: 'h', labelNames: ['type'], registers: [prom] });
    const peak = new client.Gauge({ name: 'peak', help: 'p', labelNames: ['type'], aggregator: 'max', registers: [prom] });
    const writer = new SnapshotWriter(configureStorage({ directory: dir, processId: '6' }));
    handles.set({ type: 'Socket' }, 3);
    handles.set({ type: 'Timer' }, 2);
    peak.set({ type: 'Socket' }, 7);
    await mirror(writer, prom);
    handles.reset(); // what prom-client's handle gauges do at every collect
    handles.set({ type: 'Timer' }, 1);
    peak.reset();
    await mirror(writer, prom);
    const body = merged();
    expect(value(body, 'handles{type="Socket"}')).toBe(0);
    expect(value(body, 'handles{type="Timer"}')).toBe(1);
    expect(value(body, 'peak{type="Socket"}')).toBe(7);
  });

  it('a "first" gauge is the value set last, stamped when it changes, not at every mirror', async () => {
    const gauges = ['301', '302'].map((id) => {
      const registry = new client.Registry();
      const gauge = new client.Gauge({ name: 'config_version', help: 'v', aggregator: 'first', registers: [registry] });
      return { registry, gauge, writer: new SnapshotWriter(configureStorage({ directory: dir, processId: id })) };
    });
    gauges[0].gauge.set(1);
    await mirror(gauges[0].writer, gauges[0].registry);
    await new Promise((r) => setTimeout(r, 20));
    gauges[1].gauge.set(2);
    await mirror(gauges[1].writer, gauges[1].registry);
    expect(value(merged(), 'config_version')).toBe(2);
    // Process 301 mirrors its unchanged value again: still 302's newer value.
    await new Promise((r) => setTimeout(r, 20));
    await mirror(gauges[0].writer, gauges[0].registry);
    expect(value(merged(), 'config_version')).toBe(2);
  });
});

describe('process labels', () => {
  it('are added to mirrored series as to native ones; a metric\'s own label of that name wins', async () => {
    const storage = configureStorage({ directory: dir, processId: '8', labels: { app: 'shop' } });
    new client.Counter({ name: 'a_total', help: 'a', registers: [prom] }).inc();
    new client.Counter({ name: 'b_total', help: 'b', labelNames: ['app'], registers: [prom] }).inc({ app: 'mine' });
    new client.Histogram({ name: 'h', help: 'h', buckets: [1], registers: [prom] }).observe(2);
    await mirror(new SnapshotWriter(storage), prom);
    const body = merged();
    expect(value(body, 'a_total{app="shop"}')).toBe(1);
    expect(value(body, 'b_total{app="mine"}')).toBe(1);
    expect(value(body, 'h_bucket{app="shop",le="+Inf"}')).toBe(1);
  });
});

describe('counters mirrored never go backwards', () => {
  it('a counter reset in the worker keeps what was counted before it', async () => {
    const counter = new client.Counter({ name: 'req_total', help: 'r', labelNames: ['code'], registers: [prom] });
    const writer = new SnapshotWriter(configureStorage({ directory: dir, processId: '9' }));
    const seen: number[] = [];
    counter.inc({ code: '200' }, 5);
    await mirror(writer, prom);
    seen.push(value(merged(), 'req_total{code="200"}')!);
    prom.resetMetrics();
    await mirror(writer, prom);
    seen.push(value(merged(), 'req_total{code="200"}')!);
    counter.inc({ code: '200' }, 2);
    await mirror(writer, prom);
    seen.push(value(merged(), 'req_total{code="200"}')!);
    counter.remove({ code: '200' });
    counter.inc({ code: '200' }, 1);
    await mirror(writer, prom);
    seen.push(value(merged(), 'req_total{code="200"}')!);
    expect(seen).toEqual([5, 5, 7, 8]);
  });

  it('histogram and summary resets keep their counts and sums', async () => {
    const histogram = new client.Histogram({ name: 'h', help: 'h', buckets: [1], registers: [prom] });
    const summary = new client.Summary({ name: 's', help: 's', registers: [prom] });
    const writer = new SnapshotWriter(configureStorage({ directory: dir, processId: '9' }));
    histogram.observe(0.5);
    histogram.observe(2);
    summary.observe(3);
    await mirror(writer, prom);
    histogram.reset();
    summary.reset();
    histogram.observe(5); // count 1 < 2 and the le=1 bucket 0 < 1: a reset
    await mirror(writer, prom); // the summary's count 0 < 1: a reset
    summary.observe(1);
    await mirror(writer, prom);
    const body = merged();
    expect(value(body, 'h_bucket{le="1.0"}')).toBe(1);
    expect(value(body, 'h_bucket{le="+Inf"}')).toBe(3);
    expect(value(body, 'h_sum')).toBe(7.5);
    expect(value(body, 's_count')).toBe(2);
    expect(value(body, 's_sum')).toBe(4);
  });
});

describe('the exit path reads prom-client 15 metrics synchronously', () => {
  it('gives the same snapshot as getMetricsAsJSON for every type, default labels included', async () => {
    prom.setDefaultLabels({ app: 'shop' });
    const c = new client.Counter({ name: 'c_total', help: 'c', labelNames: ['k'], registers: [prom] });
    const g = new client.Gauge({ name: 'g', help: 'g', aggregator: 'max', registers: [prom] });
    const h = new client.Histogram({ name: 'h', help: 'h', buckets: [0.1, 1, 10], labelNames: ['k'], registers: [prom] });
    const s = new client.Summary({ name: 's', help: 's', registers: [prom] });
    c.inc({ k: 'x' }, 3);
    g.set(-2);
    for (const v of [0.05, 0.5, 50]) h.observe({ k: 'y' }, v);
    s.observe(7);
    const viaJson = (await prom.getMetricsAsJSON()).map((m) => snapshotFromJson(m as never));
    const defaults = (prom as unknown as { _defaultLabels: Record<string, string> })._defaultLabels;
    const viaInternals = prom.getMetricsAsArray().map((m) => snapshotFromInternals(m, defaults));
    const normalize = (all: Array<MetricSnapshot | undefined>) => JSON.parse(JSON.stringify(all));
    expect(normalize(viaInternals)).toEqual(normalize(viaJson));
    expect(viaJson[2]).toMatchObject({ type: 'histogram', series: [{ labels: { k: 'y', app: 'shop' }, buckets: [[0.1, 1], [1, 2], [10, 2]], count: 3 }] });
  });

  it('anything that is not a prom-client 15 metric is left alone', () => {
    expect(snapshotFromInternals({ name: 'x', type: 'counter' })).toBeUndefined();
    expect(snapshotFromInternals({ name: 'x', type: 'counter', hashMap: { a: { value: 'no' } } })).toBeUndefined();
    expect(snapshotFromInternals(null)).toBeUndefined();
  });
});

describe('bridgePromClient', () => {
  it('mirrors on flush and at the interval, and leaves metrics this process defines natively alone', async () => {
    configureStorage({ directory: dir, processId: '77' });
    const warnings: string[] = [];
    const promCounter = new client.Counter({ name: 'orders_total', help: 'Orders.', registers: [prom] });
    new client.Counter({ name: 'shared_total', help: 'Shared.', registers: [prom] }).inc(100);
    new client.Gauge({ name: 'shared_gauge', help: 'Shared.', registers: [prom] }).set(100);
    const native = new Counter({ name: 'shared_total', help: 'Shared.' });
    native.inc(1);
    new Counter({ name: 'shared_gauge', help: 'Shared.' });
    const bridge = bridgePromClient(prom, { intervalMs: 50, log: (m) => warnings.push(m) });
    try {
      promCounter.inc(3);
      await bridge.flush();
      let body = merged();
      expect(value(body, 'orders_total')).toBe(3);
      expect(value(body, 'shared_total')).toBe(1);
      await bridge.flush();
      // One line per process, naming them, however many names and refreshes.
      expect(warnings).toEqual([expect.stringContaining('2 prom-client metrics are also defined with prom-multiproc in this process (shared_total, shared_gauge)')]);
      promCounter.inc(4);
      const deadline = Date.now() + 5000;
      while (value((body = merged()), 'orders_total') !== 7 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(value(body, 'orders_total')).toBe(7);
    } finally {
      bridge.stop();
    }
  });

  it('does nothing without a multiprocess directory, and refuses what is not a registry', async () => {
    configureStorage();
    const bridge = bridgePromClient(prom);
    await bridge.flush();
    expect(fs.readdirSync(dir)).toEqual([]);
    expect(() => bridgePromClient({} as never)).toThrow(/expects a prom-client Registry/);
  });
});

describe('AggregatorRegistry (the prom-client names over the directory)', () => {
  it('clusterMetrics() is empty while no process has written, as prom-client\'s without workers', async () => {
    const saved = process.env.PROMETHEUS_MULTIPROC_DIR;
    process.env.PROMETHEUS_MULTIPROC_DIR = dir;
    try {
      const aggregatorRegistry = new AggregatorRegistry();
      expect(await aggregatorRegistry.clusterMetrics()).toBe('');
      configureStorage({ directory: dir, processId: '56' });
      new Counter({ name: 'first_total', help: 'f' }).inc();
      expect(value(await aggregatorRegistry.clusterMetrics(), 'first_total')).toBe(1);
    } finally {
      await AggregatorRegistry.close();
      if (saved === undefined) delete process.env.PROMETHEUS_MULTIPROC_DIR;
      else process.env.PROMETHEUS_MULTIPROC_DIR = saved;
    }
  });

  it('setRegistries bridges prom-client registries, clusterMetrics merges the directory', async () => {
    const saved = process.env.PROMETHEUS_MULTIPROC_DIR;
    process.env.PROMETHEUS_MULTIPROC_DIR = dir;
    try {
      configureStorage({ directory: dir, processId: '55' });
      new client.Counter({ name: 'bridged_total', help: 'b', registers: [prom] }).inc(4);
      new Counter({ name: 'native_total', help: 'n' }).inc(2);
      AggregatorRegistry.setRegistries([prom, register]); // ours need nothing
      expect(() => AggregatorRegistry.setRegistries(42)).toThrow('Expected Registry, got number');
      await workerRefresh()!.refresh(); // runs the bridge setRegistries made, and nothing else
      const aggregatorRegistry = new AggregatorRegistry();
      const body = await aggregatorRegistry.clusterMetrics();
      expect(value(body, 'bridged_total')).toBe(4);
      expect(value(body, 'native_total')).toBe(2);
      expect(value(body, 'prom_multiproc_scrapes_total')).toBe(1);
    } finally {
      bridgePromClient(prom).stop();
      await AggregatorRegistry.close();
      if (saved === undefined) delete process.env.PROMETHEUS_MULTIPROC_DIR;
      else process.env.PROMETHEUS_MULTIPROC_DIR = saved;
    }
  });
});

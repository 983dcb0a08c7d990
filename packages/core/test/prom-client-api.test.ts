// prom-client's documented behaviour (its README and API docs, in our own words), run
// against `@prom-multiproc/core/prom-client`. In memory, as prom-client works in one
// process; where prom-client itself is the reference, both run side by side.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import promClient from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { configureStorage } from '../src/index.js';
import client, * as named from '../src/prom-client.js';

const { Counter, Gauge, Histogram, Summary, Registry, register } = named;

beforeEach(() => {
  configureStorage();
});
afterEach(() => {
  register.clear();
  register.setContentType(Registry.PROMETHEUS_CONTENT_TYPE);
});

/** The value of the series with exactly these labels (and sample name, if given). */
async function valueOf(metric: { get(): Promise<{ values: Array<{ value: number; labels: object; metricName?: string }> }> }, labels: object = {}, sample?: string) {
  const { values } = await metric.get();
  const found = values.find((v) => JSON.stringify(Object.entries(v.labels).sort()) === JSON.stringify(Object.entries(labels).sort()) && (sample === undefined || v.metricName === sample));
  return found?.value;
}

describe('the module exports what prom-client 15 exports', () => {
  it('every name, as named exports and on the default export', () => {
    for (const name of Object.keys(promClient)) {
      expect(named, name).toHaveProperty(name);
      expect(client, name).toHaveProperty(name);
    }
    expect(named.prometheusContentType).toBe(promClient.prometheusContentType);
    expect(named.openMetricsContentType).toBe(promClient.openMetricsContentType);
    expect(Registry.PROMETHEUS_CONTENT_TYPE).toBe(promClient.Registry.PROMETHEUS_CONTENT_TYPE);
    expect(Registry.OPENMETRICS_CONTENT_TYPE).toBe(promClient.Registry.OPENMETRICS_CONTENT_TYPE);
  });

  it('contentType is the global registry\'s, and follows it when it changes', () => {
    expect(named.contentType).toBe(named.prometheusContentType);
    register.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
    expect(named.contentType).toBe(named.openMetricsContentType);
    client.contentType = Registry.PROMETHEUS_CONTENT_TYPE;
    expect(register.contentType).toBe(named.prometheusContentType);
    expect(named.contentType).toBe(named.prometheusContentType);
  });

  it('validateMetricName accepts what prom-client accepts', () => {
    for (const name of ['ok_name', 'ns:sub_total', '_x', '1abc', 'with-dash', '', 'späti']) {
      expect(named.validateMetricName(name), name).toBe(promClient.validateMetricName(name));
    }
  });
});

describe('Counter: goes up', () => {
  it('inc() adds 1, inc(n) adds n, per label set', async () => {
    const counter = new Counter({ name: 'metric_name', help: 'metric_help', labelNames: ['method'] });
    counter.inc();
    counter.inc(10);
    counter.inc({ method: 'GET' });
    counter.inc({ method: 'GET' }, 2);
    expect(await valueOf(counter)).toBe(11);
    expect(await valueOf(counter, { method: 'GET' })).toBe(3);
  });

  it('cannot be decreased', () => {
    const counter = new Counter({ name: 'c', help: 'h' });
    expect(() => counter.inc(-1)).toThrow('It is not possible to decrease a counter');
  });
});

describe('Gauge: goes up and down', () => {
  it('set, inc, inc(n), dec, dec(n)', async () => {
    const gauge = new Gauge({ name: 'metric_name', help: 'metric_help' });
    gauge.set(10);
    gauge.inc();
    gauge.inc(10);
    gauge.dec();
    gauge.dec(10);
    expect(await valueOf(gauge)).toBe(10);
  });

  it('a collect function, sync or async, runs when the registry collects, with `this` the gauge', async () => {
    let calls = 0;
    new Gauge({ name: 'sync_g', help: 'h', collect() { this.set(++calls); } });
    new Gauge({ name: 'async_g', help: 'h', async collect() { await new Promise((r) => setTimeout(r, 5)); this.set(42); } });
    const text = await register.metrics();
    expect(text).toContain('sync_g 1\n');
    expect(text).toContain('async_g 42\n');
    await register.metrics();
    expect(calls).toBe(2);
  });

  it('setToCurrentTime sets seconds since the epoch; a timer sets the duration and returns it', async () => {
    const gauge = new Gauge({ name: 'g', help: 'h' });
    const before = Date.now() / 1000;
    gauge.setToCurrentTime();
    const now = (await valueOf(gauge))!;
    expect(now).toBeGreaterThanOrEqual(before - 0.001);
    expect(now).toBeLessThanOrEqual(Date.now() / 1000 + 0.001);
    const end = gauge.startTimer();
    await new Promise((r) => setTimeout(r, 20));
    const seconds = end();
    expect(seconds).toBeGreaterThanOrEqual(0.015);
    expect(await valueOf(gauge)).toBe(seconds);
  });
});

describe('Histogram: sizes and frequency of events', () => {
  it('has the default web/RPC buckets, or the ones given', async () => {
    const byDefault = new Histogram({ name: 'd', help: 'h' });
    const reference = new promClient.Histogram({ name: 'd', help: 'h', registers: [] });
    byDefault.observe(1);
    reference.observe(1);
    const bounds = async (m: { get(): Promise<{ values: Array<{ labels: { le?: unknown } }> }> }) =>
      (await m.get()).values.map((v) => v.labels.le).filter((le) => le !== undefined);
    expect(await bounds(byDefault)).toEqual(await bounds(reference));
    const custom = new Histogram({ name: 'c', help: 'h', buckets: [0.1, 5, 15, 50, 100, 500] });
    custom.observe(10);
    expect(await bounds(custom)).toEqual([0.1, 5, 15, 50, 100, 500, '+Inf']);
  });

  it('observe counts the value in every bucket at or above it, with sum and count', async () => {
    const histogram = new Histogram({ name: 'metric_name', help: 'metric_help', buckets: [1, 10, 100] });
    histogram.observe(10);
    histogram.observe(0.5);
    expect(await valueOf(histogram, { le: 1 }, 'metric_name_bucket')).toBe(1);
    expect(await valueOf(histogram, { le: 10 }, 'metric_name_bucket')).toBe(2);
    expect(await valueOf(histogram, { le: '+Inf' }, 'metric_name_bucket')).toBe(2);
    expect(await valueOf(histogram, {}, 'metric_name_sum')).toBe(10.5);
    expect(await valueOf(histogram, {}, 'metric_name_count')).toBe(2);
  });

  it('a timer observes the elapsed seconds and returns them', async () => {
    const histogram = new Histogram({ name: 'h', help: 'h' });
    const end = histogram.startTimer();
    await new Promise((r) => setTimeout(r, 20));
    const seconds = end();
    expect(seconds).toBeGreaterThanOrEqual(0.015);
    expect(await valueOf(histogram, {}, 'h_sum')).toBe(seconds);
  });

  it('zero() exports a label set before its first observation', async () => {
    const histogram = new Histogram({ name: 'h', help: 'h', buckets: [0.1, 5], labelNames: ['method'] });
    histogram.zero({ method: 'GET' });
    histogram.zero({ method: 'POST' });
    expect(await valueOf(histogram, { method: 'GET' }, 'h_count')).toBe(0);
    expect(await valueOf(histogram, { method: 'POST', le: 5 }, 'h_bucket')).toBe(0);
  });
});

describe('Summary: percentiles of observed values', () => {
  it('reports the default percentiles, or the ones given', async () => {
    const quantiles = async (m: { get(): Promise<{ values: Array<{ labels: { quantile?: number } }> }> }) =>
      (await m.get()).values.map((v) => v.labels.quantile).filter((q) => q !== undefined);
    const byDefault = new Summary({ name: 's', help: 'h' });
    expect(await quantiles(byDefault)).toEqual([0.01, 0.05, 0.5, 0.9, 0.95, 0.99, 0.999]);
    const custom = new Summary({ name: 'c', help: 'h', percentiles: [0.01, 0.1, 0.9, 0.99] });
    expect(await quantiles(custom)).toEqual([0.01, 0.1, 0.9, 0.99]);
  });

  it('observe feeds the percentiles, sum and count; a timer observes seconds', async () => {
    const summary = new Summary({ name: 's', help: 'h', percentiles: [0.5] });
    for (const v of [1, 2, 3, 4, 5]) summary.observe(v);
    expect(await valueOf(summary, { quantile: 0.5 })).toBe(3);
    expect(await valueOf(summary, {}, 's_sum')).toBe(15);
    expect(await valueOf(summary, {}, 's_count')).toBe(5);
    const end = summary.startTimer();
    expect(end()).toBeGreaterThanOrEqual(0);
    expect(await valueOf(summary, {}, 's_count')).toBe(6);
  });

  it('an empty summary is exported with zero percentiles, unless pruneAgedBuckets is set', async () => {
    const kept = new Summary({ name: 'kept', help: 'h', percentiles: [0.5], maxAgeSeconds: 600, ageBuckets: 5, pruneAgedBuckets: false });
    const pruned = new Summary({ name: 'pruned', help: 'h', percentiles: [0.5], maxAgeSeconds: 600, ageBuckets: 5, pruneAgedBuckets: true });
    expect(await valueOf(kept, { quantile: 0.5 })).toBe(0);
    expect((await pruned.get()).values).toEqual([]);
  });
});

describe('labels', () => {
  it('a label object on the call, labels(object) and labels(...values) reach the same series', async () => {
    const gauge = new Gauge({ name: 'metric_name', help: 'metric_help', labelNames: ['method', 'statusCode'] });
    gauge.set({ method: 'GET', statusCode: '200' }, 100);
    gauge.labels({ method: 'GET', statusCode: '200' }).inc(1);
    gauge.labels('GET', '200').inc(1);
    expect((await gauge.get()).values).toEqual([{ value: 102, labels: { method: 'GET', statusCode: '200' } }]);
  });

  it('timers take labels when started and when ended', async () => {
    const histogram = new Histogram({ name: 'h', help: 'h', labelNames: ['method', 'statusCode'] });
    const end = histogram.startTimer({ method: 'GET' });
    end({ statusCode: '500' });
    expect(await valueOf(histogram, { method: 'GET', statusCode: '500' }, 'h_count')).toBe(1);
  });

  it('an undeclared label is an error', () => {
    const counter = new Counter({ name: 'c', help: 'h', labelNames: ['method'] });
    expect(() => counter.inc({ methods: 1 } as never)).toThrow(/Added label "methods" is not included in initial labelset/);
  });
});

describe('registries', () => {
  it('default labels go on every series, a series\' own label wins, clear() removes them', async () => {
    const counter = new Counter({ name: 'c', help: 'h', labelNames: ['serviceName', 'k'] });
    counter.inc({ k: 'a' });
    counter.inc({ k: 'b', serviceName: 'own' });
    register.setDefaultLabels({ serviceName: 'api-v1' });
    const text = await register.metrics();
    // prom-client's order: the series' labels as given, then the default labels it lacks.
    expect(text).toContain('c{k="a",serviceName="api-v1"} 1\n');
    expect(text).toContain('c{k="b",serviceName="own"} 1\n');
    register.clear();
    register.registerMetric(counter);
    expect(await register.metrics()).toContain('c{k="a"} 1\n');
  });

  it('registers: [] keeps a metric out; registerMetric adds it; merge joins registries and refuses duplicates', async () => {
    const registry = new Registry();
    const counter = new Counter({ name: 'metric_name', help: 'metric_help', registers: [registry] });
    const histogram = new Histogram({ name: 'other_name', help: 'metric_help', registers: [] });
    expect(register.getSingleMetric('metric_name')).toBeUndefined();
    expect(registry.getSingleMetric('other_name')).toBeUndefined();
    registry.registerMetric(histogram);
    expect(registry.getSingleMetric('other_name')).toBe(histogram);
    counter.inc();
    const merged = Registry.merge([registry, register]);
    expect(merged.getMetricsAsArray()).toHaveLength(2);
    new Counter({ name: 'metric_name', help: 'x' });
    expect(() => Registry.merge([registry, register])).toThrow(/already been registered/);
  });

  it('single metrics as text, removal, and resetMetrics that keeps metrics registered', async () => {
    const counter = new Counter({ name: 'c', help: 'h' });
    counter.inc(5);
    expect(await register.getSingleMetricAsString('c')).toBe('# HELP c h\n# TYPE c counter\nc 5');
    register.resetMetrics();
    expect(register.getSingleMetric('c')).toBe(counter);
    expect(await valueOf(counter)).toBe(0);
    register.removeSingleMetric('c');
    expect(register.getSingleMetric('c')).toBeUndefined();
  });

  it('the OpenMetrics registry type ends with # EOF', async () => {
    const registry = new Registry(Registry.OPENMETRICS_CONTENT_TYPE);
    new Counter({ name: 'c', help: 'h', registers: [registry] }).inc();
    const text = await registry.metrics();
    expect(text).toContain('# TYPE c counter');
    expect(text.endsWith('# EOF\n')).toBe(true);
  });
});

describe('bucket generators', () => {
  it('linear and exponential, as prom-client computes them', () => {
    expect(named.linearBuckets(0, 10, 20)).toEqual(promClient.linearBuckets(0, 10, 20));
    expect(named.linearBuckets(0, 10, 20)).toHaveLength(20);
    expect(named.exponentialBuckets(1, 2, 5)).toEqual([1, 2, 4, 8, 16]);
  });
});

describe('collectDefaultMetrics', () => {
  /** name -> [type, help, label names] of a registry's metrics. */
  async function shape(registry: { getMetricsAsJSON(): Promise<Array<{ name: string; type: unknown; help: string; values: Array<{ labels: object }> }>> }) {
    const out: Record<string, unknown> = {};
    for (const m of await registry.getMetricsAsJSON()) {
      const labelNames = [...new Set(m.values.flatMap((v) => Object.keys(v.labels)))].filter((l) => l !== 'le').sort();
      out[m.name] = [String(m.type), m.help, labelNames];
    }
    return out;
  }

  it('registers the metrics prom-client registers: same names, types, help and labels', async () => {
    const ours = new Registry();
    const theirs = new promClient.Registry();
    named.collectDefaultMetrics({ register: ours });
    promClient.collectDefaultMetrics({ register: theirs });
    expect(await shape(ours)).toEqual(await shape(theirs));
    expect(named.collectDefaultMetrics.metricsList).toEqual(promClient.collectDefaultMetrics.metricsList);
  });

  it('takes a prefix, labels on every metric, and GC buckets', async () => {
    const ours = new Registry();
    const theirs = new promClient.Registry();
    const config = { prefix: 'my_application_', labels: { NODE_APP_INSTANCE: '3' }, gcDurationBuckets: [0.1, 0.2, 0.3] };
    named.collectDefaultMetrics({ ...config, register: ours });
    promClient.collectDefaultMetrics({ ...config, register: theirs });
    expect(await shape(ours)).toEqual(await shape(theirs));
    for (const m of await ours.getMetricsAsJSON()) {
      expect(m.name.startsWith('my_application_')).toBe(true);
      for (const v of m.values) expect(v.labels).toMatchObject({ NODE_APP_INSTANCE: '3' });
    }
    expect((ours.getSingleMetric('my_application_nodejs_gc_duration_seconds') as InstanceType<typeof Histogram>).upperBounds).toEqual([0.1, 0.2, 0.3]);
  });

  it('registers in the global registry by default, and refuses a config that is not an object', async () => {
    named.collectDefaultMetrics();
    expect(register.getSingleMetric('process_cpu_user_seconds_total')).toBeDefined();
    expect(() => named.collectDefaultMetrics('x' as never)).toThrow('config must be null, undefined, or an object');
  });
});

describe('AggregatorRegistry.aggregate and aggregators', () => {
  it('sums by default and applies each metric\'s aggregator, like prom-client', async () => {
    const workers = [1, 4].map((n) => {
      const registry = new promClient.Registry();
      new promClient.Counter({ name: 'req_total', help: 'r', labelNames: ['code'], registers: [registry] }).inc({ code: 200 }, n);
      for (const aggregator of ['first', 'min', 'max', 'average', 'omit'] as const) {
        new promClient.Gauge({ name: `g_${aggregator}`, help: aggregator, aggregator, registers: [registry] }).set(n);
      }
      new promClient.Histogram({ name: 'h', help: 'h', buckets: [2], registers: [registry] }).observe(n);
      return registry;
    });
    const jsons = await Promise.all(workers.map((w) => w.getMetricsAsJSON()));
    const ours = named.AggregatorRegistry.aggregate(jsons as never);
    const theirs = promClient.AggregatorRegistry.aggregate(jsons);
    const valuesOf = async (r: { getMetricsAsJSON(): Promise<Array<{ name: string; values: unknown[] }>> }) =>
      Object.fromEntries((await r.getMetricsAsJSON()).map((m) => [m.name, m.values]));
    expect(await valuesOf(ours)).toEqual(await valuesOf(theirs));
    const text = await ours.metrics();
    expect(text).toBe(await theirs.metrics());
    expect(text).not.toContain('g_omit');
    expect(named.aggregators.max([{ name: 'x', help: '', type: 'gauge', aggregator: 'max', values: [{ value: 3, labels: {} }] }] as never)?.values[0].value).toBe(3);
  });

  it('an unknown aggregator is an error', () => {
    expect(() => named.AggregatorRegistry.aggregate([[{ name: 'x', help: '', type: 'gauge', aggregator: 'median', values: [] }]] as never)).toThrow("'median' is not a defined aggregator.");
  });
});

describe('Pushgateway', () => {
  let server: http.Server;
  const requests: Array<{ method: string; url: string; body: string }> = [];
  beforeEach(async () => {
    requests.length = 0;
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        requests.push({ method: req.method!, url: req.url!, body });
        res.writeHead(req.url!.includes('fail') ? 500 : 200).end('ok');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  });
  afterEach(async () => {
    await new Promise((r) => server.close(r));
  });

  it('pushAdd POSTs, push PUTs, delete DELETEs, with groupings in the path and the registry as body', async () => {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    new Counter({ name: 'batch_jobs_total', help: 'h' }).inc(3);
    const gateway = new named.Pushgateway(url, { timeout: 5000 });
    const { resp, body } = await gateway.pushAdd({ jobName: 'test', groupings: { key: 'va lue' } });
    expect(resp.statusCode).toBe(200);
    expect(body).toBe('ok');
    await gateway.push({ jobName: 'test' });
    await gateway.delete({ jobName: 'test' });
    expect(requests.map((r) => [r.method, r.url])).toEqual([
      ['POST', '/metrics/job/test/key/va%20lue'], ['PUT', '/metrics/job/test'], ['DELETE', '/metrics/job/test'],
    ]);
    expect(requests[0].body).toContain('batch_jobs_total 3\n');
    expect(requests[2].body).toBe('');
    expect(() => gateway.pushAdd()).toThrow('Missing jobName parameter');
    await new named.Pushgateway(url, { requireJobName: false }).pushAdd();
    expect(requests[3].url).toBe('/metrics');
    await expect(gateway.push({ jobName: 'fail' })).rejects.toThrow('push failed with status 500');
  });
});

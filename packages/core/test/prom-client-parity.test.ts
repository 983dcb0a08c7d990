// In memory, `@prom-multiproc/core/prom-client` behaves as prom-client 15 does. Each test
// runs the same operations on both libraries, side by side, and compares what a user sees:
// text 0.0.4 and OpenMetrics byte for byte, getMetricsAsJSON(), get(), errors.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import promClient from 'prom-client';
import { beforeEach, describe, expect, it } from 'vitest';
import { configureStorage } from '../src/index.js';
import * as ours from '../src/prom-client.js';

type Lib = typeof promClient;

beforeEach(() => {
  configureStorage();
});

/** Runs `ops` against a fresh registry of each library and returns both registries. */
async function both(ops: (lib: Lib, registry: InstanceType<Lib['Registry']>) => void | Promise<void>) {
  const theirs = new promClient.Registry();
  const mine = new ours.Registry();
  await ops(promClient, theirs);
  await ops(ours as unknown as Lib, mine as unknown as InstanceType<Lib['Registry']>);
  return { theirs, mine };
}

/** Asserts both registries render the same text 0.0.4, OpenMetrics and JSON. */
async function expectSameOutput(theirs: InstanceType<Lib['Registry']>, mine: InstanceType<Lib['Registry']>) {
  expect(await mine.metrics()).toBe(await theirs.metrics());
  expect(await mine.getMetricsAsJSON()).toEqual(await theirs.getMetricsAsJSON());
  theirs.setContentType(promClient.Registry.OPENMETRICS_CONTENT_TYPE as never);
  mine.setContentType(ours.Registry.OPENMETRICS_CONTENT_TYPE as never);
  expect(await mine.metrics()).toBe(await theirs.metrics());
}

describe('text and OpenMetrics output, byte for byte', () => {
  it('every metric type with labels in the caller\'s order, numbers as JavaScript prints them, default labels', async () => {
    const { theirs, mine } = await both((lib, registry) => {
      const registers = [registry];
      const c = new lib.Counter({ name: 'http_requests_total', help: 'Requests\nwith "quotes" and \\', labelNames: ['route', 'code'], registers });
      c.inc({ route: '/a', code: 200 });
      c.inc({ code: 500, route: '/b"\n\\' }, 0.1 + 0.2);
      c.labels('/c', '404').inc(1e21);
      const plain = new lib.Counter({ name: 'plain', help: 'no _total', registers });
      plain.inc(1e-7);
      const g = new lib.Gauge({ name: 'temperature', help: 'g', labelNames: ['room'], registers });
      g.set({ room: 'x' }, -0);
      g.set({ room: 'nan' }, NaN);
      g.set({ room: 'inf' }, -Infinity);
      g.inc({ room: 'x' }, 2.5);
      g.dec({ room: 'x' });
      const h = new lib.Histogram({ name: 'latency_seconds', help: 'h', labelNames: ['m'], buckets: [0.1, 1, 10], registers });
      h.observe({ m: 'GET' }, 0.05);
      h.observe({ m: 'GET' }, 5);
      h.observe({ m: 'POST' }, 100);
      new lib.Histogram({ name: 'bare_hist', help: 'h', buckets: [1e-3, 2], registers }).observe(1);
      const s = new lib.Summary({ name: 'size_bytes', help: 's', labelNames: ['kind'], percentiles: [0.5, 0.9], registers });
      for (let i = 1; i <= 10; i++) s.observe({ kind: 'a' }, i);
      new lib.Summary({ name: 'empty_summary', help: 's', registers });
      registry.setDefaultLabels({ app: 'api', route: 'default-loses' });
    });
    await expectSameOutput(theirs, mine);
  });

  it('an empty registry, metrics without values, removed and reset series', async () => {
    const empty = await both(() => {});
    await expectSameOutput(empty.theirs, empty.mine);
    const { theirs, mine } = await both((lib, registry) => {
      const registers = [registry];
      new lib.Counter({ name: 'never', help: 'h', labelNames: ['x'], registers });
      const c = new lib.Counter({ name: 'c', help: 'h', labelNames: ['x'], registers });
      c.inc({ x: 'a' });
      c.inc({ x: 'b' });
      c.remove('a');
      c.inc({ x: 'a' }, 4);
      const h = new lib.Histogram({ name: 'h', help: 'h', buckets: [1], registers });
      h.observe(3);
      h.reset();
      const labeled = new lib.Histogram({ name: 'hl', help: 'h', labelNames: ['x'], buckets: [1], registers });
      labeled.zero({ x: 'z' });
      labeled.observe({ x: 'y' }, 0.5);
      labeled.zero({ x: 'y' });
      const s = new lib.Summary({ name: 's', help: 'h', labelNames: ['x'], percentiles: [0.5], registers });
      s.observe({ x: 'kept' }, 3);
      s.reset();
      const g = new lib.Gauge({ name: 'g', help: 'h', registers });
      g.set(7);
      g.reset();
    });
    await expectSameOutput(theirs, mine);
  });

  it('getSingleMetricAsString: one family, no trailing newline', async () => {
    const { theirs, mine } = await both((lib, registry) => {
      new lib.Histogram({ name: 'one', help: 'h', labelNames: ['a'], buckets: [1], registers: [registry] }).observe({ a: 'x' }, 0.5);
      registry.setDefaultLabels({ env: 'prod' });
    });
    expect(await mine.getSingleMetricAsString('one')).toBe(await theirs.getSingleMetricAsString('one'));
  });
});

describe('every metric object owns its values (in memory)', () => {
  it('a metric created again after register.clear() starts from zero', async () => {
    const { register, Counter } = ours;
    try {
      new Counter({ name: 'restarted_total', help: 'h' }).inc(2);
      register.clear();
      const again = new Counter({ name: 'restarted_total', help: 'h' });
      again.inc(100);
      expect((await again.get()).values).toEqual([{ value: 100, labels: {} }]);
      expect(await register.metrics()).toContain('restarted_total 100\n');
    } finally {
      register.clear();
    }
  });

  it('two registries with a metric of the same name keep separate series', async () => {
    const a = new ours.Registry();
    const b = new ours.Registry();
    const ca = new ours.Gauge({ name: 'same', help: 'h', labelNames: ['k'], registers: [a] });
    const cb = new ours.Gauge({ name: 'same', help: 'h', labelNames: ['k'], registers: [b] });
    ca.set({ k: 'x' }, 1);
    cb.set({ k: 'x' }, 5);
    cb.set({ k: 'y' }, 6);
    expect((await ca.get()).values).toEqual([{ value: 1, labels: { k: 'x' } }]);
    expect(await a.metrics()).toBe('# HELP same h\n# TYPE same gauge\nsame{k="x"} 1\n');
    expect(await b.metrics()).toBe('# HELP same h\n# TYPE same gauge\nsame{k="x"} 5\nsame{k="y"} 6\n');
  });
});

describe('custom collectors and foreign metrics in our registries', () => {
  it('a `{ name, get() }` collector and a real prom-client metric render in text, OpenMetrics and JSON', async () => {
    const registry = new ours.Registry();
    const foreignRegistry = new promClient.Registry();
    new ours.Counter({ name: 'own_total', help: 'ours', registers: [registry] }).inc(2);
    const collector = {
      name: 'custom_gauge',
      get: () => ({ name: 'custom_gauge', help: 'from a collector', type: 'gauge', aggregator: 'sum', values: [{ value: 7, labels: { source: 'x' } }] }),
    };
    registry.registerMetric(collector as never);
    foreignRegistry.registerMetric(collector as never);
    const foreign = new promClient.Histogram({ name: 'foreign_seconds', help: 'theirs', labelNames: ['a'], buckets: [1], registers: [] });
    foreign.observe({ a: 'b' }, 0.5);
    registry.registerMetric(foreign as never);
    foreignRegistry.registerMetric(foreign);
    const theirOwn = new promClient.Counter({ name: 'own_total', help: 'ours', registers: [] });
    theirOwn.inc(2);
    // Same order in both registries: ours first, then the collector and the foreign histogram.
    const reference = promClient.Registry.merge([
      (() => { const r = new promClient.Registry(); r.registerMetric(theirOwn); return r; })(),
      foreignRegistry,
    ]);
    expect(await registry.metrics()).toBe(await reference.metrics());
    expect(await registry.getMetricsAsJSON()).toEqual(await reference.getMetricsAsJSON());
    registry.setContentType(ours.Registry.OPENMETRICS_CONTENT_TYPE as never);
    reference.setContentType(promClient.Registry.OPENMETRICS_CONTENT_TYPE);
    expect(await registry.metrics()).toBe(await reference.metrics());
    // The collector's Python-rendered families (what a collector serving this registry shows) include them too.
    const families = await registry.families();
    expect(families.map((f) => f.name)).toEqual(['own', 'custom_gauge', 'foreign_seconds']);
    expect(families[1].samples).toEqual([{ name: 'custom_gauge', labels: [['source', 'x']], value: 7 }]);
  });
});

describe('collectors without a name, with values prom-client prints specially', () => {
  it('render the same as in prom-client', async () => {
    const { theirs, mine } = await both((_lib, registry) => {
      registry.registerMetric({
        async get() {
          return { name: 'odd_values', type: 'gauge', help: 'h', values: [{ value: NaN }, { value: Infinity, labels: { a: 1 } }, { value: -Infinity }] };
        },
      } as never);
    });
    await expectSameOutput(theirs, mine);
  });
});

describe('smaller differences that are gone', () => {
  it('label values keep their type in get() and JSON', async () => {
    const { theirs, mine } = await both((lib, registry) => {
      new lib.Gauge({ name: 'g', help: 'h', labelNames: ['NODE_APP_INSTANCE'], registers: [registry] }).set({ NODE_APP_INSTANCE: 0 }, 1);
    });
    expect(await mine.getMetricsAsJSON()).toEqual(await theirs.getMetricsAsJSON());
    expect((await mine.getMetricsAsJSON())[0].values[0].labels).toEqual({ NODE_APP_INSTANCE: 0 });
  });

  it('an unlabeled histogram after reset() shows no series', async () => {
    const h = new ours.Histogram({ name: 'h', help: 'h', registers: [] });
    h.observe(1);
    h.reset();
    expect((await h.get()).values).toEqual([]);
  });

  it('error texts print the value as prom-client does', () => {
    const theirs = new promClient.Histogram({ name: 'h', help: 'h', registers: [] });
    const mine = new ours.Histogram({ name: 'h', help: 'h', registers: [] });
    const messageOf = (f: () => void) => { try { f(); } catch (err) { return (err as Error).message; } return 'no error'; };
    for (const bad of ['3ms', { a: 1 }, undefined]) {
      expect(messageOf(() => mine.observe(bad as never))).toBe(messageOf(() => theirs.observe(bad as never)));
    }
  });

  it('aggregate(...).getSingleMetric(name).get() returns the object, not a promise', async () => {
    const worker = new promClient.Registry();
    new promClient.Counter({ name: 'x_total', help: 'h', registers: [worker] }).inc();
    const json = await worker.getMetricsAsJSON();
    const aggregated = ours.AggregatorRegistry.aggregate([json, json]).getSingleMetric('x_total')!.get();
    expect(aggregated).not.toBeInstanceOf(Promise);
    expect(aggregated).toEqual(promClient.AggregatorRegistry.aggregate([json, json]).getSingleMetric('x_total')!.get());
  });
});

describe('Pushgateway: prom-client\'s constructor forms and request', () => {
  /** Records every request a gateway receives: method, path, headers that shape the body, and the body. */
  async function gateway() {
    const requests: Array<{ method: string; url: string; encoding: string | undefined; chunked: boolean; body: Buffer }> = [];
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        requests.push({
          method: req.method!, url: req.url!, encoding: req.headers['content-encoding'] as string | undefined,
          chunked: req.headers['transfer-encoding'] === 'chunked', body: Buffer.concat(chunks),
        });
        res.end('ok');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return { requests, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise((r) => server.close(r)) };
  }

  it('null options and registry, a path prefix, gzip: the same requests as prom-client\'s', async () => {
    const { requests, url, close } = await gateway();
    try {
      const { theirs, mine } = await both((lib, registry) => {
        new lib.Histogram({ name: 'push_seconds', help: 'h', labelNames: ['job_kind'], buckets: [1], registers: [registry] }).observe({ job_kind: 'a' }, 0.5);
      });
      for (const [lib, registry] of [[promClient, theirs], [ours, mine]] as const) {
        const Gateway = lib.Pushgateway as unknown as typeof promClient.Pushgateway;
        await new Gateway(`${url}/prefix`, null as never, registry as never).pushAdd({ jobName: 'j', groupings: { instance: 'i 1' } });
        await new Gateway(url, { headers: { 'Content-Encoding': 'gzip' } }, registry as never).push({ jobName: 'j' });
        await new Gateway(url, { headers: { 'Content-Encoding': 'gzip' } }, registry as never).delete({ jobName: 'j' });
      }
      const [theirRequests, ourRequests] = [requests.slice(0, 3), requests.slice(3)];
      expect(ourRequests.map((r) => ({ ...r, body: r.body.toString('base64') }))).toEqual(theirRequests.map((r) => ({ ...r, body: r.body.toString('base64') })));
      expect(theirRequests[0].url).toBe('/prefix/metrics/job/j/instance/i%201');
      expect(gunzipSync(ourRequests[1].body).toString()).toBe(await theirs.metrics());
    } finally {
      await close();
    }
  });
});

// Exemplars end to end: a 4-worker node:cluster app records exemplars in every worker, a
// real Prometheus (exemplar storage on) scrapes the collector in OpenMetrics, and its
// /api/v1/query_exemplars returns the trace ids the workers sent, on the right series and
// buckets.
import { afterEach, expect } from 'vitest';
import { ClusterApp, httpGet } from './helpers/cluster.js';
import { PrometheusServer } from './helpers/prometheus.js';
import { itWithTools } from './helpers/tools.js';

let app: ClusterApp | undefined;
let prometheus: PrometheusServer | undefined;

afterEach(async () => {
  prometheus?.stop();
  prometheus = undefined;
  if (app) {
    await app.stop().catch(() => app?.kill());
    app = undefined;
  }
});

itWithTools(['prometheus'])('Prometheus stores the exemplars four workers sent, per series and bucket', async () => {
  app = await ClusterApp.start(4, {}, 'exemplar-cluster-app.mjs');
  const pids = app.livePids();
  expect(pids).toHaveLength(4);
  // Worker i: its own route, and one observation in bucket i (<=0.1, <=1, <=10, +Inf).
  const values = [0.05, 0.5, 5, 50];
  const buckets = ['0.1', '1.0', '10.0', '+Inf'];
  let seq = 0;
  const record = async (pid: number, msg: Record<string, unknown>) => {
    const id = ++seq;
    app!.send({ cmd: 'exemplar', pid, seq: id, ...msg });
    await app!.waitFor((m) => m.event === 'exemplarDone' && m.seq === id);
  };
  const trace = (i: number) => `${i}a${pids[i]}f0${'0123456789abcdef'.repeat(2).slice(i, i + 16)}`;
  for (let i = 0; i < 4; i++) await record(pids[i], { route: `/w${i}`, trace: trace(i), value: values[i] });
  // One series all four write, in turn: the newest (the last worker's) is served.
  for (let i = 0; i < 4; i++) {
    await record(pids[i], { route: '/shared', trace: `shared-${trace(i)}` });
    await new Promise((r) => setTimeout(r, 5));
  }
  const om = await httpGet(app.url, { Accept: 'application/openmetrics-text; version=1.0.0' });
  expect(om.body).toContain(`app_requests_total{route="/shared"} 4.0 # {trace_id="shared-${trace(3)}"} 1.0 `);

  const { host, pathname } = new URL(app.url);
  prometheus = await PrometheusServer.start(host, pathname, {
    flags: ['--enable-feature=exemplar-storage'],
  });
  const deadline = Date.now() + 30_000;
  let counters: Awaited<ReturnType<PrometheusServer['queryExemplars']>> = [];
  let histogram: typeof counters = [];
  while (Date.now() < deadline) {
    counters = await prometheus.queryExemplars('app_requests_total');
    histogram = await prometheus.queryExemplars('app_latency_seconds_bucket');
    if (counters.length >= 5 && histogram.length >= 4) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  const tracesOf = (series: typeof counters, match: Record<string, string>) =>
    series.filter((s) => Object.entries(match).every(([k, v]) => s.seriesLabels[k] === v)).flatMap((s) => s.exemplars.map((e) => e.labels.trace_id));
  for (let i = 0; i < 4; i++) {
    expect(tracesOf(counters, { route: `/w${i}` })).toEqual([trace(i)]);
    const inBucket = histogram.filter((s) => s.seriesLabels.le === buckets[i]).flatMap((s) => s.exemplars);
    expect(inBucket.map((e) => [e.labels.trace_id, Number(e.value)])).toEqual([[trace(i), values[i]]]);
  }
  expect(tracesOf(counters, { route: '/shared' })).toEqual([`shared-${trace(3)}`]);
}, 90_000);

// End to end: an express app with express-prom-bundle (real prom-client) in a real
// node:cluster, moved to prom-multiproc by the steps of docs/migration.md. The workers'
// prom-client registries are mirrored into their files by the bridge; the primary merges.
import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { ClusterApp, httpGet, sampleValue } from './helpers/cluster.js';

let app: ClusterApp | undefined;
let seq = 0;

afterEach(async () => {
  if (app) {
    await app.stop().catch(() => app?.kill());
    app = undefined;
  }
});

const start = (env: Record<string, string>, workers = 2) => ClusterApp.start(workers, env, 'express-cluster-app.mjs');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Sends `n` requests to the workers' shared port, `concurrency` at a time; returns the pids that answered. */
async function sendRequests(target: ClusterApp, n: number, concurrency = 8): Promise<Map<number, number>> {
  const port = target.messages.find((m) => m.event === 'online')!.port as number;
  const agent = new http.Agent({ keepAlive: false });
  const byPid = new Map<number, number>();
  let next = 0;
  const one = (i: number) => new Promise<void>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/work', method: i % 4 === 0 ? 'POST' : 'GET', agent }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => {
        byPid.set(Number(body), (byPid.get(Number(body)) ?? 0) + 1);
        resolve();
      });
    });
    req.on('error', reject);
    req.end();
  });
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < n) await one(next++);
  }));
  agent.destroy();
  return byPid;
}

/** Merged request count over every series of the express-prom-bundle histogram. */
function requestCount(body: string): number {
  let total = 0;
  for (const line of body.split('\n')) {
    if (line.startsWith('http_request_duration_seconds_count{')) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

/** Scrapes until `done(body)` or the deadline; checks every scrape with `each`. */
async function scrapeUntil(target: ClusterApp, done: (body: string) => boolean, each: (body: string) => void, timeoutMs = 10_000, everyMs = 100): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { status, body } = await httpGet(target.url);
    expect(status).toBe(200);
    each(body);
    if (done(body) || Date.now() > deadline) return body;
    await sleep(everyMs);
  }
}

describe.each(['aggregator', 'collector'])('express-prom-bundle in a cluster, primary: %s', (primary) => {
  it('the merged http_request_duration_seconds counts equal the requests sent, and never overshoot', async () => {
    app = await start({ PRIMARY: primary, BRIDGE_INTERVAL_MS: '200' }, 3);
    const byPid = await sendRequests(app, 300);
    expect(byPid.size).toBeGreaterThanOrEqual(2); // the cluster spread them: the total is a merge
    const body = await scrapeUntil(app, (b) => requestCount(b) === 300, (b) => expect(requestCount(b)).toBeLessThanOrEqual(300));
    expect(requestCount(body)).toBe(300);
    expect(sampleValue(body, 'http_request_duration_seconds_count{method="GET",path="/work",status_code="200"}')).toBe(225);
    expect(sampleValue(body, 'http_request_duration_seconds_count{method="POST",path="/work",status_code="201"}')).toBe(75);
    expect(sampleValue(body, 'http_request_duration_seconds_bucket{le="+Inf",method="GET",path="/work",status_code="200"}')).toBe(225);
    expect(body).toMatch(/# TYPE http_request_duration_seconds histogram/);
    expect(sampleValue(body, 'up')).toBe(3); // express-prom-bundle's up gauge, summed over live workers
  });
});

describe('express-prom-bundle in a cluster: freshness, exits, promise 4', () => {
  it('default metrics are merged by their rule: one fd limit, one version, memory summed', async () => {
    app = await start({ PRIMARY: 'collector' }, 2);
    const [major, minor, patch] = process.versions.node.split('.');
    const version = `nodejs_version_info{major="${major}",minor="${minor}",patch="${patch}",version="${process.version}"}`;
    const limits = await import('node:fs').then((fs) => fs.readFileSync('/proc/self/limits', 'utf8'));
    const maxFds = Number(/Max open files\s+(\d+)/.exec(limits)![1]);
    // Until both workers have run every default-metric callback once; never more than one limit.
    const body = await scrapeUntil(app, (b) => sampleValue(b, 'process_max_fds') === maxFds && sampleValue(b, version) !== undefined
      && (sampleValue(b, 'process_cpu_seconds_total') ?? 0) > 0 && (sampleValue(b, 'nodejs_heap_size_used_bytes') ?? 0) > 0,
    (b) => expect(sampleValue(b, 'process_max_fds') ?? 0).toBeLessThanOrEqual(maxFds));
    expect(sampleValue(body, version)).toBe(1);
    expect(sampleValue(body, 'process_max_fds')).toBe(maxFds); // not 2 × the limit
    expect(sampleValue(body, 'process_resident_memory_bytes')).toBeGreaterThan(2 * 10e6);
    expect(sampleValue(body, 'process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(sampleValue(body, 'nodejs_eventloop_lag_max_seconds')).toBeGreaterThanOrEqual(0);
  });

  it('with a one-minute mirror period, steady scrapes still see fresh counts: the collector signals before each', async () => {
    app = await start({ PRIMARY: 'collector', BRIDGE_INTERVAL_MS: '60000' }, 2);
    await sendRequests(app, 50);
    // Irregular scrapes predict nothing: the workers have not mirrored yet.
    for (const gap of [50, 700, 150]) {
      expect(requestCount((await httpGet(app.url)).body)).toBe(0);
      await sleep(gap);
    }
    // A steady 400 ms period: from the third scrape on, a signal precedes each scrape.
    const counts: number[] = [];
    for (let i = 0; i < 8; i++) {
      counts.push(requestCount((await httpGet(app.url)).body));
      if (i === 4) await sendRequests(app, 25);
      await sleep(400);
    }
    // A signal precedes scrapes 3.. (one may land late on a loaded machine: the scrape never waits).
    expect([0, 50]).toContain(counts[3]);
    expect(counts[4]).toBe(50);
    expect(counts.slice(5).every((c) => c === 50 || c === 75)).toBe(true);
    expect(counts[counts.length - 1]).toBe(75);
  });

  it('a graceful exit (disconnect) mirrors last: with a one-minute period no count is lost, and dead workers\' counts stay', async () => {
    app = await start({ PRIMARY: 'aggregator', BRIDGE_INTERVAL_MS: '60000' }, 2);
    await sendRequests(app, 80);
    const pids = app.livePids();
    app.send({ cmd: 'disconnect' });
    await Promise.all(pids.map((pid) => app!.waitFor((m) => m.event === 'exit' && m.pid === pid)));
    const body = await scrapeUntil(app, (b) => requestCount(b) === 80, () => {}, 5000);
    expect(requestCount(body)).toBe(80);
    expect(app.messages.filter((m) => m.event === 'exit').map((m) => m.code)).toEqual([0, 0]);
  });

  it('process.exit() in a SIGTERM handler still mirrors last (synchronously, in the exit event)', async () => {
    app = await start({ PRIMARY: 'collector', BRIDGE_INTERVAL_MS: '60000' }, 2);
    await sendRequests(app, 60);
    const pids = app.livePids();
    app.send({ cmd: 'term' });
    await Promise.all(pids.map((pid) => app!.waitFor((m) => m.event === 'exit' && m.pid === pid)));
    const body = (await httpGet(app.url)).body;
    expect(requestCount(body)).toBe(60);
  });

  it('a worker stuck in a loop does not hold up the scrape, signals or not (promise 4)', async () => {
    app = await start({ PRIMARY: 'collector', BRIDGE_INTERVAL_MS: '200' }, 2);
    await sendRequests(app, 40);
    await scrapeUntil(app, (b) => requestCount(b) === 40, () => {});
    const [busy] = app.livePids();
    const id = ++seq;
    app.send({ cmd: 'busy', ms: 4000, pid: busy, seq: id });
    await app.waitFor((m) => m.event === 'busyStart' && m.seq === id);
    for (let i = 0; i < 4; i++) {
      const started = Date.now();
      const { body } = await httpGet(app.url);
      expect(Date.now() - started).toBeLessThan(1000);
      expect(requestCount(body)).toBe(40);
      await sleep(300);
    }
    expect(app.messages.some((m) => m.event === 'busyDone' && m.seq === id)).toBe(false);
  });
});

// End to end: a real node:cluster app, its primary serving merged metrics; real
// SIGKILLs, a busy worker, promtool and a real Prometheus server.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ClusterApp, httpGet, sampleValue } from './helpers/cluster.js';
import { PrometheusServer } from './helpers/prometheus.js';
import { itWithTools } from './helpers/tools.js';

let app: ClusterApp | undefined;
let prometheus: PrometheusServer | undefined;
let seq = 0;

afterEach(async () => {
  prometheus?.stop();
  prometheus = undefined;
  if (app) {
    await app.stop().catch(() => app?.kill());
    app = undefined;
  }
});

/** Asks every live worker (or one) to count `n` jobs and waits until they acknowledge. */
async function incrementAll(target: ClusterApp, n: number, pid?: number): Promise<number> {
  const id = ++seq;
  const pids = pid ? [pid] : target.livePids();
  target.send({ cmd: 'inc', n, seq: id, pid });
  await Promise.all(pids.map((p) => target.waitFor((m) => m.event === 'incDone' && m.seq === id && m.pid === p)));
  return n * pids.length;
}

const jobs = (body: string) => sampleValue(body, 'app_jobs_total{kind="batch"}');

describe('node:cluster primary serving the merged directory', () => {
  it('shows exact totals of all workers, with live gauges summed', async () => {
    app = await ClusterApp.start(3);
    const sent = (await incrementAll(app, 1000)) + (await incrementAll(app, 234));
    const res = await httpGet(app.url);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(jobs(res.body)).toBe(sent);
    expect(sampleValue(res.body, 'app_workers_up')).toBe(3);
    expect(sampleValue(res.body, 'app_job_size_count')).toBe(sent);
    expect(sampleValue(res.body, 'prom_multiproc_scrapes_total')).toBe(1);
    // The collector says how the workers write (this suite runs in both storage modes).
    const mode = process.env.PROM_MULTIPROC_STORAGE === 'fallback' ? 'fallback' : 'mmap';
    const other = mode === 'fallback' ? 'mmap' : 'fallback';
    expect(sampleValue(res.body, `prom_multiproc_writer_processes{storage="${mode}"}`)).toBe(3);
    expect(sampleValue(res.body, `prom_multiproc_writer_processes{storage="${other}"}`)).toBe(0);
  });

  it('counters never decrease when workers are SIGKILLed and replaced; dead workers are folded, their live gauges go away', async () => {
    app = await ClusterApp.start(3);
    let sent = 0;
    let previous = 0;
    for (let round = 0; round < 4; round++) {
      sent += await incrementAll(app, 500);
      const victim = app.livePids()[0];
      app.send({ cmd: 'kill', pid: victim, signal: 'SIGKILL' });
      await app.waitFor((m) => m.event === 'exit' && m.pid === victim);
      // The dead worker is folded: its files are gone, its counts live on in the archive.
      // (The 'exit' sweep asks each writer's liveness socket first, so it ends a moment later.)
      const deadline = Date.now() + 10_000;
      while (fs.readdirSync(app.directory).some((f) => f.includes(`_${victim}.db`)) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(fs.readdirSync(app.directory).filter((f) => f.includes(`_${victim}.db`))).toEqual([]);
      expect(fs.existsSync(`${app.directory}/counter_archive.db`)).toBe(true);
      const total = jobs((await httpGet(app.url)).body)!;
      expect(total).toBeGreaterThanOrEqual(previous);
      expect(total).toBe(sent);
      previous = total;
      await app.waitFor(() => app!.livePids().length === 3);
    }
    // Replacements are up: the live gauge counts exactly the live workers again.
    await incrementAll(app, 1); // every live worker has answered, so each has set its gauge
    sent += 3;
    const body = (await httpGet(app.url)).body;
    expect(sampleValue(body, 'app_workers_up')).toBe(3);
    expect(jobs(body)).toBe(sent);
  });

  it('a worker stuck in a busy loop does not hold up the scrape', async () => {
    app = await ClusterApp.start(2);
    await incrementAll(app, 10);
    const [busy] = app.livePids();
    const id = ++seq;
    app.send({ cmd: 'busy', ms: 4000, pid: busy, seq: id });
    await app.waitFor((m) => m.event === 'busyStart' && m.seq === id);
    const res = await httpGet(app.url);
    // The scrape came back while the worker was still spinning, with its counts in it.
    expect(app.messages.some((m) => m.event === 'busyDone' && m.seq === id)).toBe(false);
    expect(jobs(res.body)).toBe(20);
    await app.waitFor((m) => m.event === 'busyDone' && m.seq === id);
  });

  it('serves gzip, OpenMetrics, HEAD, 404 and 405, and survives a malformed request', async () => {
    app = await ClusterApp.start(1);
    await incrementAll(app, 5);
    const gz = await httpGet(app.url, { 'Accept-Encoding': 'gzip' });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(jobs(gz.body)).toBe(5);
    const om = await httpGet(app.url, { Accept: 'application/openmetrics-text; version=1.0.0' });
    expect(om.headers['content-type']).toBe('application/openmetrics-text; version=1.0.0; charset=utf-8');
    expect(om.body).toMatch(/# TYPE app_jobs counter\n/);
    expect(om.body.endsWith('# EOF\n')).toBe(true);
    const head = await httpGet(app.url, {}, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
    expect((await httpGet(app.url.replace('/metrics', '/other'))).status).toBe(404);
    expect((await httpGet(app.url, {}, 'POST')).status).toBe(405);
    const { hostname, port } = new URL(app.url);
    const raw = await new Promise<string>((resolve) => {
      const socket = net.connect(Number(port), hostname, () => socket.write('NOT HTTP AT ALL\r\n\r\n'));
      let data = '';
      socket.on('data', (d: Buffer) => (data += d));
      socket.on('close', () => resolve(data));
    });
    expect(raw).toMatch(/^HTTP\/1\.1 400/);
    expect((await httpGet(app.url)).status).toBe(200);
  });

  itWithTools(['promtool'])('promtool check metrics accepts what we serve', async () => {
    app = await ClusterApp.start(2);
    await incrementAll(app, 50);
    const body = (await httpGet(app.url)).body;
    const check = spawnSync('promtool', ['check', 'metrics'], { input: body, encoding: 'utf8' });
    expect(check.error).toBeUndefined();
    expect(`${check.stdout}${check.stderr}`).toBe('');
    expect(check.status).toBe(0);
  });

  itWithTools(['prometheus'])('a real Prometheus server scrapes the cluster and PromQL returns the workers\' count', async () => {
    app = await ClusterApp.start(2);
    const sent = await incrementAll(app, 777);
    const { host, pathname } = new URL(app.url);
    prometheus = await PrometheusServer.start(host, pathname);
    await prometheus.waitFor('up{job="prom-multiproc"}', (r) => r.length === 1 && r[0].value[1] === '1');
    const result = await prometheus.waitFor('app_jobs_total', (r) => r.length === 1 && Number(r[0].value[1]) === sent);
    expect(result[0].metric).toMatchObject({ __name__: 'app_jobs_total', kind: 'batch', job: 'prom-multiproc' });
    const live = await prometheus.query('app_workers_up');
    expect(Number(live[0].value[1])).toBe(2);
  });
});

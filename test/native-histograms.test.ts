// A real Prometheus (native histograms enabled) scrapes a 4-worker cluster through the
// collector's protobuf exposition: exact histogram_count, also after a SIGKILLed worker
// is folded, and histogram_quantile within the schema's error.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import protobuf from 'protobufjs';
import { afterEach, describe, expect } from 'vitest';
import { MetricFamilyMessage, PROTOBUF_CONTENT_TYPE } from '@prom-multiproc/core';
import { ClusterApp, httpGet } from './helpers/cluster.js';
import { PrometheusServer } from './helpers/prometheus.js';
import { itWithTools } from './helpers/tools.js';

let app: ClusterApp | undefined;
let prometheus: PrometheusServer | undefined;

afterEach(async () => {
  prometheus?.stop();
  prometheus = undefined;
  await app?.stop();
  app = undefined;
});

/** Deterministic values per worker: different distributions (log-uniform over different ranges). */
function valuesFor(worker: number, n: number): number[] {
  let seed = 1000 + worker;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  return Array.from({ length: n }, () => 10 ** (-3 + worker * 0.5 + random() * (0.5 + 0.5 * worker)));
}

async function observe(cluster: ClusterApp, pid: number, values: number[], seq: number): Promise<void> {
  cluster.send({ cmd: 'observe', pid, values, seq });
  await cluster.waitFor((m) => m.event === 'observed' && m.seq === seq && m.pid === pid);
}

/** The nearest-rank q-quantile. */
function exactQuantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1];
}

describe('native histograms through a real Prometheus', () => {
  itWithTools(['prometheus', 'promtool'])('histogram_count is exact (also after a SIGKILLed worker is folded) and histogram_quantile within the schema error', async () => {
    app = await ClusterApp.start(4, {}, 'native-cluster-app.mjs');
    const pids = app.livePids();
    expect(pids).toHaveLength(4);
    const all: number[] = [];
    let seq = 0;
    for (let w = 0; w < 4; w++) {
      const values = valuesFor(w, 500 + 100 * w);
      await observe(app, pids[w], values, seq++);
      all.push(...values);
    }

    // The collector answers the protobuf Accept header with every family, histogram native.
    const pb = await httpGet(app.url, { Accept: `${PROTOBUF_CONTENT_TYPE};q=0.7,text/plain;version=0.0.4;q=0.3` });
    expect(pb.headers['content-type']).toBe(PROTOBUF_CONTENT_TYPE);
    const raw = await new Promise<Buffer>((resolve, reject) => {
      import('node:http').then(({ get }) => get(app!.url, { headers: { Accept: PROTOBUF_CONTENT_TYPE } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(Buffer.concat(chunks)));
      }).on('error', reject));
    });
    const reader = protobuf.Reader.create(raw);
    const families: any[] = [];
    while (reader.pos < reader.len) families.push(MetricFamilyMessage.toObject(MetricFamilyMessage.decodeDelimited(reader), { longs: Number }));
    const latency = families.find((f) => f.name === 'app_latency_seconds');
    expect(latency.metric[0].histogram).toMatchObject({ sampleCount: all.length, schema: 4 });
    expect(families.some((f) => f.name === 'prom_multiproc_scrapes_total')).toBe(true);
    // The text exposition still passes promtool, native histograms as their classic buckets.
    const text = (await httpGet(app.url)).body;
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(`${check.stdout}${check.stderr}`).toBe('');
    expect(text).toMatch(new RegExp(`^app_latency_seconds_count\\{route="/api"\\} ${all.length}\\.0$`, 'm'));

    const { host, pathname } = new URL(app.url);
    prometheus = await PrometheusServer.start(host, pathname, { flags: ['--enable-feature=native-histograms'] });
    const countIs = (n: number) => prometheus!.waitFor('histogram_count(app_latency_seconds)', (r) => r.length === 1 && Number(r[0].value[1]) === n, 30_000);
    await countIs(all.length);

    const bound = 2 ** (2 ** -4) - 1; // the width of one bucket at schema 4, relative
    const exact = exactQuantile(all, 0.99);
    const [q] = await prometheus.query('histogram_quantile(0.99, app_latency_seconds)');
    const estimate = Number(q.value[1]);
    expect(Math.abs(estimate - exact) / exact).toBeLessThanOrEqual(bound);

    // One worker is SIGKILLed after more observations; its files are folded into the archive.
    const extra = valuesFor(7, 333);
    await observe(app, pids[1], extra, seq++);
    all.push(...extra);
    app.send({ cmd: 'kill', pid: pids[1] });
    await app.waitFor((m) => m.event === 'exit' && m.pid === pids[1]);
    const deadline = Date.now() + 20_000;
    while (fs.readdirSync(app.directory).some((n) => n.includes(String(pids[1])))) {
      if (Date.now() > deadline) throw new Error(`files of ${pids[1]} never folded: ${fs.readdirSync(app.directory).join(', ')}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(fs.readdirSync(app.directory)).toContain('.nativehistogram_archive.db');
    await countIs(all.length);
    const [after] = await prometheus.query('histogram_quantile(0.99, app_latency_seconds)');
    expect(Math.abs(Number(after.value[1]) - exactQuantile(all, 0.99)) / exactQuantile(all, 0.99)).toBeLessThanOrEqual(bound);
  });
});

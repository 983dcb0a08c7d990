// Chaos, bounded in time: a cluster under load whose workers are SIGKILLed and restarted
// at random while the endpoint is scraped continuously.
import fs from 'node:fs';
import { afterEach, expect, it } from 'vitest';
import { ClusterApp, httpGet, sampleValue } from './helpers/cluster.js';

let app: ClusterApp | undefined;
afterEach(async () => {
  if (app) await app.stop().catch(() => app?.kill());
  app = undefined;
});

it('every scrape is monotonic, the final total is exactly what workers acknowledged, files stay bounded', async () => {
  app = await ClusterApp.start(4);
  const target = app;
  let acknowledged = 0;
  let seq = 0;
  const scrapes: number[] = [];
  let maxFiles = 0;
  let scraping = true;
  const scraper = (async () => {
    while (scraping) {
      const body = (await httpGet(target.url)).body;
      scrapes.push(sampleValue(body, 'app_jobs_total{kind="batch"}') ?? 0);
      maxFiles = Math.max(maxFiles, fs.readdirSync(target.directory).filter((f) => f.endsWith('.db')).length);
    }
  })();

  const deadline = Date.now() + 12_000;
  let kills = 0;
  while (Date.now() < deadline) {
    // A round: every live worker counts a batch and acknowledges it...
    const id = ++seq;
    const pids = target.livePids();
    const n = 100 + Math.floor(Math.random() * 900);
    target.send({ cmd: 'inc', n, seq: id });
    await Promise.all(pids.map((p) => target.waitFor((m) => m.event === 'incDone' && m.seq === id && m.pid === p)));
    acknowledged += n * pids.length;
    // ...then a random worker is SIGKILLed (idle, so every increment it made was acknowledged).
    const victim = pids[Math.floor(Math.random() * pids.length)];
    target.send({ cmd: 'kill', pid: victim, signal: 'SIGKILL' });
    await target.waitFor((m) => m.event === 'exit' && m.pid === victim);
    kills++;
    await target.waitFor(() => target.livePids().length === 4);
  }
  scraping = false;
  await scraper;

  const final = sampleValue((await httpGet(target.url)).body, 'app_jobs_total{kind="batch"}');
  expect(kills).toBeGreaterThan(5);
  expect(scrapes.length).toBeGreaterThan(20);
  for (let i = 1; i < scrapes.length; i++) expect(scrapes[i], `scrape ${i}`).toBeGreaterThanOrEqual(scrapes[i - 1]);
  expect(final).toBe(acknowledged);
  // 4 live workers x 3 files (counter, histogram, livesum gauge) + 2 archives, plus a
  // worker that has just died and not yet been folded, or a new one starting.
  expect(maxFiles).toBeLessThanOrEqual(4 * 3 + 2 + 2 * 3);
}, 60_000);

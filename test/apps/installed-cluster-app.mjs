// Run inside a fresh app that installed the packed @prom-multiproc/core (test/install.test.ts):
// a 4-worker node:cluster app whose workers count and exit gracefully; the primary's
// collector folds them, then prints one JSON line: the workers' storage modes and the scrape.
import cluster from 'node:cluster';
import http from 'node:http';
import { Counter, Histogram, currentStorage, startClusterCollector } from '@prom-multiproc/core';

const WORKERS = 4;
const JOBS = Number(process.env.JOBS ?? 10000);

if (cluster.isPrimary) {
  const collector = await startClusterCollector({ port: 0 });
  const modes = [];
  let exited = 0;
  cluster.on('exit', async () => {
    if (++exited < WORKERS) return;
    // The collector folds each dead worker on 'exit'; give its handler a turn to finish.
    await new Promise((r) => setTimeout(r, 200));
    const body = await new Promise((resolve, reject) => {
      http.get(collector.url, (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve(text));
      }).on('error', reject);
    });
    console.log(JSON.stringify({ modes, body }));
    await collector.close();
    process.exit(0);
  });
  for (let i = 0; i < WORKERS; i++) cluster.fork().on('message', (m) => modes.push(m.mode));
} else {
  const jobs = new Counter({ name: 'installed_jobs_total', help: 'Jobs.', labelNames: ['worker'] });
  const size = new Histogram({ name: 'installed_job_size', help: 'Job size.', buckets: [1, 10] });
  const mine = jobs.labels(String(cluster.worker.id));
  for (let i = 0; i < JOBS; i++) {
    mine.inc();
    jobs.inc({ worker: 'all' });
    size.observe(i % 20);
  }
  process.send({ mode: currentStorage().mode }, () => process.exit(0));
}

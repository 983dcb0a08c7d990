// Live demo: a node:cluster app whose workers serve HTTP and record metrics into
// per-process mmap files, plus a small load generator. Runs until Ctrl-C, or for
// PROM_MULTIPROC_DEMO_SECONDS seconds.
import cluster from 'node:cluster';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

const WORKERS = 3;
const APP_PORT = Number(process.env.DEMO_APP_PORT ?? 8080);

if (cluster.isPrimary) {
  const dir = process.env.PROMETHEUS_MULTIPROC_DIR ?? fs.mkdtempSync(path.join(os.tmpdir(), 'prom-multiproc-demo-'));
  process.env.PROMETHEUS_MULTIPROC_DIR = dir;
  const { readDbFile } = await import('@prom-multiproc/core');
  for (let i = 0; i < WORKERS; i++) cluster.fork();
  console.log(`demo: ${WORKERS} workers serve http://127.0.0.1:${APP_PORT}/ and write metrics to ${dir}`);

  let sent = 0;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  const load = setInterval(() => {
    for (let i = 0; i < 20; i++) {
      const route = ['/', '/users', '/slow'][sent++ % 3];
      http.get({ host: '127.0.0.1', port: APP_PORT, path: route, agent }, (res) => res.resume()).on('error', () => {});
    }
  }, 50);

  const show = () => {
    console.log(`\n--- ${new Date().toISOString()}: ${sent} requests sent; what each worker's files hold`);
    for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.db')).sort()) {
      const entries = readDbFile(path.join(dir, file));
      const totals = entries.filter((e) => e.sampleName === 'demo_http_requests_total');
      const summary = totals.map((e) => `${e.labels.route}=${e.value}`).join(' ');
      console.log(`${file.padEnd(28)} ${String(entries.length).padStart(3)} entries ${summary}`);
    }
  };
  const report = setInterval(show, 2000);

  const stop = () => {
    clearInterval(load);
    clearInterval(report);
    show();
    for (const worker of Object.values(cluster.workers ?? {})) worker?.kill();
    agent.destroy();
    if (!process.env.PROMETHEUS_MULTIPROC_DIR_KEEP) fs.rmSync(dir, { recursive: true, force: true });
  };
  process.once('SIGINT', stop);
  const seconds = Number(process.env.PROM_MULTIPROC_DEMO_SECONDS ?? 0);
  if (seconds > 0) setTimeout(stop, seconds * 1000);
} else {
  const { Counter, Histogram, Gauge } = await import('@prom-multiproc/core');
  const requests = new Counter({ name: 'demo_http_requests_total', help: 'HTTP requests served.', labelNames: ['route', 'code'] });
  const duration = new Histogram({ name: 'demo_http_request_duration_seconds', help: 'Request duration.', labelNames: ['route'] });
  const inFlight = new Gauge({ name: 'demo_http_in_flight', help: 'Requests in flight (summed over live workers).' });
  http
    .createServer((req, res) => {
      inFlight.inc();
      const end = duration.startTimer({ route: req.url });
      const finish = () => {
        requests.inc({ route: req.url, code: 200 });
        end();
        inFlight.dec();
        res.end('ok\n');
      };
      if (req.url === '/slow') setTimeout(finish, 20);
      else finish();
    })
    .listen(APP_PORT, '127.0.0.1');
}

// Live demo: a node:cluster app whose workers serve HTTP and record metrics into
// per-process mmap files; the primary merges them and serves /metrics on its own port.
// A small load generator drives traffic, and every 10 s one worker is SIGKILLed and
// replaced: watch the merged counter keep climbing. Runs until Ctrl-C, or for
// PROM_MULTIPROC_DEMO_SECONDS seconds.
import cluster from 'node:cluster';
import http from 'node:http';

const WORKERS = 3;
const APP_PORT = Number(process.env.DEMO_APP_PORT ?? 8080);
const METRICS_PORT = Number(process.env.DEMO_METRICS_PORT ?? 9464);
const { startClusterCollector, Counter, Histogram, Gauge } = await import('@prom-multiproc/core');

if (cluster.isPrimary) {
  const metrics = await startClusterCollector({ port: METRICS_PORT });
  let stopping = false;
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    console.log(`worker ${worker.process.pid} died (${signal ?? code}); forking a replacement`);
    cluster.fork();
  });
  for (let i = 0; i < WORKERS; i++) cluster.fork();
  console.log(`
prom-multiproc demo
  app:      http://127.0.0.1:${APP_PORT}/  (${WORKERS} cluster workers, each writing its own files)
  metrics:  ${metrics.url}  (merged by the primary from ${metrics.directory})
  try:      curl -s ${metrics.url} | grep demo_
  notice:   every 10 s a worker is SIGKILLed; demo_http_requests_total never goes down,
            and demo_http_in_flight (livesum) forgets the dead worker.
`);

  let sent = 0;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  const load = setInterval(() => {
    for (let i = 0; i < 20; i++) {
      const route = ['/', '/users', '/slow'][sent++ % 3];
      http.get({ host: '127.0.0.1', port: APP_PORT, path: route, agent }, (res) => res.resume()).on('error', () => {});
    }
  }, 50);

  const scrape = () =>
    new Promise((resolve) => {
      http.get(metrics.url, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve(body));
      }).on('error', () => resolve(''));
    });
  const total = (body) =>
    body.split('\n').filter((l) => l.startsWith('demo_http_requests_total{')).reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
  const value = (body, name) => Number(body.split('\n').find((l) => l.startsWith(`${name} `))?.split(' ').pop() ?? NaN);

  const report = setInterval(async () => {
    const body = await scrape();
    console.log(
      `${new Date().toISOString().slice(11, 19)}  requests sent ${String(sent).padStart(6)}  merged demo_http_requests_total ${String(total(body)).padStart(6)}` +
        `  in flight ${value(body, 'demo_http_in_flight')}  files merged ${value(body, 'prom_multiproc_files_read')}` +
        `  scrape ${(value(body, 'prom_multiproc_scrape_duration_seconds') * 1000).toFixed(2)} ms`,
    );
  }, 2000);
  const chaos = setInterval(() => {
    const victim = Object.values(cluster.workers ?? {})[0];
    if (victim?.process.pid) process.kill(victim.process.pid, 'SIGKILL');
  }, 10_000);

  const stop = async () => {
    stopping = true;
    clearInterval(load);
    clearInterval(report);
    clearInterval(chaos);
    agent.destroy();
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
    await metrics.close();
    console.log('demo stopped');
    // node:cluster's primary accepts the app's connections for its workers: one accepted
    // for a worker that was just killed can stay open in the primary and keep it running.
    process.exit(0);
  };
  process.once('SIGINT', stop);
  const seconds = Number(process.env.PROM_MULTIPROC_DEMO_SECONDS ?? 0);
  if (seconds > 0) setTimeout(stop, seconds * 1000);
} else {
  const requests = new Counter({ name: 'demo_http_requests_total', help: 'HTTP requests served.', labelNames: ['route', 'code'] });
  const duration = new Histogram({ name: 'demo_http_request_duration_seconds', help: 'Request duration.', labelNames: ['route'] });
  const inFlight = new Gauge({ name: 'demo_http_in_flight', help: 'Requests in flight, summed over live workers.' });
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

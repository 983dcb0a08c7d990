// An express app instrumented by express-prom-bundle (real prom-client) in a node:cluster,
// moved to prom-multiproc the way docs/migration.md says, driven over IPC by the tests.
//   PRIMARY=aggregator  the primary serves `new AggregatorRegistry().clusterMetrics()`
//                       from @prom-multiproc/core/prom-client through its own express app
//   PRIMARY=collector   the primary calls startClusterCollector()
//   BRIDGE_INTERVAL_MS  the workers' mirror period (default 1000)
import cluster from 'node:cluster';
import express from 'express';

const { AggregatorRegistry, startClusterCollector, bridgePromClient, collectDefaultMetrics } = await import('@prom-multiproc/core/prom-client');
const send = (msg) => process.send?.(msg);

if (cluster.isPrimary) {
  const workers = Number(process.env.WORKERS ?? 2);
  let url;
  let close;
  if (process.env.PRIMARY === 'collector') {
    const metrics = await startClusterCollector({ port: 0, log: (m) => process.stderr.write(`${m}\n`) });
    url = metrics.url;
    close = () => metrics.close();
  } else {
    const aggregatorRegistry = new AggregatorRegistry(); // before the first fork, as prom-client's docs have it
    const metricsApp = express();
    metricsApp.get('/metrics', async (req, res) => {
      res.set('Content-Type', aggregatorRegistry.contentType);
      res.send(await aggregatorRegistry.clusterMetrics());
    });
    const server = await new Promise((resolve) => {
      const s = metricsApp.listen(0, '127.0.0.1', () => resolve(s));
    });
    url = `http://127.0.0.1:${server.address().port}/metrics`;
    close = async () => {
      await new Promise((r) => server.close(r));
      await AggregatorRegistry.close();
    };
  }
  let respawn = true;
  const fork = () => {
    const w = cluster.fork();
    w.on('message', (msg) => send({ ...msg, pid: w.process.pid }));
  };
  cluster.on('exit', (w, code, signal) => {
    send({ event: 'exit', pid: w.process.pid, code, signal });
    if (respawn) fork();
  });
  for (let i = 0; i < workers; i++) fork();
  send({ event: 'ready', url, directory: process.env.PROMETHEUS_MULTIPROC_DIR });
  process.on('message', async (msg) => {
    const all = Object.values(cluster.workers ?? {});
    if (msg.cmd === 'stop') {
      respawn = false;
      for (const w of all) w.process.kill('SIGKILL');
      await close();
      process.exit(0);
    } else if (msg.cmd === 'disconnect') {
      respawn = false;
      for (const w of all) w.disconnect(); // graceful: servers close, the worker exits when idle
    } else if (msg.cmd === 'term') {
      respawn = false;
      for (const w of all) w.process.kill('SIGTERM');
    } else {
      const targets = msg.pid ? all.filter((w) => w.process.pid === msg.pid) : all;
      for (const w of targets) w.send(msg);
    }
  });
} else {
  const { default: promBundle } = await import('express-prom-bundle');
  const { default: promClient } = await import('prom-client');
  const app = express();
  // express-prom-bundle writes to prom-client's global registry; the bridge mirrors it.
  app.use(promBundle({ includeMethod: true, includePath: true, autoregister: false }));
  app.get('/work', (req, res) => res.send(String(process.pid)));
  app.post('/work', (req, res) => res.status(201).send(String(process.pid)));
  bridgePromClient(promClient.register, { intervalMs: Number(process.env.BRIDGE_INTERVAL_MS ?? 1000) });
  collectDefaultMetrics();
  // An app that exits at once on SIGTERM: only the synchronous exit flush can run.
  process.on('SIGTERM', () => process.exit(0));
  process.on('message', (msg) => {
    if (msg.cmd === 'busy') {
      send({ event: 'busyStart', seq: msg.seq });
      const until = Date.now() + msg.ms;
      while (Date.now() < until) { /* a worker stuck in a loop */ }
      send({ event: 'busyDone', seq: msg.seq });
    }
  });
  const server = app.listen(0, '127.0.0.1', () => {
    send({ event: 'online', port: server.address().port });
  });
}

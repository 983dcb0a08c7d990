// A node:cluster app whose workers record exemplars, driven over IPC by the test process.
// Primary: the collector and WORKERS workers; worker: on {cmd: 'exemplar', route, trace,
// value} one counter increment and one observation carrying that trace id.
import cluster from 'node:cluster';

const { startClusterCollector, Counter, Histogram, Registry, OPENMETRICS_CONTENT_TYPE } = await import('@prom-multiproc/core');

if (cluster.isPrimary) {
  const workers = Number(process.env.WORKERS ?? 4);
  const metrics = await startClusterCollector({ port: 0, log: (m) => process.stderr.write(`${m}\n`) });
  const send = (msg) => process.send?.(msg);
  cluster.on('exit', (w, code, signal) => send({ event: 'exit', pid: w.process.pid, code, signal }));
  for (let i = 0; i < workers; i++) {
    const w = cluster.fork();
    w.on('message', (msg) => send({ ...msg, pid: w.process.pid }));
  }
  send({ event: 'ready', url: metrics.url, directory: metrics.directory });
  process.on('message', async (msg) => {
    const all = Object.values(cluster.workers ?? {});
    if (msg.cmd === 'stop') {
      for (const w of all) w.process.kill('SIGTERM');
      await metrics.close();
      process.exit(0);
    } else {
      for (const w of all.filter((w) => !msg.pid || w.process.pid === msg.pid)) w.send(msg);
    }
  });
} else {
  // Exemplars live on OpenMetrics registries (prom-client's rule); nobody scrapes this one.
  const registers = [new Registry(OPENMETRICS_CONTENT_TYPE)];
  const requests = new Counter({ name: 'app_requests_total', help: 'Requests.', labelNames: ['route'], enableExemplars: true, registers });
  const latency = new Histogram({ name: 'app_latency_seconds', help: 'Latency.', buckets: [0.1, 1, 10], enableExemplars: true, registers });
  process.on('message', (msg) => {
    if (msg.cmd !== 'exemplar') return;
    requests.inc({ labels: { route: msg.route }, exemplarLabels: { trace_id: msg.trace } });
    if (msg.value !== undefined) latency.observe({ value: msg.value, exemplarLabels: { trace_id: msg.trace } });
    process.send({ event: 'exemplarDone', seq: msg.seq });
  });
  process.send({ event: 'online' });
}

// A node:cluster app whose workers observe given values into a native histogram (and a
// summary), driven over IPC by the test process like cluster-app.mjs.
import cluster from 'node:cluster';

const { startClusterCollector, Histogram, Summary, currentStorage, FLUSH_INTERVAL_MS } = await import('@prom-multiproc/core');

if (cluster.isPrimary) {
  const workers = Number(process.env.WORKERS ?? 4);
  const metrics = await startClusterCollector({ port: 0, log: (m) => process.stderr.write(`${m}\n`) });
  const send = (msg) => process.send?.(msg);
  const fork = () => {
    const w = cluster.fork();
    w.on('message', (msg) => send({ ...msg, pid: w.process.pid }));
  };
  cluster.on('exit', (w, code, signal) => send({ event: 'exit', pid: w.process.pid, code, signal }));
  for (let i = 0; i < workers; i++) fork();
  send({ event: 'ready', url: metrics.url, directory: metrics.directory });
  process.on('message', async (msg) => {
    const all = Object.values(cluster.workers ?? {});
    if (msg.cmd === 'kill') process.kill(msg.pid, msg.signal ?? 'SIGKILL');
    else if (msg.cmd === 'stop') {
      for (const w of all) w.process.kill('SIGTERM');
      await metrics.close();
      process.exit(0);
    } else {
      for (const w of all.filter((w) => w.process.pid === msg.pid)) w.send(msg);
    }
  });
} else {
  const latency = new Histogram({
    name: 'app_latency_seconds', help: 'Latency.', labelNames: ['route'], nativeHistogramBucketFactor: 1.05,
  });
  const summary = process.env.WITH_SUMMARY
    ? new Summary({ name: 'app_size_bytes', help: 'Size.', percentiles: [0.5, 0.9, 0.99], maxAgeSeconds: 600, ageBuckets: 5 })
    : null;
  process.on('message', (msg) => {
    if (msg.cmd === 'observe') {
      for (const v of msg.values) {
        latency.observe({ route: '/api' }, v);
        summary?.observe(v);
      }
      const done = () => process.send({ event: 'observed', seq: msg.seq });
      if (currentStorage().mode === 'fallback') setTimeout(done, 2 * FLUSH_INTERVAL_MS);
      else done();
    }
  });
  process.send({ event: 'online' });
}

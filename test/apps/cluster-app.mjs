// A node:cluster app for end-to-end tests, driven over IPC by the test process.
// Primary: starts the collector, forks WORKERS workers, relays commands; workers count.
import cluster from 'node:cluster';

const { startClusterCollector, Counter, Gauge, Histogram, currentStorage, FLUSH_INTERVAL_MS } = await import('@prom-multiproc/core');

if (cluster.isPrimary) {
  const workers = Number(process.env.WORKERS ?? 3);
  const metrics = await startClusterCollector({
    port: 0, log: (m) => process.stderr.write(`${m}\n`), webConfigFile: process.env.WEB_CONFIG_FILE || undefined,
  });
  let respawn = true;
  const send = (msg) => process.send?.(msg);
  const fork = () => {
    const w = cluster.fork();
    w.on('message', (msg) => send({ ...msg, pid: w.process.pid }));
  };
  cluster.on('exit', (w, code, signal) => {
    send({ event: 'exit', pid: w.process.pid, code, signal });
    if (respawn) fork();
  });
  for (let i = 0; i < workers; i++) fork();
  send({ event: 'ready', url: metrics.url, directory: metrics.directory });
  process.on('message', async (msg) => {
    const all = Object.values(cluster.workers ?? {});
    if (msg.cmd === 'kill') process.kill(msg.pid, msg.signal ?? 'SIGKILL');
    else if (msg.cmd === 'stop') {
      respawn = false;
      for (const w of all) w.process.kill('SIGTERM');
      await metrics.close();
      process.exit(0);
    } else {
      const targets = msg.pid ? all.filter((w) => w.process.pid === msg.pid) : all;
      for (const w of targets) w.send(msg);
    }
  });
} else {
  const jobs = new Counter({ name: 'app_jobs_total', help: 'Jobs done.', labelNames: ['kind'] });
  const up = new Gauge({ name: 'app_workers_up', help: 'Live workers.' }); // livesum by default
  const size = new Histogram({ name: 'app_job_size', help: 'Job size.', buckets: [1, 10] });
  up.set(1);
  process.on('message', (msg) => {
    if (msg.cmd === 'inc') {
      const child = jobs.labels('batch');
      for (let i = 0; i < msg.n; i++) {
        child.inc();
        size.observe(i % 20);
      }
      // Done means "in the file": in fallback mode after the next write-back, which the
      // write-back timer (due within one period) does before a timer set for two.
      const done = () => process.send({ event: 'incDone', n: msg.n, seq: msg.seq });
      if (currentStorage().mode === 'fallback') setTimeout(done, 2 * FLUSH_INTERVAL_MS);
      else done();
    } else if (msg.cmd === 'busy') {
      process.send({ event: 'busyStart', seq: msg.seq });
      const until = Date.now() + msg.ms;
      while (Date.now() < until) { /* a worker stuck in a loop */ }
      process.send({ event: 'busyDone', seq: msg.seq });
    }
  });
  // Only now can this worker take commands ('online' comes before the imports finish).
  process.send({ event: 'online' });
}

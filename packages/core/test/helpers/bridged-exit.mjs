// A process whose metrics live in real prom-client's registry, bridged into
// PROMETHEUS_MULTIPROC_DIR with a ten-minute mirror period: only the first mirror and the
// exit path can bring its counts to the files. argv[2] chooses how it ends:
//   plain        no handler of its own: the test signals it (it must die of the signal)
//   handler-exit its SIGINT/SIGTERM handler exits with status 3 a moment later
//   handler-stay its SIGINT handler only notes the signal; it keeps running
//   cluster      a node:cluster primary: forks one worker, lets it count, disconnects it
// IPC from the test (or the primary): {inc: n} -> n increments and observations, {done: n}.
// Like an app migrated by the guide, it also has a counter of ours, created before the
// bridge: its file, and with the fallback storage its write-back at exit, come first.
import cluster from 'node:cluster';
import net from 'node:net';
import promClient from 'prom-client';
import { Counter, bridgePromClient } from '@prom-multiproc/core/prom-client';

const mode = process.argv[2];

if (mode === 'cluster' && cluster.isPrimary) {
  const worker = cluster.fork();
  worker.on('message', (msg) => {
    if (msg.ready) worker.send({ inc: Number(process.argv[3]) });
    if (msg.done !== undefined) worker.disconnect();
  });
  worker.on('exit', (code, signal) => console.log(`worker exit ${code} ${signal}`));
} else {
  const native = new Counter({ name: 'exit_native_jobs_total', help: 'Jobs, counted by prom-multiproc.' });
  native.inc(0); // its file now exists
  const jobs = new promClient.Counter({ name: 'exit_jobs_total', help: 'Jobs.', labelNames: ['kind'] });
  const seconds = new promClient.Histogram({ name: 'exit_job_seconds', help: 'Job time.', buckets: [0.5] });
  bridgePromClient(promClient.register, { intervalMs: 600_000 });
  if (mode === 'handler-exit') {
    const stop = () => setTimeout(() => process.exit(3), 50);
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  }
  if (mode === 'handler-stay') process.on('SIGINT', () => process.send({ signalled: true }));
  process.on('message', (msg) => {
    if (msg.inc === undefined) return;
    const child = jobs.labels('a');
    for (let i = 0; i < msg.inc; i++) {
      child.inc();
      native.inc();
      seconds.observe(i % 2);
    }
    process.send({ done: msg.inc });
  });
  // A server keeps it running until stopped (a cluster worker's is closed by disconnect()).
  net.createServer().listen(0, '127.0.0.1', () => process.send({ ready: true }));
}

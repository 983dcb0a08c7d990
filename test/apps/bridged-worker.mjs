// A standalone worker (any process manager) whose metrics live in real prom-client's
// registry, bridged into PROMETHEUS_MULTIPROC_DIR with a one-minute mirror period, so
// only a refresh signal (or exit) brings new counts to its files. IPC: {inc: n}.
import promClient from 'prom-client';
import { bridgePromClient } from '@prom-multiproc/core/prom-client';

const jobs = new promClient.Counter({ name: 'worker_jobs_total', help: 'Jobs.' });
bridgePromClient(promClient.register, { intervalMs: 60_000 });
process.on('message', (msg) => {
  jobs.inc(msg.inc);
  process.send({ done: msg.inc });
});
process.send({ ready: true });

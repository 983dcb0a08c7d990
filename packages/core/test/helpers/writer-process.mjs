// A worker process for tests: writes through the public API into PROMETHEUS_MULTIPROC_DIR.
// argv: mode count. Prints "done <n>" when finished, then stays alive until killed (or exits).
import { Counter, Histogram } from '@prom-multiproc/core';

const [mode, countArg] = process.argv.slice(2);
const count = Number(countArg);
const requests = new Counter({ name: 'requests_total', help: 'Requests.', labelNames: ['route'] });
const latency = new Histogram({ name: 'latency_seconds', help: 'Latency.', buckets: [0.1, 1] });

if (mode === 'increment') {
  const child = requests.labels('/a');
  for (let i = 0; i < count; i++) {
    child.inc();
    requests.inc({ route: '/b' }, 2);
    latency.observe((i % 3) * 0.5);
  }
  console.log(`done ${count}`);
  if (process.argv[4] === 'exit') process.exit(0);
  setInterval(() => {}, 1000);
} else if (mode === 'append-forever') {
  // Creates new series without end, so a SIGKILL lands in the middle of appends.
  let i = 0;
  console.log('started');
  for (;;) requests.inc({ route: `/r${i++}-${'x'.repeat(i % 50)}` });
}

// A worker process for tests: writes through the public API into PROMETHEUS_MULTIPROC_DIR.
// argv: mode count. Prints "done <n>" when finished, then stays alive until killed (or exits).
import { Counter, FLUSH_INTERVAL_MS, Histogram, currentStorage } from '@prom-multiproc/core';

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
  const done = () => {
    console.log(`done ${count}`);
    if (process.argv[4] === 'exit') process.exit(0);
  };
  // In fallback mode "done" means "in the file" only after a write-back: the write-back
  // timer expires within one period of now, so it runs before a timer set for two.
  if (currentStorage().mode === 'fallback') setTimeout(done, 2 * FLUSH_INTERVAL_MS);
  else done();
  setInterval(() => {}, 1000);
} else if (mode === 'append-forever') {
  // Creates new series without end, so a SIGKILL lands in the middle of appends. Yields
  // between batches, as a server does, so a fallback writer's timer gets to run.
  let i = 0;
  console.log('started');
  const batch = () => {
    for (const end = i + 2000; i < end; ) requests.inc({ route: `/r${i++}-${'x'.repeat(i % 50)}` });
    setImmediate(batch);
  };
  batch();
} else if (mode === 'count-forever') {
  // Increments one series and adds a new one per batch, and after each batch prints its
  // own clock and count: the SIGKILL test in fallback mode bounds what may be lost.
  let n = 0;
  const batch = () => {
    for (let k = 0; k < 500; k++) requests.labels('/n').inc();
    n += 500;
    requests.inc({ route: `/new-${n}` });
    console.log(`at ${performance.now().toFixed(3)} ${n}`);
    setImmediate(batch);
  };
  batch();
}

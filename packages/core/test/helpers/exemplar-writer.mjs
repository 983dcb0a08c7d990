// A worker process for the exemplar tests; writes into PROMETHEUS_MULTIPROC_DIR.
// argv: `once <route> <traceId> <value>`: one increment and one observation with that
//   exemplar, prints "done", stays alive until killed;
// argv: `tight`: rewrites one counter's exemplar in a tight loop until killed, each label
//   set derived from its sequence number (exemplarLabelsFor), printing "started" first.
import { Counter, Histogram, Registry } from '@prom-multiproc/core/prom-client';
import { FLUSH_INTERVAL_MS, currentStorage } from '@prom-multiproc/core';

const registry = new Registry(Registry.OPENMETRICS_CONTENT_TYPE);
const registers = [registry];
const requests = new Counter({ name: 'requests_total', help: 'Requests.', labelNames: ['route'], enableExemplars: true, registers });
const latency = new Histogram({ name: 'latency_seconds', help: 'Latency.', labelNames: ['route'], buckets: [0.1, 1], enableExemplars: true, registers });

/** What the tight loop writes for sequence number `n`: lengths and characters vary, so a mix of two is visible. */
export function exemplarLabelsFor(n) {
  const ch = 'abcdefghij'[n % 10];
  return { trace_id: ch.repeat(1 + (n % 37)), n: String(n) };
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'once') {
  const [route, traceId, value] = args;
  requests.inc({ labels: { route }, value: 1, exemplarLabels: { trace_id: traceId } });
  latency.observe({ labels: { route }, value: Number(value), exemplarLabels: { trace_id: traceId } });
  // In fallback mode "done" means "in the file" only after a write-back (within one period).
  setTimeout(() => console.log('done'), currentStorage().mode === 'fallback' ? 2 * FLUSH_INTERVAL_MS : 0);
  setInterval(() => {}, 1000);
} else if (mode === 'tight') {
  let n = 0;
  requests.inc({ labels: { route: '/t' }, value: n + 1, exemplarLabels: exemplarLabelsFor(n++) });
  setTimeout(() => console.log('started'), currentStorage().mode === 'fallback' ? 2 * FLUSH_INTERVAL_MS : 0);
  const batch = () => {
    for (const end = n + 20000; n < end; n++) requests.inc({ labels: { route: '/t' }, value: n + 1, exemplarLabels: exemplarLabelsFor(n) });
    setImmediate(batch);
  };
  batch();
}

// Checks promise 7 (DESIGN.md): updating an existing series does no allocation and no
// system call. Metrics write through to mapped files in a fresh temp dir.
//
//   node --expose-gc bench/alloc.mjs [--ops 10000000] [--json <file>]
//
// For every path, after a warm-up that lets V8 optimise it:
//  - bytes/op: a full GC empties the young generation, then a short run (no scavenge may
//    happen during it, else it is retried shorter) and the growth of new space / ops;
//  - a long run of --ops calls: scavenges and mark-compacts during it (perf_hooks 'gc'
//    entries) and heapUsed after a full GC, before and after.
// The label-object paths are measured twice: with a fresh literal per call (what apps
// write; the literal is the caller's allocation) and with one reused object (only our
// own allocations remain). The caller's literal alone is measured as its own path.
//
// Each long run is bracketed by a write of "alloc-mark begin|end <path>" to /dev/null,
// so `strace -f` output can be cut to exactly the system calls made during the run
// (bench/syscalls.mjs does that).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import { PerformanceObserver } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry, Summary, configureStorage } from '@prom-multiproc/core';

const args = process.argv.slice(2);
const opt = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const OPS = Number(opt('--ops', 10_000_000));
const jsonOut = opt('--json', undefined);

if (!globalThis.gc) {
  console.error('run with --expose-gc');
  process.exit(2);
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'prom-multiproc-alloc-'));
configureStorage({ directory: dir });
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));

const counter = new Counter({ name: 'alloc_requests_total', help: 'h', labelNames: ['method', 'code'], registers: [] });
const plain = new Counter({ name: 'alloc_plain_total', help: 'h', registers: [] });
const histogram = new Histogram({ name: 'alloc_seconds', help: 'h', labelNames: ['method', 'code'], registers: [] });
const gauge = new Gauge({ name: 'alloc_inflight', help: 'h', labelNames: ['method'], registers: [] });
const cachedCounter = counter.labels('GET', '200');
const cachedHistogram = histogram.labels('GET', '200');
// Issue 16: a native histogram (exponential buckets in a side file) and a summary (its
// quantile window of exponential buckets) must allocate nothing per observe() either.
const cachedNative = new Histogram({ name: 'alloc_native_seconds', help: 'h', labelNames: ['method'], nativeHistogramBucketFactor: 1.1, registers: [] }).labels('GET');
const cachedSummary = new Summary({ name: 'alloc_summary_seconds', help: 'h', labelNames: ['method'], maxAgeSeconds: 600, ageBuckets: 5, registers: [] }).labels('GET');
const cachedGauge = gauge.labels('GET');
const reused = { method: 'GET', code: '200' };
// Exemplars: a trace id per call from a table (the caller's strings exist already); the
// call's objects reused, so only our own allocations remain (the literal form is measured too).
const om = new Registry('application/openmetrics-text; version=1.0.0; charset=utf-8');
const exemplarCounter = new Counter({ name: 'alloc_exemplar_total', help: 'h', labelNames: ['method', 'code'], enableExemplars: true, registers: [om] });
const exemplarHistogram = new Histogram({ name: 'alloc_exemplar_seconds', help: 'h', labelNames: ['method', 'code'], enableExemplars: true, registers: [om] });
const TRACE_IDS = Array.from({ length: 1024 }, (_, i) => `4bf92f3577b34da6a3ce929d0e0e${(4096 + i).toString(16)}`);
const exemplarLabels = { trace_id: TRACE_IDS[0] };
const incData = { labels: reused, exemplarLabels };
const observeData = { labels: reused, value: 0, exemplarLabels };
const clockSink = new Float64Array(1);

const VALUES = new Float64Array(1024);
for (let i = 0; i < VALUES.length; i++) VALUES[i] = 0.0005 * 1.01 ** i;

let sink;
const PATHS = [
  { name: 'empty loop (harness)', who: 'harness', fn: (n) => { for (let i = 0; i < n; i++); } },
  { name: 'counter.labels(...) cached child .inc()', who: 'ours', fn: (n) => { for (let i = 0; i < n; i++) cachedCounter.inc(); } },
  { name: 'counter.inc() unlabeled', who: 'ours', fn: (n) => { for (let i = 0; i < n; i++) plain.inc(); } },
  { name: 'counter.inc(labels) reused object', who: 'ours', fn: (n) => { for (let i = 0; i < n; i++) counter.inc(reused); } },
  { name: 'counter.inc({method,code}) fresh literal', who: 'caller literal included', fn: (n) => { for (let i = 0; i < n; i++) counter.inc({ method: 'GET', code: '200' }); } },
  { name: 'histogram cached child .observe(v)', who: 'ours', fn: (n) => { for (let i = 0; i < n; i++) cachedHistogram.observe(VALUES[i & 1023]); } },
  { name: 'histogram.observe(labels, v) reused object', who: 'ours', fn: (n) => { for (let i = 0; i < n; i++) histogram.observe(reused, VALUES[i & 1023]); } },
  { name: 'histogram.observe({method,code}, v) fresh literal', who: 'caller literal included', fn: (n) => { for (let i = 0; i < n; i++) histogram.observe({ method: 'GET', code: '200' }, VALUES[i & 1023]); } },
  { name: 'native histogram cached child .observe(v)', who: 'ours', fn: (n) => { for (let i = 0; i < n; i++) cachedNative.observe(VALUES[i & 1023]); } },
  { name: 'summary cached child .observe(v) (quantile window)', who: 'ours', fn: (n) => { for (let i = 0; i < n; i++) cachedSummary.observe(VALUES[i & 1023]); } },
  { name: 'gauge cached child .inc() / .dec()', who: 'ours', fn: (n) => { for (let i = 0; i < n; i++) { cachedGauge.inc(); cachedGauge.dec(); } } },
  { name: 'counter.inc({labels, exemplarLabels}) reused objects', who: 'ours + clock', fn: (n) => { for (let i = 0; i < n; i++) { exemplarLabels.trace_id = TRACE_IDS[i & 1023]; exemplarCounter.inc(incData); } } },
  { name: 'histogram.observe({labels, value, exemplarLabels}) reused', who: 'ours + clock', fn: (n) => { for (let i = 0; i < n; i++) { exemplarLabels.trace_id = TRACE_IDS[i & 1023]; observeData.value = VALUES[i & 1023]; exemplarHistogram.observe(observeData); } } },
  { name: 'counter.inc({labels, exemplarLabels:{trace_id}}) literals', who: 'caller literal included', fn: (n) => { for (let i = 0; i < n; i++) exemplarCounter.inc({ labels: reused, exemplarLabels: { trace_id: TRACE_IDS[i & 1023] } }); } },
  // An exemplar's timestamp is Date.now() / 1000, as in prom-client; V8 returns every
  // Date.now() as a new 16-byte heap number (performance.now() and hrtime allocate too).
  { name: 'clock alone: Date.now() / 1000 into a Float64Array', who: 'clock only', fn: (n) => { for (let i = 0; i < n; i++) clockSink[0] = Date.now() / 1000; } },
  { name: 'caller alone: {method,code} literal kept in a variable', who: 'caller only', fn: (n) => { for (let i = 0; i < n; i++) sink = { method: 'GET', code: '200' }; } },
];

// GC accounting: perf_hooks delivers 'gc' entries asynchronously, so counts are read
// after yielding to the event loop.
const gcCounts = { minor: 0, major: 0, other: 0 };
const { constants } = await import('node:perf_hooks');
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const kind = e.detail?.kind ?? e.kind;
    if (kind === constants.NODE_PERFORMANCE_GC_MINOR) gcCounts.minor++;
    else if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) gcCounts.major++;
    else gcCounts.other++;
  }
}).observe({ entryTypes: ['gc'] });
const settle = () => new Promise((resolve) => setTimeout(resolve, 20));
const newSpaceUsed = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_used_size;
const devnull = fs.openSync('/dev/null', 'w');
const mark = (text) => fs.writeSync(devnull, `alloc-mark ${text}\n`);

async function bytesPerOp(fn) {
  for (let n = 100_000; n >= 1000; n = Math.floor(n / 4)) {
    gc();
    await settle();
    const before = { ...gcCounts };
    const used0 = newSpaceUsed();
    fn(n);
    const used1 = newSpaceUsed();
    await settle();
    if (gcCounts.minor === before.minor && gcCounts.major === before.major) return (used1 - used0) / n;
  }
  return NaN;
}

async function longRun(p) {
  gc();
  gc();
  await settle();
  const heap0 = process.memoryUsage().heapUsed;
  const before = { ...gcCounts };
  mark(`begin ${p.name}`);
  p.fn(OPS);
  mark(`end ${p.name}`);
  await settle();
  const during = { minor: gcCounts.minor - before.minor, major: gcCounts.major - before.major };
  gc();
  gc();
  await settle();
  const heap1 = process.memoryUsage().heapUsed;
  return { ...during, heapDelta: heap1 - heap0 };
}

const results = [];
for (const p of PATHS) {
  for (let w = 0; w < 20; w++) p.fn(50_000); // warm up: optimise the loop and what it calls
  const perOp = await bytesPerOp(p.fn);
  const run = await longRun(p);
  results.push({
    path: p.name,
    allocation_is: p.who,
    bytes_per_op: Math.round(perOp * 100) / 100,
    ops: OPS,
    scavenges: run.minor,
    mark_compacts: run.major,
    heap_used_delta_after_gc: run.heapDelta,
  });
}
fs.closeSync(devnull);

console.log(`allocation per update, ${OPS.toLocaleString('en')} ops per path (mapped files; ${process.version})\n`);
console.log(`${'path'.padEnd(56)}${'bytes/op'.padStart(9)}${'scavenges'.padStart(11)}${'mark-comp'.padStart(11)}${'heapUsed Δ'.padStart(12)}`);
for (const r of results) {
  console.log(`${r.path.padEnd(56)}${r.bytes_per_op.toFixed(2).padStart(9)}${String(r.scavenges).padStart(11)}${String(r.mark_compacts).padStart(11)}${String(r.heap_used_delta_after_gc).padStart(12)}`);
}
const ourPaths = results.filter((r) => r.allocation_is === 'ours');
const allocating = ourPaths.filter((r) => r.scavenges > 0 || r.bytes_per_op >= 1);
// Exemplar paths: nothing of ours beyond the clock's heap number.
const clock = results.find((r) => r.allocation_is === 'clock only');
const beyondClock = results.filter((r) => r.allocation_is === 'ours + clock' && !(r.bytes_per_op <= clock.bytes_per_op + 0.5));
allocating.push(...beyondClock);
if (beyondClock.length === 0) console.log(`exemplar paths: ${clock.bytes_per_op.toFixed(2)} bytes/op or less, the clock's (Date.now()) and nothing of ours`);
console.log(allocating.length === 0
  ? `\nno allocation on any of our ${ourPaths.length} update paths (0 scavenges in ${OPS.toLocaleString('en')} ops each)`
  : `\nALLOCATING: ${allocating.map((r) => r.path).join('; ')}`);
if (jsonOut) fs.mkdirSync(path.dirname(jsonOut), { recursive: true });
if (jsonOut) fs.writeFileSync(jsonOut, JSON.stringify({ node: process.version, ops: OPS, results }, null, 2) + '\n');
if (allocating.length) process.exitCode = 1;

// What a write-through bridge would cost (issue 12): the bridge mirrors prom-client
// registries into the files periodically and at every stop a process sees, so a SIGKILL
// loses the last period of bridged updates. Writing each update through at once would
// close that gap, by wrapping `inc`/`observe` on every bridged prom-client metric object.
// This measures that wrapper on prom-client's hot path: prom-client 15 as it is against
// the same calls on metric objects wrapped by a minimal write-through (after prom-client's
// own update: find the series' slot in this process's mapped file, store the new value).
// Not shipped: docs/migration.md says which guarantee holds instead, and why.
//
//   node --expose-gc bench/bridge-writethrough.mjs [--quick]
//
// Method as in hotpath.mjs: one loop function per (case, variant), all warmed up and
// calibrated before timing, rounds interleaved with alternating order and a GC before
// each, median ns/op. The values written through are checked against prom-client's at the end.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import promClient from 'prom-client';
import { MappedFile } from '@prom-multiproc/core';

const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 5 : 21;
const ROUND_MS = quick ? 4 : 25;
const WARMUP_MS = quick ? 60 : 300;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'prom-multiproc-bench-wt-'));
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
const file = MappedFile.open(path.join(dir, 'counter_1.db'));

/** prom-client's own series key (lib/util.js hashObject), which its hashMap is keyed by. */
function promHash(labels, sortedNames) {
  let hash = '';
  for (const name of sortedNames) if (labels[name] !== undefined) hash += `${name}:${labels[name]},`;
  return hash;
}

/** The wrapper a write-through bridge would install on a prom-client counter. */
const counterSlots = new Map();
function writeThroughCounter(metric) {
  const slots = counterSlots;
  const inc = metric.inc;
  metric.inc = function (labels, value) {
    const result = inc.call(this, labels, value);
    const hash = result.labelHash;
    let slot = slots.get(hash);
    if (slot === undefined) slots.set(hash, (slot = file.slotFor(JSON.stringify([this.name, this.name, { h: hash }, this.help]))));
    file.values[slot] = this.hashMap[hash].value;
    return result;
  };
  return metric;
}

/** The same for a histogram: prom-client's observe returns no key, so it is computed again. */
const histogramSlots = new Map();
function writeThroughHistogram(metric) {
  const slots = histogramSlots;
  const observe = metric.observe;
  const bounds = metric.upperBounds;
  metric.observe = function (labels, value) {
    observe.call(this, labels, value);
    const hash = promHash(labels, this.sortedLabelNames);
    const entry = this.hashMap[hash];
    let series = slots.get(hash);
    if (series === undefined) {
      const key = (sample, le) => JSON.stringify([this.name, sample, { h: hash, le }, this.help]);
      series = {
        sum: file.slotFor(key(`${this.name}_sum`, '')),
        count: file.slotFor(key(`${this.name}_count`, '')),
        buckets: bounds.map((b) => file.slotFor(key(`${this.name}_bucket`, String(b)))),
      };
      slots.set(hash, series);
    }
    const values = file.values;
    values[series.sum] = entry.sum;
    values[series.count] = entry.count; // prom-client keeps no +Inf bucket: the count stands for it
    let i = 0;
    while (i < bounds.length && value > bounds[i]) i++;
    if (i < bounds.length) values[series.buckets[i]] = entry.bucketValues[bounds[i]];
  };
  return metric;
}

const reg = new promClient.Registry();
const make = (Type, name, extra = {}) => new Type({ name, help: 'h', labelNames: ['method', 'code'], registers: [reg], ...extra });
const plain = {
  counter: make(promClient.Counter, 'plain_total'),
  histogram: make(promClient.Histogram, 'plain_seconds'),
};
const wrapped = {
  counter: writeThroughCounter(make(promClient.Counter, 'wrapped_total')),
  histogram: writeThroughHistogram(make(promClient.Histogram, 'wrapped_seconds')),
};
const plainChild = plain.counter.labels('GET', '200');
const wrappedChild = wrapped.counter.labels('GET', '200'); // bound to the wrapped inc

const VALUES = new Float64Array(1024);
{
  let seed = 0x9e3779b9;
  for (let i = 0; i < VALUES.length; i++) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    VALUES[i] = Math.exp(Math.log(0.0005) + (seed / 2 ** 32) * (Math.log(20) - Math.log(0.0005)));
  }
}

const CASES = [
  {
    name: "labels('GET','200') cached child inc()",
    plain: (n) => { for (let i = 0; i < n; i++) plainChild.inc(); },
    wrapped: (n) => { for (let i = 0; i < n; i++) wrappedChild.inc(); },
  },
  {
    name: 'counter.inc({method,code})',
    plain: (n) => { for (let i = 0; i < n; i++) plain.counter.inc({ method: 'GET', code: '200' }); },
    wrapped: (n) => { for (let i = 0; i < n; i++) wrapped.counter.inc({ method: 'GET', code: '200' }); },
  },
  {
    name: 'histogram.observe({method,code}, v)',
    plain: (n) => { for (let i = 0; i < n; i++) plain.histogram.observe({ method: 'GET', code: '200' }, VALUES[i & 1023]); },
    wrapped: (n) => { for (let i = 0; i < n; i++) wrapped.histogram.observe({ method: 'GET', code: '200' }, VALUES[i & 1023]); },
  },
];

const gc = globalThis.gc ?? (() => {});
const time = (fn, n) => {
  const start = process.hrtime.bigint();
  fn(n);
  return Number(process.hrtime.bigint() - start);
};
function calibrate(fn) {
  let n = 1000;
  let perOp = Infinity;
  const deadline = Date.now() + WARMUP_MS;
  while (Date.now() < deadline) {
    const ns = time(fn, n);
    perOp = Math.min(perOp, ns / n);
    if (ns < 2e6) n *= 2;
  }
  return Math.max(1000, Math.round((ROUND_MS * 1e6) / perOp));
}
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

const counts = new Map();
for (const c of CASES) for (const fn of [c.plain, c.wrapped]) counts.set(fn, calibrate(fn));
const rows = [];
for (const c of CASES) {
  const ns = { plain: [], wrapped: [] };
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 ? ['wrapped', 'plain'] : ['plain', 'wrapped'];
    for (const v of order) {
      gc();
      ns[v].push(time(c[v], counts.get(c[v])) / counts.get(c[v]));
    }
  }
  const plainNs = median(ns.plain);
  const wrappedNs = median(ns.wrapped);
  rows.push({ case: c.name, promClientNs: +plainNs.toFixed(2), writeThroughNs: +wrappedNs.toFixed(2), ratio: +(wrappedNs / plainNs).toFixed(2) });
}

// The values in the file are prom-client's.
const counterValue = (await wrapped.counter.get()).values[0].value;
const [counterSlot] = counterSlots.values();
if (file.values[counterSlot] !== counterValue) throw new Error(`counter: file ${file.values[counterSlot]}, prom-client ${counterValue}`);
const count = (await wrapped.histogram.get()).values.find((v) => v.metricName === 'wrapped_seconds_count').value;
const [series] = histogramSlots.values();
const entry = Object.values(wrapped.histogram.hashMap)[0];
const inBuckets = Object.values(entry.bucketValues).reduce((a, b) => a + b, 0);
const inFile = series.buckets.reduce((sum, slot) => sum + file.values[slot], 0);
if (file.values[series.count] !== count || inFile !== inBuckets) {
  throw new Error(`histogram: count ${file.values[series.count]} and ${inFile} in buckets in the file, prom-client ${count} and ${inBuckets}`);
}

console.log(`write-through wrapper on prom-client ${JSON.parse(fs.readFileSync(new URL('../node_modules/prom-client/package.json', import.meta.url), 'utf8')).version}, Node ${process.version}, ${ROUNDS} rounds of ${ROUND_MS} ms, median ns/op:`);
console.table(rows);

// The text render of a scrape where most values changed (issue 15: the scrape after a new
// worker's files), without the merge: 75,000 lines in 30 families (counters, and
// histograms of 15 buckets, a sum and a count), every value changing from one render to
// the next, between two value sets: whole numbers x and round(9x/8) (a ninth worker's
// share; ~6% of them change length), sums x and 9x/8. Renders through the package's
// `CachedExposition` as a collector's scrape does, and checks every output against a
// fresh render of the same families (`renderText`).
//
//   node bench/render-changed.mjs [--n 200] [--ab DIST] [--fresh]
//
// --ab DIST: a second build (its dist/esm, e.g. packages/core/.base/dist/esm) renders the
// same values in the same process, alternated render by render; both are reported, with
// their outputs compared. --fresh: a new renderer per render (every line formatted). A
// diagnostic, not part of `pnpm bench`: no peer, no target.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, fallback) => {
  const at = process.argv.indexOf(name);
  return at >= 0 ? process.argv[at + 1] : fallback;
};
const n = Number(arg('--n', '200'));
const fresh = process.argv.includes('--fresh');
const builds = [path.join(root, 'packages/core/dist/esm'), ...(arg('--ab') ? [path.resolve(arg('--ab'))] : [])];
// Main-thread CPU (Linux), which load from other processes moves least.
const cpuMs = () => {
  try {
    return Number(fs.readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e6;
  } catch {
    return Number.NaN;
  }
};
let seed = 1;
const random = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296;
const spec = [];
for (let f = 0; f < 30; f++) {
  const histogram = f % 3 === 0;
  const rows = [];
  for (let s = 0; s < (histogram ? 147 : 2500); s++) {
    const labels = [['method', 'GET'], ['route', `/api/v1/resource/${f}/${s}`], ['status', '200']];
    if (histogram) {
      for (let b = 0; b < 15; b++) rows.push({ name: `app_latency_${f}_seconds_bucket`, labels: [['le', `${b}.0`], ...labels], whole: true });
      rows.push({ name: `app_latency_${f}_seconds_sum`, labels, whole: false });
      rows.push({ name: `app_latency_${f}_seconds_count`, labels, whole: true });
    } else {
      rows.push({ name: `app_requests_${f}_total`, labels, whole: true });
    }
  }
  spec.push({ name: histogram ? `app_latency_${f}_seconds` : `app_requests_${f}`, type: histogram ? 'histogram' : 'counter', rows });
}
const before = spec.map((f) => Float64Array.from(f.rows, (r) => (r.whole ? Math.round(random() * 80_000) : random() * 5000)));
const after = before.map((values, f) => values.map((v, j) => (spec[f].rows[j].whole ? Math.round((v * 9) / 8) : (v * 9) / 8)));
const sides = [];
for (const build of builds) {
  const { CachedExposition } = await import(path.join(build, 'collect/exposition-cache.js'));
  const { sampleValues, samplePrefix, renderText, labelsText, metricName } = await import(path.join(build, 'collect/exposition.js'));
  // A merged sample's kept prefix: two parts since the labels' text is shared, one string in older builds.
  const keptPrefix = labelsText ? (r) => ({ lineName: metricName(r.name), lineLabels: labelsText(r.labels) }) : (r) => ({ linePrefix: samplePrefix(r.name, r.labels) });
  const families = spec.map((f, i) => {
    const samples = f.rows.map((r, j) => ({ name: r.name, labels: r.labels, value: before[i][j], ...keptPrefix(r) }));
    sampleValues.set(samples, Float64Array.from(before[i]));
    return { name: f.name, help: 'Help.', type: f.type, samples };
  });
  const renderer = new CachedExposition(false);
  renderer.render(families);
  sides.push({ build, CachedExposition, renderText, sampleValues, families, renderer, wall: [], cpu: [] });
}
for (let r = 0; r < n; r++) {
  const values = r % 2 === 0 ? after : before;
  const outputs = [];
  for (const side of r % 2 === 0 ? sides : [...sides].reverse()) {
    side.families.forEach((family, i) => {
      side.sampleValues.get(family.samples).set(values[i]);
      for (let j = 0; j < family.samples.length; j++) family.samples[j].value = values[i][j];
    });
    const cpu = cpuMs();
    const started = performance.now();
    const body = (fresh ? new side.CachedExposition(false) : side.renderer).render(side.families);
    const wall = performance.now() - started;
    const used = cpuMs() - cpu;
    if (r >= n >> 3) {
      side.wall.push(wall);
      side.cpu.push(used);
    }
    if (r % 50 === 0 && !body.equals(Buffer.from(side.renderText(side.families)))) throw new Error(`render ${r} of ${side.build} differs from renderText`);
    outputs.push(Buffer.from(body));
  }
  if (outputs.length === 2 && !outputs[0].equals(outputs[1])) throw new Error(`render ${r}: the two builds' outputs differ`);
}
const sorted = (xs) => [...xs].sort((a, b) => a - b);
for (const side of sides) {
  const wall = sorted(side.wall);
  const cpu = side.cpu.reduce((a, b) => a + b, 0) / side.cpu.length;
  console.log(`${path.relative(root, side.build)}: render with every value changed (75,000 lines${fresh ? ', fresh renderer' : ''}): wall q1 ${wall[wall.length >> 2].toFixed(2)} ms, median ${wall[wall.length >> 1].toFixed(2)} ms; main-thread CPU mean ${cpu.toFixed(2)} ms`);
}

// The scrape right after a new worker's files appear (issue 15), in fresh collector
// processes as scrape.mjs runs them (`--max-semi-space-size=1`), with a before/after pair
// under the same load: scrape.mjs's three rounds of each case are too few to tell two
// builds apart on a loaded machine.
//
//   node bench/new-worker.mjs [--cells 8x10000] [--runs 6] [--ab DIST]
//
// For each cell: W worker processes write scrape.mjs's workload into a temp directory and
// exit. Then RUNS times a fresh collector process (a `Collector` over the directory) scrapes
// once (its first scrape), 13 times (steady), then 3 rounds of a new worker's files (a copy
// of worker 0's under a new id, added one round after the other as in scrape.mjs) and 3
// rounds of a new worker whose series come in another order (`withSeriesShuffled`), each
// followed by one untimed scrape; the added files are removed before the next run. Prints,
// per run, the steady median and each timed round (wall ms of `scrapeWith('text')`, as
// scrape.mjs's figure), and the medians over runs of the per-run medians; and the scrapes'
// main-thread CPU (Linux; what load from other processes moves least), as means: the
// kernel counts a running thread's CPU at scheduler ticks; and the render's share of the
// new worker rounds (the collector's `lastRenderSeconds`).
// --ab DIST: every other run imports the package from DIST (the dist/esm of another build,
// copied under packages/core, e.g. packages/core/.base/dist/esm, so that it finds the
// package's dependencies); both are reported apart. Not part of `pnpm bench`: no targets.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { withSeriesShuffled } from './workload.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, fallback) => {
  const at = process.argv.indexOf(name);
  return at >= 0 ? process.argv[at + 1] : fallback;
};
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const round = (ms) => Math.round(ms * 100) / 100;

if (arg('--role') === 'collector') {
  // One collector process: prints one line of JSON.
  const dir = arg('--dir');
  const { Collector } = await import(path.join(path.resolve(arg('--core')), 'index.js'));
  const collector = new Collector({ directory: dir, log: () => {} });
  // Main-thread CPU of each scrape too (Linux: /proc/thread-self/schedstat, ns): load from
  // other processes moves wall time far more than it moves this.
  const mainThreadCpuMs = () => {
    try {
      return Number(fs.readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e6;
    } catch {
      return Number.NaN;
    }
  };
  const cpu = [];
  /** The render's share of each scrape (`lastRenderSeconds`), ms. */
  const render = [];
  const scrape = async () => {
    const cpuBefore = mainThreadCpuMs();
    const started = process.hrtime.bigint();
    await collector.scrapeWith('text', () => undefined);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    cpu.push(mainThreadCpuMs() - cpuBefore);
    render.push(collector.lastRenderSeconds * 1e3);
    return ms;
  };
  /** The main-thread CPU of the scrapes from `from` on, every other one (the timed rounds). */
  const cpuOf = (from, count, every = 1) => Array.from({ length: count }, (_, i) => cpu[from + i * every]);
  const first = await scrape();
  const steady = [];
  for (let i = 0; i < 13; i++) steady.push(await scrape());
  const steadyCpu = cpuOf(1, 13).reduce((a, b) => a + b, 0) / 13;
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.db')).sort();
  const zero = /_(\d+)\.db$/.exec(files.find((f) => f.startsWith('counter_')))[1];
  const added = [];
  const newWorker = async (shuffled, ids) => {
    const ms = [];
    for (const [i, id] of ids.entries()) {
      for (const f of files.filter((name) => name.endsWith(`_${zero}.db`))) {
        const to = path.join(dir, f.replace(`_${zero}.db`, `_${id}.db`));
        if (shuffled) fs.writeFileSync(to, withSeriesShuffled(fs.readFileSync(path.join(dir, f)), 1 + i));
        else fs.copyFileSync(path.join(dir, f), to);
        added.push(to);
      }
      ms.push(await scrape());
      await scrape();
    }
    return ms;
  };
  try {
    const newFile = await newWorker(false, [90_000_000, 90_000_001, 90_000_002]);
    const newFileCpu = cpuOf(14, 3, 2);
    const shuffledFile = await newWorker(true, [90_000_100, 90_000_101, 90_000_102]);
    const shuffledFileCpu = cpuOf(20, 3, 2);
    const newFileRender = [14, 16, 18].map((i) => render[i]);
    console.log(JSON.stringify({ first, steady: median(steady), newFile, shuffledFile, firstCpu: cpu[0], steadyCpu, newFileCpu, shuffledFileCpu, newFileRender }));
  } finally {
    for (const f of added) fs.rmSync(f, { force: true });
    collector.close?.();
  }
  process.exit(0);
}

const cells = arg('--cells', '8x10000').split(',').map((c) => c.split('x').map(Number));
const runs = Number(arg('--runs', '6'));
const ab = arg('--ab');
const thisCore = path.join(root, 'packages/core/dist/esm');
for (const [workers, series] of cells) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'new-worker-'));
  try {
    for (let w = 0; w < workers; w++) {
      execFileSync(process.execPath, ['--input-type=module', '-e', `
        const lib = await import(${JSON.stringify(path.join(thisCore, 'index.js'))});
        const { runWorkload } = await import(${JSON.stringify(path.join(root, 'bench/workload.mjs'))});
        runWorkload(lib, ${series}, ${w}, []);`], { env: { ...process.env, PROMETHEUS_MULTIPROC_DIR: dir }, stdio: ['ignore', 'ignore', 'inherit'] });
    }
    const results = { A: [], B: [] };
    for (let r = 0; r < runs; r++) {
      const side = ab !== undefined && r % 2 === 1 ? 'B' : 'A';
      const core = side === 'B' ? path.resolve(ab) : thisCore;
      const out = execFileSync(process.execPath, ['--max-semi-space-size=1', fileURLToPath(import.meta.url), '--role', 'collector', '--dir', dir, '--core', core], { encoding: 'utf8' });
      const row = JSON.parse(out.split('\n').find((l) => l.startsWith('{')));
      results[side].push(row);
      const show = (xs) => xs.map(round).join(' ');
      console.log(`${workers}x${series} ${side} run ${r}: first ${round(row.first)} ms, steady ${round(row.steady)}, new worker ${show(row.newFile)}, in another order ${show(row.shuffledFile)}; main-thread CPU: steady ${round(row.steadyCpu)}, new worker ${show(row.newFileCpu)}, in another order ${show(row.shuffledFileCpu)}; render of the new worker rounds ${show(row.newFileRender)} ms`);
    }
    for (const [side, rows] of Object.entries(results)) {
      if (rows.length === 0) continue;
      const steady = median(rows.map((r) => r.steady));
      const newFile = median(rows.map((r) => median(r.newFile)));
      const shuffled = median(rows.map((r) => median(r.shuffledFile)));
      const firstRound = median(rows.map((r) => r.newFile[0]));
      console.log(`${workers}x${series} ${side}${side === 'B' ? ` (${ab})` : ' (this build)'}: steady ${round(steady)} ms; after a new worker's files ${round(newFile)} ms (${round(newFile / steady)}× steady), in another order ${round(shuffled)} ms (${round(shuffled / steady)}×); a collector's first such scrape ${round(firstRound)} ms (medians of ${rows.length} runs' medians)`);
      // The thread's CPU is counted at scheduler ticks (a few ms): means, not medians, of it.
      const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
      const steadyCpu = mean(rows.map((r) => r.steadyCpu));
      const later = (key) => mean(rows.flatMap((r) => r[key].slice(1)));
      const newFileCpu = later('newFileCpu');
      const shuffledCpu = later('shuffledFileCpu');
      const firstRoundCpu = mean(rows.map((r) => r.newFileCpu[0]));
      console.log(`${workers}x${series} ${side} main-thread CPU (means): steady ${round(steadyCpu)} ms; after a new worker's files (rounds 2-3) ${round(newFileCpu)} ms (${round(newFileCpu / steadyCpu)}×), in another order ${round(shuffledCpu)} ms (${round(shuffledCpu / steadyCpu)}×); first such ${round(firstRoundCpu)} ms; render (wall) of rounds 2-3 ${round(median(rows.flatMap((r) => r.newFileRender.slice(1))))} ms (median), of the first such ${round(median(rows.map((r) => r.newFileRender[0])))} ms`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

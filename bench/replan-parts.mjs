// What a scrape right after one new series, or right after a new worker's files, spends
// its time on (issue 15), in one process: reading the files and parsing their new keys,
// against placing the new entries into the merge plan, against a steady merge of the same
// directory. scrape.mjs measures the whole scrape in a collector process; this splits it.
//
//   node --expose-gc bench/replan-parts.mjs [--cells 1x1000,8x10000] [--new-files 3] [--new-id 9999999] [--dist DIR]
//
// --dist DIR: the package's dist/esm of another build (copied under packages/core, e.g.
// packages/core/.base/dist/esm, so that it finds the package's dependencies): run once with
// and once without, in turn, for a before/after pair under the same load.
// Set-up: W real worker processes (one after another) write scrape.mjs's workload into a
// temp directory through our Counter/Histogram and exit. A DirectoryMerger merges it; its
// listing read (`readListing`: read, parse new keys, prepare them) and the plan's update
// or build are timed by wrapping them (the times of one `merge()` + `renderText`). Then 3
// times: one new series appended to worker 0's counter file by a child process; then
// `--new-files` rounds (3): a copy of worker 0's files under a new id (`--new-id` + i:
// 9999999… sorts after any pid, 0… before them), as a restarted worker writes the same
// series, removed again after the round; then as many rounds with the series in another
// order (`withSeriesShuffled`), as a worker that created them in another order writes them.
// Prints ms per case: total, read+parse (all files), the new files' read alone, plan, and
// the median steady merge; for the new-worker cases each round and the minimum. Not part
// of `pnpm bench`: a diagnostic, no targets.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, fallback) => {
  const at = process.argv.indexOf(name);
  return at >= 0 ? process.argv[at + 1] : fallback;
};
const cells = arg('--cells', '1x1000,8x10000').split(',').map((c) => c.split('x').map(Number));
const newFiles = Number(arg('--new-files', '3'));
const newId = arg('--new-id', '9999999');
const core = arg('--dist') ? path.resolve(arg('--dist')) : path.join(root, 'packages/core/dist/esm');
const { DirectoryMerger, renderText } = await import(path.join(core, 'index.js'));
const { MergePlan } = await import(path.join(core, 'collect/merge-plan.js'));
const { withSeriesShuffled } = await import(path.join(root, 'bench/workload.mjs'));

const parts = { read: 0, plan: 0, newRead: 0 };
/** Paths of the new worker's files: their reads are timed apart (`newFilesRead`). */
const newReaders = new Set();
const { DbFileReader } = await import(path.join(core, 'format/reader.js'));
{
  const original = DbFileReader.prototype.read;
  DbFileReader.prototype.read = function (...args) {
    const started = performance.now();
    try {
      return original.apply(this, args);
    } finally {
      if (newReaders.has(this.path)) parts.newRead += performance.now() - started;
    }
  };
}
const timed = (owner, name, part) => {
  const original = owner[name];
  owner[name] = function (...args) {
    const started = performance.now();
    try {
      return original.apply(this, args);
    } finally {
      parts[part] += performance.now() - started;
    }
  };
};
timed(DirectoryMerger.prototype, 'readListing', 'read');
timed(MergePlan.prototype, 'update', 'plan');
timed(MergePlan, 'build', 'plan');

const round = (ms) => Math.round(ms * 100) / 100;
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

function runChild(code, env = process.env) {
  execFileSync(process.execPath, ['--input-type=module', '-e', code], { env, stdio: ['ignore', 'ignore', 'inherit'] });
}

for (const [workers, series] of cells) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'replan-parts-'));
  try {
    for (let w = 0; w < workers; w++) {
      runChild(`
        const lib = await import(${JSON.stringify(path.join(core, 'index.js'))});
        const { runWorkload } = await import(${JSON.stringify(path.join(root, 'bench/workload.mjs'))});
        runWorkload(lib, ${series}, ${w}, []);`, { ...process.env, PROMETHEUS_MULTIPROC_DIR: dir });
    }
    const merger = new DirectoryMerger(dir);
    const scrape = () => {
      parts.read = parts.plan = parts.newRead = 0;
      const started = performance.now();
      renderText(merger.merge().families);
      return { total: round(performance.now() - started), readParse: round(parts.read), newFilesRead: round(parts.newRead), plan: round(parts.plan) };
    };
    for (let i = 0; i < 6; i++) scrape();
    const steady = [];
    for (let i = 0; i < 21; i++) steady.push(scrape().total);
    const files = fs.readdirSync(dir).filter((f) => f.endsWith('.db'));
    const zero = /_(\d+)\.db$/.exec(files.find((f) => f.startsWith('counter_')))[1];
    const newSeries = [];
    for (let i = 0; i < 3; i++) {
      runChild(`
        const { MappedFile } = await import(${JSON.stringify(path.join(core, 'format/mapped-file.js'))});
        const { encodeKey } = await import(${JSON.stringify(path.join(core, 'format/key.js'))});
        const file = MappedFile.open(${JSON.stringify(path.join(dir, `counter_${zero}.db`))});
        const labels = [['method', 'GET'], ['route', '/new/${i}'], ['status', '200']];
        file.values[file.slotFor(encodeKey('app_requests_0_total', 'app_requests_0_total', labels, 'Requests handled by handler 0.'))] = 1;`);
      newSeries.push(scrape());
      scrape();
    }
    // A new worker's files, as a copy or with the series shuffled: each round adds them,
    // times the scrape that first sees them, then removes them again (two untimed scrapes
    // build the plan anew), so every round starts from the same directory.
    const newWorker = (shuffled) => {
      const rounds = [];
      for (let i = 0; i < newFiles; i++) {
        const added = [];
        for (const f of files.filter((name) => name.endsWith(`_${zero}.db`))) {
          const to = path.join(dir, f.replace(`_${zero}.db`, `_${newId}${i}.db`));
          if (shuffled) fs.writeFileSync(to, withSeriesShuffled(fs.readFileSync(path.join(dir, f)), 1 + i));
          else fs.copyFileSync(path.join(dir, f), to);
          added.push(to);
        }
        newReaders.clear();
        for (const to of added) newReaders.add(to);
        rounds.push(scrape());
        scrape();
        for (const to of added) fs.rmSync(to);
        scrape();
        scrape();
      }
      const min = (key) => round(Math.min(...rounds.map((r) => r[key])));
      return { rounds, min: { total: min('total'), readParse: min('readParse'), newFilesRead: min('newFilesRead'), plan: min('plan') } };
    };
    const newFile = newWorker(false);
    const shuffledFile = newWorker(true);
    console.log(JSON.stringify({ workers, series, steady_ms: round(median(steady)), new_series: newSeries, new_file: newFile, shuffled_file: shuffledFile }));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

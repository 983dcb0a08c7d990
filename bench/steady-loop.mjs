// The steady scrape in one process, without the other side of scrape.mjs running at the
// same time (issue 15): W worker processes (one after another) write scrape.mjs's workload
// into a temp directory and exit; one Collector then times `scrapeWith('text')` N times,
// optionally after changing a share of the values before each scrape (the same entries in
// every file, as scrape.mjs --changing updates the same series in every worker). Prints
// the median of the last 3/4 of the scrapes (total, merge, render) and the fastest.
//
//   node --expose-gc bench/steady-loop.mjs [--cell 8x10000] [--n 80] [--change 0.1] [--format text|openmetrics]
//
// A diagnostic, not part of `pnpm bench`: no peer, no target. For a CPU profile of the
// steady path: node --expose-gc --cpu-prof bench/steady-loop.mjs --n 300
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
const [workers, series] = arg('--cell', '8x10000').split('x').map(Number);
const change = Number(arg('--change', '0'));
const n = Number(arg('--n', '80'));
const format = arg('--format', 'text');
const core = path.join(root, 'packages/core/dist/esm');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'steady-loop-'));
try {
  for (let w = 0; w < workers; w++) {
    execFileSync(process.execPath, ['--input-type=module', '-e', `
      const lib = await import(${JSON.stringify(path.join(core, 'index.js'))});
      const { runWorkload } = await import(${JSON.stringify(path.join(root, 'bench/workload.mjs'))});
      runWorkload(lib, ${series}, ${w}, []);`], { env: { ...process.env, PROMETHEUS_MULTIPROC_DIR: dir }, stdio: ['ignore', 'ignore', 'inherit'] });
  }
  const { Collector } = await import(path.join(core, 'index.js'));
  const { MappedFile } = await import(path.join(core, 'format/mapped-file.js'));
  const { scanEntries } = await import(path.join(core, 'format/entries.js'));
  // Every entry's value slot, per file; a histogram series is 17 entries (buckets, sum, count).
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.db')).map((name) => {
    const file = MappedFile.open(path.join(dir, name), 'mmap');
    const slots = [];
    const bytes = Buffer.from(file.values.buffer, file.values.byteOffset, file.values.byteLength);
    scanEntries(bytes, bytes.readInt32LE(0), 8, (_key, _offset, _keyLength, valueOffset) => slots.push(valueOffset / 8));
    return { file, slots, perSeries: name.startsWith('histogram') ? 17 : 1 };
  });
  const every = change > 0 ? Math.max(1, Math.round(1 / change)) : 0;
  const collector = new Collector({ directory: dir, log: () => {} });
  const total = [];
  const merge = [];
  const render = [];
  for (let i = 0; i < n; i++) {
    if (every > 0) {
      for (const { file, slots, perSeries } of files) {
        for (let e = 0; e < slots.length; e++) if (Math.floor(e / perSeries) % every === i % every) file.values[slots[e]] += 1;
      }
    }
    const started = process.hrtime.bigint();
    await collector.scrapeWith(format, ({ bytes }) => bytes.length);
    total.push(Number(process.hrtime.bigint() - started) / 1e6);
    merge.push(collector.lastMergeSeconds * 1e3);
    render.push(collector.lastRenderSeconds * 1e3);
  }
  const median = (xs) => {
    const s = xs.slice(n >> 2).sort((a, b) => a - b);
    return s[s.length >> 1].toFixed(2);
  };
  console.log(`${workers} x ${series}, ${format}, ${change * 100}% of series changing: median ${median(total)} ms (merge ${median(merge)} + render ${median(render)}), fastest ${Math.min(...total.slice(n >> 4)).toFixed(2)} ms`);
  collector.close();
  for (const { file } of files) file.close();
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}

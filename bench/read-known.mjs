// A known file's read in one process (issue 15, read path): a new file object over a
// histogram file whose keys the key cache knows (a new worker's file, or files 2..8 of a
// first scrape), read again and again with warm code, two or more builds alternated.
// Run as cold-start.mjs's collector script (its workers write the directory):
//
//   DISTS=<dist/esm>,<another dist/esm> [ROUNDS=100] [SHUF=1] \
//     node bench/cold-start.mjs --cells 8x10000 --runs 1 --script bench/read-known.mjs
//
// Each build merges the directory once (its key cache then knows every key), then reads
// the histogram files in turn, each time through a new TrackedFile. SHUF=1 reads copies
// with their series in another order (workload.mjs withSeriesShuffled). Prints, per build
// (b0, b1, ... in DISTS order), the median, first quartile and minimum ms of a read, the
// first 10 reads left out. Not part of `pnpm bench`.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { withSeriesShuffled } from './workload.mjs';

const args = process.argv.slice(2);
const dir = args[args.indexOf('--dir') + 1];
const builds = [];
for (const dist of (process.env.DISTS ?? '').split(',').filter(Boolean)) {
  const { DirectoryMerger } = await import(path.join(path.resolve(dist), 'collect/merge.js'));
  const { TrackedFile } = await import(path.join(path.resolve(dist), 'collect/tracked-file.js'));
  const { ReadBuffer } = await import(path.join(path.resolve(dist), 'format/reader.js'));
  const { parseDbFileName } = await import(path.join(path.resolve(dist), 'format/names.js'));
  const merger = new DirectoryMerger(dir);
  merger.merge();
  builds.push({ keys: merger.keys, TrackedFile, scratch: new ReadBuffer(), parseDbFileName, times: [] });
}
let files = fs.readdirSync(dir).filter((n) => n.startsWith('histogram')).sort().map((n) => path.join(dir, n));
if (process.env.SHUF) {
  const shuffledDir = fs.mkdtempSync(path.join(os.tmpdir(), 'prom-multiproc-read-known-'));
  process.on('exit', () => fs.rmSync(shuffledDir, { recursive: true, force: true }));
  files = files.map((file, i) => {
    const copy = path.join(shuffledDir, path.basename(file));
    fs.writeFileSync(copy, withSeriesShuffled(fs.readFileSync(file), 7 + i));
    return copy;
  });
}
const rounds = Number(process.env.ROUNDS ?? 100);
for (let r = 0; r < rounds; r++) {
  for (let k = 0; k < builds.length; k++) {
    const b = builds[(k + r) % builds.length];
    const file = files[r % files.length];
    const name = path.basename(file);
    const started = process.hrtime.bigint();
    new b.TrackedFile(name, b.parseDbFileName(name), file, b.keys).reader.read(b.scratch);
    b.times.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
}
const out = {};
builds.forEach((b, i) => {
  const xs = b.times.slice(10).sort((x, y) => x - y);
  out[`b${i}med`] = +xs[xs.length >> 1].toFixed(2);
  out[`b${i}q1`] = +xs[xs.length >> 2].toFixed(2);
  out[`b${i}min`] = +xs[0].toFixed(2);
});
process.stdout.write(`${JSON.stringify(out)}\n`);

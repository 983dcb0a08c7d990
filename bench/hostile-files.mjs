// What a hostile or broken file costs the collector (docs/security.md): five merges of a
// directory holding one good file and one sparse file (2 GiB, nothing on disk) whose
// header claims (a) 2 GiB - 1 used bytes (over the limit) or (b) 255 MiB (under it,
// corrupt). Each case runs in a fresh process; prints per-merge time and peak RSS.
// Not part of `pnpm bench` (nothing to compare with prom-client): `pnpm build && node bench/hostile-files.mjs`.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const GOOD = path.join(ROOT, 'packages/core/test/fixtures/python/counter_basic/counter_101.db');

if (process.argv[2] === 'child') {
  const { DirectoryMerger } = await import(path.join(ROOT, 'packages/core/dist/esm/index.js'));
  const merger = new DirectoryMerger(process.argv[3]);
  const times = [];
  for (let i = 0; i < 5; i++) {
    const started = performance.now();
    merger.merge();
    times.push(performance.now() - started);
  }
  console.log(JSON.stringify({ times, maxRssMiB: process.resourceUsage().maxRSS / 1024 }));
} else {
  for (const [label, used] of [['2 GiB sparse, header 2 GiB - 1 (over the 256 MiB limit)', 2 ** 31 - 1], ['2 GiB sparse, header 255 MiB (corrupt)', 255 * 2 ** 20]]) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pmp-bench-hostile-'));
    try {
      fs.copyFileSync(GOOD, path.join(dir, 'counter_101.db'));
      const fd = fs.openSync(path.join(dir, 'counter_77.db'), 'w');
      fs.ftruncateSync(fd, 2 ** 31);
      const header = Buffer.alloc(8);
      header.writeInt32LE(used, 0);
      fs.writeSync(fd, header, 0, 8, 0);
      fs.closeSync(fd);
      const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), 'child', dir], { encoding: 'utf8' });
      if (child.status !== 0) throw new Error(child.stderr);
      const { times, maxRssMiB } = JSON.parse(child.stdout);
      console.log(`${label}: merges ${times.map((t) => `${t.toFixed(1)} ms`).join(', ')}; peak RSS ${maxRssMiB.toFixed(0)} MiB`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
}

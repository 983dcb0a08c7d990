// A read-only reader (a second collector, `dump`) merging while a compactor in another
// process folds dead files: every merge sees one consistent directory, so the total never
// counts a fold twice and never goes back.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { DirectoryMerger } from '../src/collect/merge.js';
import { buildFileImage } from '../src/format/file-image.js';
import { encodeKey } from '../src/format/key.js';
import { tempDir } from './helpers/fixtures.js';

const DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'esm', 'index.js');

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

const DEAD_FILES = 100;
const BATCH = 1;

describe('a read-only merge during compactions', () => {
  it('never counts a fold twice and never goes back, over every merge while a child compacts in a loop', async () => {
    const dir = tempDir();
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const ids: string[] = [];
    let expected = 0;
    for (let i = 0; i < DEAD_FILES; i++) {
      const id = String(800000 + i);
      ids.push(id);
      const value = i + 1;
      expected += 3 * value;
      const counter = [
        { key: encodeKey('jobs', 'jobs_total', [['kind', 'a']], 'Jobs.'), value, timestamp: 0 },
        { key: encodeKey('jobs', 'jobs_total', [['kind', 'b']], 'Jobs.'), value: 2 * value, timestamp: 0 },
      ];
      fs.writeFileSync(path.join(dir, `counter_${id}.db`), buildFileImage(counter));
      const histogram = [
        { key: encodeKey('lat', 'lat_sum', [], 'Lat.'), value: 1, timestamp: 0 },
        { key: encodeKey('lat', 'lat_bucket', [['le', '+Inf']], 'Lat.'), value: 1, timestamp: 0 },
      ];
      fs.writeFileSync(path.join(dir, `histogram_${id}.db`), buildFileImage(histogram));
    }
    const done = path.join(dir, '.compactor-done');
    // The child starts folding once the reader's first (cold) merge is over: on a loaded
    // machine that merge can otherwise outlast every fold, and nothing would overlap.
    const ready = path.join(dir, '.reader-ready');
    const script = `
      import fs from 'node:fs';
      const { compactDeadProcesses } = await import(${JSON.stringify(DIST)});
      const [dir, done, ready, batch, ...ids] = process.argv.slice(1);
      while (!fs.existsSync(ready)) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
      // A short pause between folds keeps the folds spread over many of the reader's
      // merges however fast both sides run (each fold still lands mid-merge at times).
      for (let i = 0; i < ids.length; i += Number(batch)) {
        compactDeadProcesses(dir, ids.slice(i, i + Number(batch)));
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
      }
      fs.writeFileSync(done, 'ok');`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, dir, done, ready, String(BATCH), ...ids], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    cleanups.push(() => child.kill('SIGKILL'));

    const merger = new DirectoryMerger(dir); // one long-lived reader, like a read-only collector
    merger.merge();
    fs.writeFileSync(ready, 'go');
    const wrong: string[] = [];
    let merges = 0;
    let duringFolds = 0;
    let stale = 0;
    const started = Date.now();
    for (;;) {
      const finished = fs.existsSync(done);
      const result = merger.merge();
      merges++;
      if (result.problems.some((p) => p.problem === 'fold-in-flight')) stale++;
      const jobs = result.families.find((f) => f.name === 'jobs');
      const lat = result.families.find((f) => f.name === 'lat');
      const total = jobs ? jobs.samples.reduce((sum, s) => sum + s.value, 0) : 0;
      const count = lat?.samples.find((s) => s.name === 'lat_count')?.value ?? 0;
      if (total !== expected || count !== DEAD_FILES) wrong.push(`merge ${merges}: jobs ${total} (expected ${expected}), lat_count ${count}`);
      const files = fs.readdirSync(dir).length;
      if (files > 3 && files < 2 * DEAD_FILES) duringFolds++;
      if (finished) break;
      if (child.exitCode !== null) throw new Error(`the compacting child exited (${child.exitCode}) without finishing: ${stderr}`);
      if (Date.now() - started > 240_000) throw new Error(`the compacting child did not finish in 240 s: ${stderr}`);
      // Let the child's exit be noticed now and then (the merge itself is synchronous).
      if (merges % 50 === 0) await new Promise((r) => setImmediate(r));
    }
    expect(stderr).toBe('');
    expect(wrong).toEqual([]);
    expect(fs.readdirSync(dir).filter((n) => n.endsWith('.db')).sort()).toEqual(['counter_archive.db', 'histogram_archive.db']);
    // The merges really overlapped the folds, and most were fresh (a merge serves the
    // previous values only when every one of its listings collided with a fold).
    expect(duringFolds).toBeGreaterThan(20);
    expect(stale).toBeLessThan(merges / 2);
  }, 300_000);
});

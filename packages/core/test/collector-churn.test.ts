// A collector scraping while another process grows, truncates and replaces one of the
// directory's files in a loop (helpers/churn-file.mjs): it keeps serving, every value it
// serves is one a consistent directory has, and the cut file is reported. Runs with the
// mapped reads (mmap project) and with read() (fallback project).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Collector } from '../src/index.js';
import { buildFileImage, type ImageEntry } from '../src/format/file-image.js';
import { encodeKey } from '../src/format/key.js';
import { tempDir } from './helpers/fixtures.js';

const CHURN = path.join(__dirname, 'helpers', 'churn-file.mjs');
const children: ChildProcess[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

const key = (i: number) => encodeKey('churn', 'churn_total', [['i', String(i)], ['route', `/api/v1/resource_${i}`]], 'Churned.');
const series = (from: number, count: number, scale: number): ImageEntry[] =>
  Array.from({ length: count }, (_, k) => ({ key: key(from + k), value: (from + k + 1) * scale, timestamp: 0 }));

const BASE = 500; // series in both files
const ADDED = 200; // series only the churned file gains (grown past its 64 KiB)

describe('a file changed under the collector by another process', () => {
  it('never makes it serve a wrong value or crash; the cut file is reported and merged again once whole', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const images = tempDir();
    dirs.push(images);
    // The stable file: every series at 1000 × (i + 1). The churned one: (i + 1), or absent.
    fs.writeFileSync(path.join(dir, 'counter_1.db'), buildFileImage(series(0, BASE, 1000)));
    const full = buildFileImage(series(0, BASE, 1));
    const grown = buildFileImage([...series(0, BASE, 1), ...series(BASE, ADDED, 1)]);
    expect(full.readInt32LE(0)).toBeLessThan(full.length);
    expect(grown.readInt32LE(0)).toBeGreaterThan(full.length); // growth past the file's size
    const shuffled = buildFileImage(series(0, BASE, 1).reverse());
    fs.writeFileSync(path.join(images, 'full'), full);
    fs.writeFileSync(path.join(images, 'grown'), grown);
    fs.writeFileSync(path.join(images, 'shuffled'), shuffled);
    const target = path.join(dir, 'counter_2.db');

    const churn = spawn(process.execPath, [CHURN, target, ...['full', 'grown', 'shuffled'].map((n) => path.join(images, n))], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(churn);
    let cycles = 0;
    let churnErr = '';
    churn.stdout!.on('data', (d: Buffer) => (cycles += d.toString().split('cycle').length - 1));
    churn.stderr!.on('data', (d: Buffer) => (churnErr += d));

    const collector = new Collector({ directory: dir, log: () => {} });
    const seen = { merged: 0, grownSeries: 0, reported: 0, scrapes: 0 };
    const wrong: string[] = [];
    // Until the churn has run many cycles and each outcome has been seen (bounded: a stuck
    // churn fails the test instead of running forever).
    for (let scrape = 0; (cycles < 40 || seen.reported === 0 || seen.grownSeries === 0 || seen.merged === 0) && scrape < 20_000; scrape++) {
      if (churn.exitCode !== null) throw new Error(`churn process exited (${churn.exitCode}): ${churnErr}`);
      const { body } = await collector.scrape();
      seen.scrapes++;
      const values = new Map<number, number>();
      for (const [, i, value] of body.matchAll(/^churn_total\{i="(\d+)",route="[^"]*"\} (\S+)$/gm)) values.set(Number(i), Number(value));
      for (let i = 0; i < BASE; i++) {
        const value = values.get(i);
        if (value !== 1000 * (i + 1) && value !== 1001 * (i + 1)) wrong.push(`series ${i}: ${value} (scrape ${scrape})`);
      }
      for (let i = BASE; i < BASE + ADDED; i++) {
        const value = values.get(i);
        if (value !== undefined && value !== i + 1) wrong.push(`added series ${i}: ${value} (scrape ${scrape})`);
      }
      if (values.get(0) === 1001) seen.merged++;
      if (values.has(BASE)) seen.grownSeries++;
      const problems = collector.lastProblems.filter((p) => p.file === 'counter_2.db');
      if (problems.length > 0) seen.reported++;
      for (const p of problems) {
        if (p.problem !== 'corrupt' && p.problem !== 'missing') wrong.push(`unexpected problem ${p.problem}: ${p.reason}`);
      }
      expect(wrong).toEqual([]);
      // Let the churn process run between scrapes on a loaded machine.
      if (scrape % 8 === 7) await new Promise((r) => setTimeout(r, 1));
    }
    churn.kill('SIGKILL');
    expect(cycles).toBeGreaterThanOrEqual(40);
    expect(seen.merged).toBeGreaterThan(0);
    expect(seen.grownSeries).toBeGreaterThan(0);
    expect(seen.reported).toBeGreaterThan(0);

    // Once the file is whole again, it is merged exactly. Written back in place (same
    // inode): the churn may have been killed with the shuffled layout there, so the reader
    // must notice its known entries moved (rewritten-in-place.test.ts) and parse anew.
    await new Promise((r) => churn.once('exit', r));
    fs.writeFileSync(target, grown);
    await collector.scrape();
    const { body } = await collector.scrape();
    expect(collector.lastProblems).toEqual([]);
    expect(body).toContain(`churn_total{i="0",route="/api/v1/resource_0"} 1001.0`);
    expect(body).toContain(`churn_total{i="${BASE}",route="/api/v1/resource_${BASE}"} ${BASE + 1}.0`);
    collector.close();
  });
});

// Fuzz, bounded and seeded: directories of generated hostile files (names, labels, help and
// values Prometheus cannot take, names that collide once escaped, lone surrogates, broken
// JSON, truncated and bit-flipped bytes) next to known good files, through the reader,
// the merge and the exposition of a real Collector. Every scrape must parse in
// Prometheus' text parser (promtool: exit 1 is a parse error, 3 only lint) and every good
// series must come through with its exact value.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Collector } from '@prom-multiproc/core';

const SEED = 0x5eed1;
const ROUNDS = 40;
const HOSTILE_FILES_PER_ROUND = 8; // plus 2 good files: 400 files in all

/** mulberry32: a small seeded PRNG, so a failure names a round that reproduces. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One file in the directory format (FORMAT.md §5), written by hand: header, then entries. */
function dbFile(entries: Array<{ key: string; value: number; timestamp?: number }>): Buffer {
  const parts: Buffer[] = [Buffer.alloc(8)];
  for (const e of entries) {
    const key = Buffer.from(e.key, 'utf8');
    const pad = (8 - ((4 + key.length) % 8)) % 8;
    const entry = Buffer.alloc(4 + key.length + pad + 16, 0x20);
    entry.writeUInt32LE(key.length, 0);
    key.copy(entry, 4);
    entry.writeDoubleLE(e.value, 4 + key.length + pad);
    entry.writeDoubleLE(e.timestamp ?? 0, 12 + key.length + pad);
    parts.push(entry);
  }
  const file = Buffer.concat(parts);
  file.writeUInt32LE(file.length, 0);
  return file;
}

const key = (metric: string, sample: string, labels: Record<string, string>, help: string) =>
  JSON.stringify([metric, sample, labels, help]);

const PIECES = ['', 'a', 'req', 'req.count', 'req_count', 'req-count', 'x_total', 'h', 'h_sum', 'h_count', 'h_bucket',
  '__name__', 'le', 'quantile', 'pid', 'a-b', 'a_b', '1abc', 'é', '\ud800', '\udfff', 'ü.ber', ' ', '"', '\\', '\n', '\u0000', '{', '}',
  'name with space', 'tab\there', ':colon', 'a'.repeat(300)];
const VALUES = [0, 1, -1, 0.5, NaN, Infinity, -Infinity, -0, 1e308, 5e-324, 2 ** 53 + 1];
const FILE_KINDS = ['counter', 'histogram', 'summary', 'gauge_all', 'gauge_livesum', 'gauge_max', 'gauge_mostrecent'];

function hostileFile(rand: () => number): Buffer {
  const pick = <T>(list: readonly T[]) => list[Math.floor(rand() * list.length)];
  const text = () => (rand() < 0.3 ? pick(PIECES) + pick(PIECES) : pick(PIECES));
  const entries: Array<{ key: string; value: number; timestamp?: number }> = [];
  const n = 1 + Math.floor(rand() * 12);
  for (let i = 0; i < n; i++) {
    const metric = text();
    const suffix = pick(['', '_total', '_sum', '_count', '_bucket', '_created', '.x']);
    const labels: Record<string, string> = {};
    for (let j = Math.floor(rand() * 4); j > 0; j--) labels[text()] = rand() < 0.2 ? String(pick(VALUES)) : text();
    if (rand() < 0.3) labels.le = pick(['+Inf', '1', '0.5', 'x', '', 'NaN', '1e3']);
    if (rand() < 0.2) labels.quantile = pick(['0.5', 'half', '', '1']);
    let k = key(metric, metric + suffix, labels, text());
    if (rand() < 0.05) k = k.slice(0, Math.floor(rand() * k.length)); // broken JSON
    if (rand() < 0.05) k = JSON.stringify([metric, 1, labels]); // wrong shape
    entries.push({ key: k, value: pick(VALUES), timestamp: rand() < 0.5 ? 0 : rand() * 1e9 });
  }
  const file = dbFile(entries);
  const damage = rand();
  if (damage < 0.08) return file.subarray(0, Math.floor(rand() * file.length)); // truncated
  if (damage < 0.16) {
    for (let i = 0; i < 4; i++) file[Math.floor(rand() * file.length)] ^= 1 << Math.floor(rand() * 8);
  }
  return file;
}

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

describe('fuzz: merged output always parses', () => {
  it(`${ROUNDS} directories of generated files (seed ${SEED}) parse in promtool, with every good series intact`, async () => {
    const rand = prng(SEED);
    const failures: string[] = [];
    let entriesSkipped = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pmp-fuzz-'));
      dirs.push(dir);
      // Good files sort first (`counter_1`, `gauge_all_1`), so their names are claimed first.
      fs.writeFileSync(path.join(dir, 'counter_1.db'), dbFile([
        { key: key('fuzz_good', 'fuzz_good_total', { route: '/a' }, 'Good.'), value: round + 1 },
        { key: key('fuzz_good', 'fuzz_good_total', { route: '/b' }, 'Good.'), value: 2 * round + 1 },
      ]));
      fs.writeFileSync(path.join(dir, 'gauge_all_1.db'), dbFile([{ key: key('fuzz_level', 'fuzz_level', {}, 'Level.'), value: round }]));
      for (let f = 0; f < HOSTILE_FILES_PER_ROUND; f++) {
        const kind = FILE_KINDS[Math.floor(rand() * FILE_KINDS.length)];
        fs.writeFileSync(path.join(dir, `${kind}_9${round}x${f}.db`), hostileFile(rand));
      }
      const collector = new Collector({ directory: dir, log: () => {} });
      const { body } = await collector.scrape();
      const om = await collector.scrape('openmetrics');
      const check = spawnSync('promtool', ['check', 'metrics'], { input: body, encoding: 'utf8' });
      if (check.error) throw check.error;
      if (check.status !== 0 && check.status !== 3) failures.push(`round ${round}: promtool exit ${check.status}: ${check.stdout}${check.stderr}`);
      for (const line of [`fuzz_good_total{route="/a"} ${round + 1}.0`, `fuzz_good_total{route="/b"} ${2 * round + 1}.0`, `fuzz_level{pid="1"} ${round}.0`]) {
        if (!body.split('\n').includes(line)) failures.push(`round ${round}: good series lost: ${line}`);
        if (!om.body.split('\n').includes(line)) failures.push(`round ${round}: good series lost in OpenMetrics: ${line}`);
      }
      if (!om.body.endsWith('# EOF\n')) failures.push(`round ${round}: OpenMetrics output does not end with # EOF`);
      const skipped = /^prom_multiproc_entries_skipped_total\{reason="[a-z-]+"\} (\d+)/gm;
      for (const m of body.matchAll(skipped)) entriesSkipped += Number(m[1]);
    }
    expect(failures).toEqual([]);
    // The generator does produce what the exposition must leave out.
    expect(entriesSkipped).toBeGreaterThan(0);
  }, 120_000);
});

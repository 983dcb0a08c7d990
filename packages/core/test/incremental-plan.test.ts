// A long-lived merger places new entries into its plan instead of planning again
// (merge-plan.ts `update`). Its output must stay exactly what a fresh merger gives for the
// same directory: random sequences of changes to real files (new series appended to
// files, new files sorting anywhere, changed values and timestamps, now and then a file
// shrunk, replaced or deleted), each followed by a merge of both, compared byte for byte.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DirectoryMerger, type MergeResult } from '../src/collect/merge.js';
import { MergePlan } from '../src/collect/merge-plan.js';
import { renderOpenMetrics, renderText } from '../src/collect/exposition.js';
import { paddingFor } from '../src/format/entries.js';
import { encodeKey } from '../src/format/key.js';
import { GAUGE_MODES, type GaugeMode, type MetricType } from '../src/format/names.js';

const WRITER = path.join(import.meta.dirname, 'helpers', 'writer-process.mjs');
const tempDirs: string[] = [];
const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  vi.restoreAllMocks();
  for (const dir of tempDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** Deterministic random numbers (mulberry32), so a failure replays. */
function random(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  const int = (n: number) => Math.floor(next() * n);
  return { next, int, pick: <T>(items: readonly T[]): T => items[int(items.length)], chance: (p: number) => next() < p };
}
type Random = ReturnType<typeof random>;

interface Entry {
  key: string;
  value: number;
  timestamp: number;
}

interface DbFile {
  type: MetricType;
  mode?: GaugeMode;
  entries: Entry[];
}

/** Writes a file the way Python's writer lays it out (FORMAT.md §5), in place (same inode). */
function writeDbFile(file: string, entries: Entry[]): void {
  const parts: Buffer[] = [Buffer.alloc(8)];
  for (const e of entries) {
    const key = Buffer.from(e.key, 'utf8');
    const entry = Buffer.alloc(4 + key.length + paddingFor(key.length) + 16, 0x20);
    entry.writeInt32LE(key.length, 0);
    key.copy(entry, 4);
    entry.writeDoubleLE(e.value, entry.length - 16);
    entry.writeDoubleLE(e.timestamp, entry.length - 8);
    parts.push(entry);
  }
  const buf = Buffer.concat(parts);
  buf.writeInt32LE(buf.length, 0);
  fs.writeFileSync(file, buf);
}

const LABEL_VALUES = ['a', 'b', 'c', 'd', 'e', 'f'];
const BOUNDS = ['0.1', '0.5', '1.0', '5.0', '+Inf'];

/** Label pairs of a random series: mostly one label from a small pool, so files share series. */
function labels(rnd: Random): Array<[string, string]> {
  if (rnd.chance(0.05)) return [];
  const pairs: Array<[string, string]> = [['l', rnd.pick(LABEL_VALUES)]];
  if (rnd.chance(0.15)) pairs.push(['k', rnd.pick(LABEL_VALUES)]);
  if (rnd.chance(0.1)) pairs.reverse();
  if (rnd.chance(0.01)) pairs.push(['a.b', 'x'], ['a_b', 'y']); // label names equal once escaped: unexposable
  return pairs;
}

const help = (rnd: Random, metric: string) => (rnd.chance(0.2) ? `${metric} other help` : `${metric} help`);
const value = (rnd: Random) => (rnd.chance(0.03) ? NaN : rnd.int(20) - 5);

/** The entries of one new series of a file of `type`. */
function series(rnd: Random, type: MetricType, mode: GaugeMode | undefined): Entry[] {
  const entry = (metric: string, sample: string, pairs: Array<[string, string]>, timestamp = 0): Entry => ({
    key: encodeKey(metric, sample, pairs, help(rnd, metric)), value: value(rnd), timestamp,
  });
  const pairs = labels(rnd);
  switch (type) {
    case 'counter': {
      // `x` collides with the gauge `x_total`; an empty name is unexposable.
      const metric = rnd.chance(0.02) ? '' : rnd.pick(['c0', 'c1', 'x', 'shared']);
      return [entry(metric, rnd.chance(0.1) ? `${metric}_created` : `${metric}_total`, pairs)];
    }
    case 'gauge': {
      const metric = rnd.pick(['g0', 'g1', 'x_total', 'shared']);
      const recent = mode === 'mostrecent' || mode === 'livemostrecent';
      return [entry(metric, metric, pairs, recent && rnd.chance(0.7) ? rnd.int(4) : 0)];
    }
    case 'histogram': {
      const metric = rnd.pick(['h0', 'h1']);
      const out: Entry[] = [];
      if (!rnd.chance(0.1)) out.push(entry(metric, `${metric}_sum`, pairs));
      for (const le of BOUNDS) if (rnd.chance(0.7)) out.push(entry(metric, `${metric}_bucket`, [...pairs, ['le', le]]));
      if (rnd.chance(0.08)) out.push(entry(metric, `${metric}_bucket`, [...pairs, ['le', rnd.pick(['NaN', 'NaN', 'oops', '-0.0', '0'])]]));
      if (rnd.chance(0.03)) out.push(entry(metric, `${metric}_count`, pairs)); // a foreign writer's stored count
      return out;
    }
    case 'summary': {
      const metric = rnd.pick(['s0', 'shared']);
      const out = [entry(metric, `${metric}_sum`, pairs), entry(metric, `${metric}_count`, pairs)];
      if (rnd.chance(0.05)) out.push(entry(metric, metric, [...pairs, ['quantile', rnd.pick(['0.5', 'bad'])]]));
      return out;
    }
  }
}

const TYPES: MetricType[] = ['counter', 'gauge', 'histogram', 'summary'];

class RandomDirectory {
  readonly files = new Map<string, DbFile>();

  constructor(readonly dir: string, private readonly rnd: Random) {}

  /** Picks one change, applies it to the directory and says which kind it was. */
  change(): string {
    const { rnd } = this;
    const names = [...this.files.keys()];
    const roll = rnd.next();
    if (names.length === 0 || roll < 0.3) return this.newFile();
    const name = rnd.pick(names);
    const file = this.files.get(name)!;
    if (roll < 0.65) {
      for (let n = 1 + rnd.int(2); n > 0; n--) {
        // Now and then a key the file has already (a foreign writer's duplicate).
        if (rnd.chance(0.03) && file.entries.length > 0) file.entries.push({ ...rnd.pick(file.entries) });
        else file.entries.push(...series(rnd, file.type, file.mode));
      }
      this.write(name);
      return 'new series';
    }
    if (roll < 0.93) {
      for (let n = 1 + rnd.int(4); n > 0 && file.entries.length > 0; n--) {
        const entry = rnd.pick(file.entries);
        entry.value = value(rnd);
        if (file.mode?.endsWith('mostrecent')) entry.timestamp = rnd.int(5);
      }
      this.write(name);
      return 'values';
    }
    if (roll < 0.96) {
      fs.rmSync(path.join(this.dir, name));
      this.files.delete(name);
      return 'deleted';
    }
    if (roll < 0.98) {
      file.entries.splice(rnd.int(file.entries.length + 1));
      this.write(name);
      return 'shrunk';
    }
    // Replaced by a rename (a new inode), same entries or fewer.
    file.entries.splice(file.entries.length - rnd.int(2));
    const temp = path.join(this.dir, `.${name}.tmp`);
    writeDbFile(temp, file.entries);
    fs.renameSync(temp, path.join(this.dir, name));
    return 'replaced';
  }

  private newFile(): string {
    const { rnd } = this;
    const type = rnd.pick(TYPES);
    // A restarted worker of the same kind usually writes a file of the same kind:
    // mostly one mode per family, now and then another (a mode conflict).
    const mode = type === 'gauge' ? (rnd.chance(0.8) ? rnd.pick(['all', 'min', 'mostrecent'] as const) : rnd.pick(GAUGE_MODES)) : undefined;
    // Ids of every length, so a new file sorts anywhere (`counter_999.db` after `counter_1000.db`).
    const id = String(1 + rnd.int(10 ** (1 + rnd.int(5))));
    const name = type === 'gauge' ? `gauge_${mode}_${id}.db` : `${type}_${id}.db`;
    if (this.files.has(name)) return 'nothing';
    const peers = [...this.files.values()].filter((f) => f.type === type && f.mode === mode);
    const entries: Entry[] = [];
    if (peers.length > 0 && rnd.chance(0.7)) {
      // A new worker writes the series its peers have, mostly in the same order.
      for (const e of rnd.pick(peers).entries) entries.push({ key: e.key, value: value(rnd), timestamp: e.timestamp > 0 ? 1 + rnd.int(4) : 0 });
      if (rnd.chance(0.2)) entries.reverse();
    }
    for (let n = rnd.int(entries.length > 0 ? 2 : 4); n >= 0; n--) entries.push(...series(rnd, type, mode));
    this.files.set(name, { type, mode, entries });
    this.write(name);
    return 'new file';
  }

  private write(name: string): void {
    writeDbFile(path.join(this.dir, name), this.files.get(name)!.entries);
  }
}

/** What a merge gives that a user can see: both expositions, the problems, the stats. */
function observable(result: MergeResult): string {
  const { families, problems, stats } = result;
  return [
    renderText(families),
    renderOpenMetrics(families),
    JSON.stringify(problems),
    JSON.stringify({ ...stats, entriesParsed: 0, bytesRead: 0 }),
  ].join('\n----\n');
}

/** `accumulate`: false merges as the compactor does (each bucket's own sum, no derived `_count`). */
function runSequence(seed: number, steps: number, accumulate: boolean): { builds: number; changes: Map<string, number> } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'incremental-plan-'));
  tempDirs.push(dir);
  const rnd = random(seed);
  const directory = new RandomDirectory(dir, rnd);
  const merger = new DirectoryMerger(dir);
  const build = vi.spyOn(MergePlan, 'build');
  const changes = new Map<string, number>();
  for (let step = 0; step < steps; step++) {
    const kind = directory.change();
    changes.set(kind, (changes.get(kind) ?? 0) + 1);
    const incremental = observable(merger.merge({ accumulate }));
    const fresh = observable(new DirectoryMerger(dir).merge({ accumulate }));
    if (incremental !== fresh) {
      // Name the step and the directory, then show the difference.
      expect({ seed, step, kind, files: [...directory.files.keys()].sort(), output: incremental }).toEqual({
        seed, step, kind, files: [...directory.files.keys()].sort(), output: fresh,
      });
    }
  }
  // Fresh mergers build once each: what is left over are the long-lived merger's builds.
  const builds = build.mock.calls.length - steps;
  build.mockRestore();
  return { builds, changes };
}

describe('placing new entries into a merge plan', () => {
  it('gives the output of a fresh merge after every one of many random changes', () => {
    let builds = 0;
    let added = 0;
    for (const seed of [1, 2, 3, 4, 5]) {
      const run = runSequence(seed, 120, seed !== 5);
      builds += run.builds;
      added += (run.changes.get('new series') ?? 0) + (run.changes.get('new file') ?? 0);
    }
    // The changes that only add entries are mostly placed, not planned again: otherwise
    // this test would compare two fresh builds and prove nothing about placing.
    expect(added).toBeGreaterThan(300);
    expect(builds).toBeLessThan(added / 2);
  });

  it('places a new worker file that sorts first, in the middle or last, and a new series in any file, without planning again', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'incremental-plan-'));
    tempDirs.push(dir);
    const key = (route: string, sample = 'req_total') => encodeKey('req', sample, [['route', route]], 'Requests.');
    const hist = (route: string) => [
      encodeKey('lat', 'lat_sum', [['route', route]], 'Latency.'),
      ...['0.1', '1.0', '+Inf'].map((le) => encodeKey('lat', 'lat_bucket', [['route', route], ['le', le]], 'Latency.')),
    ];
    const worker = (routes: string[]) => routes.flatMap((r) => [key(r), ...hist(r)]).map((k, i) => ({ key: k, value: i + 1, timestamp: 0 }));
    writeDbFile(path.join(dir, 'counter_1000.db'), worker(['/a', '/b']));
    writeDbFile(path.join(dir, 'counter_5000.db'), worker(['/a', '/b']));
    const merger = new DirectoryMerger(dir);
    const build = vi.spyOn(MergePlan, 'build');
    const same = () => expect(observable(merger.merge())).toBe(observable(new DirectoryMerger(dir).merge()));
    same();
    const builtBefore = build.mock.calls.length;
    // New workers with the same series: after (counter_999 sorts after counter_5000), before, between.
    writeDbFile(path.join(dir, 'counter_999.db'), worker(['/b', '/a']));
    same();
    writeDbFile(path.join(dir, 'counter_0.db'), worker(['/b', '/a', '/c']));
    same();
    writeDbFile(path.join(dir, 'counter_2.db'), worker(['/d']));
    same();
    // A new series appended to the last file and to the first.
    writeDbFile(path.join(dir, 'counter_999.db'), worker(['/b', '/a', '/e']));
    same();
    writeDbFile(path.join(dir, 'counter_0.db'), worker(['/b', '/a', '/c', '/f']));
    same();
    // Every change above was placed: one build per fresh merger, none for the long-lived one.
    expect(build.mock.calls.length - builtBefore).toBe(5);
    const { families } = merger.merge();
    expect(renderText(families)).toContain('req_total{route="/b"} ');
    // The merged samples are plain data a caller may copy, not tied to the plan.
    expect(JSON.parse(JSON.stringify(families[0].samples[0]))).toEqual({ id: expect.any(Number), name: 'req_total', labels: [['route', '/b']], lineName: 'req_total', lineLabels: '{route="/b"} ', value: 6 + 6 + 1 + 1 });
  });

  it('lets a mostrecent entry that had no timestamp when placed create its sample when it gets one, as a fresh merge does', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'incremental-plan-'));
    tempDirs.push(dir);
    const key = (l: string) => encodeKey('temp', 'temp', [['l', l]], 'Temperature.');
    writeDbFile(path.join(dir, 'gauge_mostrecent_2.db'), [{ key: key('a'), value: 1, timestamp: 1 }, { key: key('b'), value: 2, timestamp: 1 }]);
    const merger = new DirectoryMerger(dir);
    const same = () => expect(observable(merger.merge())).toBe(observable(new DirectoryMerger(dir).merge()));
    same();
    // A new file that sorts first, with the same series, never set yet: placed, nothing changes.
    const first = [{ key: key('b'), value: 3, timestamp: 0 }, { key: key('a'), value: 4, timestamp: 0 }];
    writeDbFile(path.join(dir, 'gauge_mostrecent_1.db'), first);
    same();
    // Its `b` is set: `b` is now first seen in the first file, before `a`.
    first[0].timestamp = 5;
    writeDbFile(path.join(dir, 'gauge_mostrecent_1.db'), first);
    same();
    expect(renderText(merger.merge().families)).toMatch(/temp\{l="b"\} 3\.0\ntemp\{l="a"\} 1\.0\n/);
  });

  it('labels a bucket by the entry that is first in merge order when one bound is written two ways', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'incremental-plan-'));
    tempDirs.push(dir);
    const bucket = (le: string) => ({ key: encodeKey('lat', 'lat_bucket', [['le', le]], 'Latency.'), value: 1, timestamp: 0 });
    writeDbFile(path.join(dir, 'histogram_2.db'), [bucket('0'), bucket('+Inf')]);
    const merger = new DirectoryMerger(dir);
    const same = () => expect(observable(merger.merge())).toBe(observable(new DirectoryMerger(dir).merge()));
    same();
    writeDbFile(path.join(dir, 'histogram_1.db'), [bucket('-0.0'), bucket('+Inf')]);
    same();
    expect(renderText(merger.merge().families)).toContain('lat_bucket{le="-0.0"} 2.0\n');
  });

  it('takes a stored histogram _count that arrives after the buckets, as a fresh merge does', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'incremental-plan-'));
    tempDirs.push(dir);
    const entry = (sample: string, pairs: Array<[string, string]>, value: number) => ({ key: encodeKey('lat', sample, pairs, 'Latency.'), value, timestamp: 0 });
    // Buckets only (no `_sum`): the `_count` is derived from them.
    writeDbFile(path.join(dir, 'histogram_2.db'), [entry('lat_bucket', [['l', 'a'], ['le', '1.0']], 1), entry('lat_bucket', [['l', 'a'], ['le', '+Inf']], 2)]);
    const merger = new DirectoryMerger(dir);
    const same = () => expect(observable(merger.merge())).toBe(observable(new DirectoryMerger(dir).merge()));
    same();
    // A foreign writer's stored `_count` for that series, in a file that sorts first.
    writeDbFile(path.join(dir, 'histogram_1.db'), [entry('lat_count', [['l', 'a']], 7)]);
    same();
  });
});

describe('placing what real workers write', () => {
  /** A writer process of test/helpers, resolved once it printed its first line. */
  function startWriter(dir: string, args: string[]): Promise<ChildProcess> {
    const child = spawn(process.execPath, [WRITER, ...args], { env: { ...process.env, PROMETHEUS_MULTIPROC_DIR: dir }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    return new Promise((resolve, reject) => {
      let err = '';
      child.stderr!.on('data', (d) => (err += d));
      child.stdout!.once('data', () => {
        child.stdout!.resume(); // keeps reading (and dropping) what it prints
        resolve(child);
      });
      child.once('exit', (code) => reject(new Error(`writer exited (${code}): ${err}`)));
    });
  }

  it('gives a fresh merge\'s output while a worker adds series and new workers start', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'incremental-plan-'));
    tempDirs.push(dir);
    // One worker adds a new series after every 500 increments, without end.
    const writers = [await startWriter(dir, ['count-forever'])];
    const merger = new DirectoryMerger(dir);
    const build = vi.spyOn(MergePlan, 'build');
    let longLivedBuilds = 0;
    let compared = 0;
    for (let round = 0; round < 8; round++) {
      // New workers (counters and a histogram, pids in any order) start now and then.
      if (round === 2 || round === 5) writers.push(await startWriter(dir, ['increment', '50']));
      await new Promise((resolve) => setTimeout(resolve, 40));
      // Stopped, the workers leave the files as they are while both merge them.
      for (const w of writers) w.kill('SIGSTOP');
      try {
        const before = build.mock.calls.length;
        const incremental = observable(merger.merge());
        longLivedBuilds += build.mock.calls.length - before;
        expect(incremental).toBe(observable(new DirectoryMerger(dir).merge()));
        expect(incremental).toContain('requests_total{route="/n"} ');
        compared++;
      } finally {
        for (const w of writers) w.kill('SIGCONT');
      }
    }
    expect(compared).toBe(8);
    expect(fs.readdirSync(dir).filter((f) => f.startsWith('histogram_')).length).toBe(writers.length);
    // Built once, on the first merge; every later change was placed.
    expect(longLivedBuilds).toBe(1);
  });
});

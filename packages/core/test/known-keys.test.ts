// A file whose keys the collector already knows (a new worker's files; workers 2..W of a
// first scrape) is read and placed by fast paths: its keys are found among the known ones
// by the addon, a read window per call (native/mmap.c walkKeys; key-matcher.test.ts), or
// compared with them a word at a time (collect/byte-tables.ts, the fallback storage), and a known key takes the step the plan
// gave it before (merge-plan.ts). Both must fall back, and give a fresh merge's output,
// when a key differs in one byte, when the keys come in another order, and when the new
// file sorts before the files the samples were born in.
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ByteKeyTable } from '../src/collect/byte-tables.js';
import { renderText } from '../src/collect/exposition.js';
import { DirectoryMerger, type MergeResult } from '../src/collect/merge.js';
import { MergePlan } from '../src/collect/merge-plan.js';
import { KeyCache } from '../src/collect/prepared-keys.js';
import { TrackedFile } from '../src/collect/tracked-file.js';
import { parseDbFileName } from '../src/format/names.js';
import { ReadBuffer } from '../src/format/reader.js';
import { buildFileImage } from '../src/format/file-image.js';
import { encodeKey } from '../src/format/key.js';
import { loadMmap } from '../src/format/mmap.js';
import { tempDir } from './helpers/fixtures.js';
import { seededRandom } from './helpers/seeded-random.js';

afterEach(() => {
  vi.restoreAllMocks();
});

/** Whether a read window's known keys are found by the addon here (the mmap storage); else ByteKeyTable.get finds them. */
const addonMatches = (process.env.PROM_MULTIPROC_STORAGE ?? '') !== 'fallback' && loadMmap()?.walkKeys !== undefined;

/** Keys laid out as in a file window: each 4-aligned after its length, then padding and 16 value bytes. */
function windowOf(keys: string[], trailing = true): { buf: Buffer; at: number[] } {
  const at: number[] = [];
  let size = 0;
  for (const k of keys) {
    at.push(size + 4);
    size += 4 + k.length + (8 - ((k.length + 4) % 8)) + 16;
  }
  // Without `trailing`, the buffer ends right after the last key: no whole word holds its tail.
  if (!trailing) size = at[at.length - 1] + keys[keys.length - 1].length;
  const buf = Buffer.from(new ArrayBuffer(size));
  buf.fill(0x20);
  keys.forEach((k, i) => buf.write(k, at[i], 'latin1'));
  return { buf, at };
}

/** A key of `length` bytes, every byte different from its neighbours. */
const keyOf = (length: number, salt = 0) => Array.from({ length }, (_, i) => String.fromCharCode(0x41 + ((i * 7 + salt) % 58))).join('');

describe('looking a known key up by its bytes', () => {
  it('takes a key that differs from the expected next one in any single byte, its last 1-3 bytes included, for another key', () => {
    for (const length of [4, 5, 6, 7, 16, 17, 18, 19, 149, 150, 151]) {
      const table = new ByteKeyTable<string>();
      const first = keyOf(24, 3);
      const known = keyOf(length);
      // Added in this order, `known` is the key expected after `first`.
      for (const k of [first, known]) table.add(Buffer.from(k, 'latin1'), 0, k.length, k);
      // Looks the window's keys up in turn: after `first` then `known`, `known` is the key tried first after `first`.
      const lookUp = (keys: string[], trailing: boolean) => {
        const { buf, at } = windowOf(keys, trailing);
        return keys.map((k, i) => table.get(buf, at[i], at[i] + k.length));
      };
      for (const trailing of [true, false]) {
        for (let p = 0; p < length; p++) {
          const changed = known.slice(0, p) + String.fromCharCode(known.charCodeAt(p) ^ (p % 2 === 0 ? 0x01 : 0x20)) + known.slice(p + 1);
          expect(lookUp([first, known, first, changed], trailing)).toEqual([first, known, first, undefined]);
        }
        // The same bytes are found, also where no whole word follows them in the buffer.
        expect(lookUp([first, known, first, known], trailing)).toEqual([first, known, first, known]);
      }
    }
  });

  it('compares against the buffer it is given, not one it looked into before at the same offsets', () => {
    const table = new ByteKeyTable<string>();
    const known = keyOf(37);
    table.add(Buffer.from(known, 'latin1'), 0, known.length, known);
    const a = windowOf([known]);
    expect(table.get(a.buf, a.at[0], a.at[0] + known.length)).toBe(known);
    // Another buffer of the same size with a key one byte apart at the same offset (the read
    // buffer replaced by a larger one), while the first still holds the known key.
    const other = `${known.slice(0, 20)}#${known.slice(21)}`;
    const b = windowOf([other]);
    expect(table.get(b.buf, b.at[0], b.at[0] + other.length)).toBeUndefined();
    // A view that does not start 4-aligned (compared byte by byte).
    const shifted = Buffer.from(new ArrayBuffer(known.length + 5)).subarray(1);
    shifted.write(known, 2, 'latin1');
    expect(table.get(shifted, 2, 2 + known.length)).toBe(known);
    shifted[2 + known.length - 1] ^= 1;
    expect(table.get(shifted, 2, 2 + known.length)).toBeUndefined();
  });
});

/** What a merge gives that a user can see. */
function observable(result: MergeResult): string {
  return `${renderText(result.families)}\n${JSON.stringify(result.problems)}`;
}

interface Entry {
  key: string;
  value: number;
  timestamp: number;
}

/** One worker's series: counters, then histograms (a `_sum` and its buckets per series), as a worker creates them. */
function workerSeries(routes: string[]): Entry[][] {
  const series: Entry[][] = [];
  for (const route of routes) series.push([{ key: encodeKey('req', 'req_total', [['route', route]], 'Requests.'), value: 1, timestamp: 0 }]);
  for (const route of routes) {
    const labels: Array<[string, string]> = [['route', route]];
    series.push([
      { key: encodeKey('lat', 'lat_sum', labels, 'Latency.'), value: 0.5, timestamp: 0 },
      ...['0.1', '1.0', '+Inf'].map((le) => ({ key: encodeKey('lat', 'lat_bucket', [...labels, ['le', le]], 'Latency.'), value: 1, timestamp: 0 })),
    ]);
  }
  return series;
}

function write(dir: string, name: string, entries: Entry[]): void {
  fs.writeFileSync(path.join(dir, name), buildFileImage(entries));
}

describe('a file of keys not seen yet', () => {
  it('gives a key listed twice in one read window one preparation and one place in the key table, in a walk by the addon or in JavaScript', () => {
    const dir = tempDir();
    try {
      const keys = Array.from({ length: 200 }, (_, i) => encodeKey('req', 'req_total', [['route', `/r${i}`]], 'Requests.'));
      // Entries 150..199 repeat keys 0..49 (a damaged or hand-made file): each is still one key.
      const listed = [...keys.slice(0, 150), ...keys.slice(0, 50)];
      const file = path.join(dir, 'counter_1.db');
      fs.writeFileSync(file, buildFileImage(listed.map((key, i) => ({ key, value: i, timestamp: 0 }))));
      const cache = new KeyCache();
      const tracked = new TrackedFile('counter_1.db', parseDbFileName('counter_1.db'), file, cache);
      expect(tracked.reader!.read(new ReadBuffer()).ok).toBe(true);
      const first = tracked.preparedKeys();
      expect(first).toHaveLength(200);
      for (let i = 150; i < 200; i++) expect(first[i]).toBe(first[i - 150]);
      expect(new Set(first).size).toBe(150);
      // A second file with the same keys finds each among the 150 known, with its first preparation.
      const other = path.join(dir, 'counter_2.db');
      fs.writeFileSync(other, buildFileImage(keys.map((key, i) => ({ key, value: i, timestamp: 0 }))));
      const second = new TrackedFile('counter_2.db', parseDbFileName('counter_2.db'), other, cache);
      expect(second.reader!.read(new ReadBuffer()).ok).toBe(true);
      const again = second.preparedKeys();
      expect(again.slice(0, 150)).toEqual(first.slice(0, 150));
      expect(again.slice(0, 150).every((p, i) => p === first[i])).toBe(true);
      expect(new Set(again).size).toBe(200);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a new file whose keys are known', () => {
  const routes = Array.from({ length: 40 }, (_, i) => `/r${i}`);

  function directory(): { dir: string; merger: DirectoryMerger; same: () => string; builds: () => number; foundByAddon: () => number } {
    const found = vi.spyOn(ByteKeyTable.prototype, 'found');
    const dir = tempDir();
    for (const id of ['2000', '3000']) write(dir, `counter_${id}.db`, workerSeries(routes).flat());
    const merger = new DirectoryMerger(dir);
    const build = vi.spyOn(MergePlan, 'build');
    const same = () => {
      const fresh = observable(new DirectoryMerger(dir).merge());
      const long = observable(merger.merge());
      expect(long).toBe(fresh);
      return long;
    };
    same();
    const first = build.mock.calls.length;
    // Builds of the long-lived merger since: each `same()` makes one fresh merger.
    let checks = 0;
    return { dir, merger, same: () => (checks++, same()), builds: () => build.mock.calls.length - first - checks, foundByAddon: () => found.mock.calls.length };
  }

  it('is placed as a fresh merge places it with its series in another order, sorting after, before or between the others', () => {
    const { dir, same, builds, foundByAddon } = directory();
    const next = seededRandom(15);
    const shuffled = (items: Entry[][]) => {
      const out = items.map((s) => s.map((e) => ({ ...e, value: Math.floor(next() * 10) })));
      for (let i = out.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        [out[i], out[j]] = [out[j], out[i]];
      }
      return out;
    };
    // Series in another order, each series' entries together (as a worker writes them); last in name order.
    write(dir, 'counter_9000.db', shuffled(workerSeries(routes)).flat());
    same();
    // Entries in any order (buckets apart from their series), first in name order: every sample's birth moves.
    write(dir, 'counter_1000.db', shuffled(workerSeries(routes).flat().map((e) => [e])).flat());
    const out = same();
    // Between the others, in the original order, with one series the others do not have.
    write(dir, 'counter_2500.db', [...workerSeries(routes).flat(), ...workerSeries(['/new']).flat()]);
    same();
    expect(builds()).toBe(0);
    // With the addon, the known keys were found by it (one call per read window); without, by ByteKeyTable.get.
    if (addonMatches) expect(foundByAddon()).toBeGreaterThan(3 * 40 * 5);
    else expect(foundByAddon()).toBe(0);
    // The first file's order is the output's (counter_1000 sorts first).
    const firstRoutes = [...fs.readFileSync(path.join(dir, 'counter_1000.db')).toString('latin1').matchAll(/\["req", "req_total", \{"route": "([^"]+)"/g)].map((m) => m[1]);
    const outRoutes = [...out.matchAll(/^req_total\{route="([^"]+)"\}/gm)].map((m) => m[1]);
    expect(outRoutes).toEqual(firstRoutes);
  });

  it('orders series by the new first file when it lists them in another order, histogram series with buckets only too', () => {
    const dir = tempDir();
    const bucket = (route: string, le: string) => ({ key: encodeKey('lat', 'lat_bucket', [['le', le], ['route', route]], 'Latency.'), value: 1, timestamp: 0 });
    const buckets = (route: string) => ['1.0', '+Inf'].map((le) => bucket(route, le));
    write(dir, 'histogram_2000.db', [...buckets('/a'), ...buckets('/b'), ...buckets('/c')]);
    const merger = new DirectoryMerger(dir);
    merger.merge();
    const build = vi.spyOn(MergePlan, 'build');
    // Sorts first, the same bucket keys, series in another order: Python lists /c, /a, /b now.
    write(dir, 'histogram_1000.db', [...buckets('/c'), ...buckets('/a'), ...buckets('/b')]);
    const out = observable(merger.merge());
    expect(build).not.toHaveBeenCalled();
    expect(out).toBe(observable(new DirectoryMerger(dir).merge()));
    expect([...out.matchAll(/^lat_count\{route="([^"]+)"\}/gm)].map((m) => m[1])).toEqual(['/c', '/a', '/b']);
  });

  it('takes a key that differs from a known one in one byte for another series', () => {
    const { dir, same, builds, foundByAddon } = directory();
    const entries = workerSeries(routes).flat();
    // The same series but two keys: one byte of a label value (`/r7` → `/s7`), one of the help text's last bytes.
    const i = entries.findIndex((e) => e.key.includes('"/r7"') && e.key.includes('lat_bucket') && e.key.includes('"1.0"'));
    entries[i] = { ...entries[i], key: entries[i].key.replace('"/r7"', '"/s7"'), value: 100 };
    const j = entries.findIndex((e) => e.key.includes('"/r9"') && e.key.includes('req_total'));
    entries[j] = { ...entries[j], key: entries[j].key.replace('Requests."]', 'Requests!"]'), value: 1000 };
    write(dir, 'counter_9000.db', entries);
    const out = same();
    expect(builds()).toBe(0);
    if (addonMatches) expect(foundByAddon()).toBeGreaterThan(0);
    expect(out).toContain('lat_bucket{le="1.0",route="/s7"} 100.0\n');
    expect(out).toContain('lat_bucket{le="1.0",route="/r7"} 2.0\n');
    // Same name and labels, other help: one sample, the first file's help (Python's rule), the three values summed.
    expect(out).toContain('req_total{route="/r9"} 1002.0\n');
  });

  it('reports the entries a new file leaves out though every sample it feeds exists', () => {
    const { dir, merger, same, builds } = directory();
    // Not exposable (an empty label name): no sample.
    const left = { key: encodeKey('req', 'req_total', [['', 'x']], 'Requests.'), value: 1, timestamp: 0 };
    write(dir, 'counter_9000.db', [...workerSeries(routes).flat(), left]);
    const before = merger.merge().families;
    write(dir, 'counter_9500.db', [...workerSeries(routes).flat(), left]);
    same();
    const after = merger.merge();
    expect(builds()).toBe(0);
    // No family changed: the same merged samples; the new file's problem is reported.
    expect(after.families.map((f) => f.samples)).toEqual(before.map((f) => f.samples));
    expect(after.problems.map((p) => `${p.file} ${p.problem}`)).toEqual(['counter_9000.db unexposable', 'counter_9500.db unexposable']);
  });

  it('reads the same bytes as known keys whatever window of the read buffer they lie in', () => {
    const { dir, same, builds } = directory();
    // A key longer than a parse window (1 MiB) makes the reader take a larger buffer
    // mid-file: the known keys after it are compared in that buffer.
    const huge = encodeKey('req', 'req_total', [['route', `/${'x'.repeat(1_200_000)}`]], 'Requests.');
    const entries = workerSeries(routes).flat();
    write(dir, 'counter_9000.db', [...entries.slice(0, 7), { key: huge, value: 3, timestamp: 0 }, ...entries.slice(7)]);
    const out = same();
    expect(builds()).toBe(0);
    expect(out).toContain('req_total{route="/r0"} 3.0\n');
    expect(out).toContain(`req_total{route="/${'x'.repeat(20)}`);
  });
});

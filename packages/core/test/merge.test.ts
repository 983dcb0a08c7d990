// The directory merge against Python's golden output, and what it does with bad files,
// mode conflicts and files that grow between merges.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DirectoryMerger, type MergeResult } from '../src/collect/merge.js';
import { renderOpenMetrics, renderText } from '../src/collect/exposition.js';
import { paddingFor } from '../src/format/entries.js';
import { encodeKey, type LabelPairs } from '../src/format/key.js';
import { MappedFile } from '../src/format/mapped-file.js';
import { FIXTURES, flushWrites } from './helpers/fixtures.js';

const fixture = (name: string) => path.join(FIXTURES, name);
const expectedText = (name: string, file = 'expected.txt') => fs.readFileSync(path.join(fixture(name), file), 'utf8');
const mergeDir = (dir: string, accumulate = true): MergeResult => new DirectoryMerger(dir).merge({ accumulate });

const tempDirs: string[] = [];
afterEach(() => {
  for (const dir of tempDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** A temp directory holding copies of the `*.db` files of the given fixtures. */
function tempDirWith(...fixtures: string[]): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'merge-test-'));
  tempDirs.push(dir);
  for (const name of fixtures) {
    for (const file of fs.readdirSync(fixture(name))) {
      if (file.endsWith('.db')) fs.copyFileSync(path.join(fixture(name), file), path.join(dir, file));
    }
  }
  return dir;
}

interface TestEntry {
  metric: string;
  sample: string;
  labels?: LabelPairs;
  help?: string;
  value: number;
  timestamp?: number;
}

/** Writes a metrics file the way Python's writer lays it out (FORMAT.md §5), truncated to `used`. */
function writeDbFile(file: string, entries: TestEntry[]): void {
  const parts: Buffer[] = [Buffer.alloc(8)];
  for (const e of entries) {
    const key = Buffer.from(encodeKey(e.metric, e.sample, e.labels ?? [], e.help ?? `${e.metric} help`), 'utf8');
    const entry = Buffer.alloc(4 + key.length + paddingFor(key.length) + 16, 0x20);
    entry.writeInt32LE(key.length, 0);
    key.copy(entry, 4);
    entry.writeDoubleLE(e.value, entry.length - 16);
    entry.writeDoubleLE(e.timestamp ?? 0, entry.length - 8);
    parts.push(entry);
  }
  const buf = Buffer.concat(parts);
  buf.writeInt32LE(buf.length, 0);
  fs.writeFileSync(file, buf);
}

const fixturesWithExpected = fs
  .readdirSync(FIXTURES)
  .filter((name) => fs.existsSync(path.join(fixture(name), 'expected.txt')) && name !== 'old_format_single_entry')
  .sort();

describe('merging the Python fixtures', () => {
  it('covers the fixtures it should', () => {
    expect(fixturesWithExpected.length).toBeGreaterThanOrEqual(13);
    expect(fixturesWithExpected).toContain('mixed_realistic');
  });

  it.each(fixturesWithExpected)('%s merges to Python expected.txt byte for byte', (name) => {
    const result = mergeDir(fixture(name));
    expect(result.problems).toEqual([]);
    expect(renderText(result.families)).toBe(expectedText(name));
  });

  const noAccumulate = fixturesWithExpected.filter((name) => fs.existsSync(path.join(fixture(name), 'expected_no_accumulate.txt')));
  it('has the no-accumulate fixtures', () => expect(noAccumulate).toEqual(['histogram_custom', 'mixed_realistic']));

  it.each(noAccumulate)('%s with accumulate=false matches expected_no_accumulate.txt', (name) => {
    const result = mergeDir(fixture(name), false);
    expect(renderText(result.families)).toBe(expectedText(name, 'expected_no_accumulate.txt'));
    const histogramSamples = result.families.filter((f) => f.type === 'histogram').flatMap((f) => f.samples);
    expect(histogramSamples.length).toBeGreaterThan(0);
    expect(histogramSamples.filter((s) => s.name.endsWith('_count'))).toEqual([]);
  });

  it('reports the single-entry 0.17 file Python silently misreads as corrupt', () => {
    const result = mergeDir(fixture('old_format_single_entry'));
    expect(result.families).toEqual([]);
    expect(result.problems).toHaveLength(1);
    expect(result.problems[0]).toMatchObject({ file: 'gauge_all_1301.db', problem: 'corrupt' });
    expect(result.problems[0].reason).toMatch(/runs past used/);
    expect(result.problems[0].reason).toMatch(/0\.17/);
    // Python's output, which we must not reproduce:
    expect(expectedText('old_format_single_entry')).toContain('old_gauge{pid="1301"} 2.0');
  });

  it('counts what it read', () => {
    const { stats } = mergeDir(fixture('counter_basic'));
    expect(stats).toEqual({ files: 2, filesSkipped: 0, entries: 6, entriesParsed: 6, bytesRead: 640, series: 4, writers: { mmap: 2, fallback: 0 } });
  });

  it('counts writer processes by storage mode: a fallback marker says fallback; archives and retired ids are no writers', () => {
    const dir = tempDirWith();
    for (const name of ['counter_1.db', 'gauge_livesum_1.db', 'counter_2.db', 'histogram_2.db', 'counter_3.db', 'counter_archive.db', 'counter_4dead17.db']) {
      writeDbFile(path.join(dir, name), [{ metric: 'x', sample: 'x_total', value: 1 }]);
    }
    fs.writeFileSync(path.join(dir, '.prom-multiproc-fallback-2'), '');
    fs.writeFileSync(path.join(dir, '.prom-multiproc-fallback-9'), ''); // no files: not counted
    const { stats, problems } = mergeDir(dir);
    expect(problems).toEqual([]);
    expect(stats.writers).toEqual({ mmap: 2, fallback: 1 });
  });

  it('renders OpenMetrics with # EOF and counter HELP/TYPE without _total', () => {
    const text = renderOpenMetrics(mergeDir(fixture('counter_basic')).families);
    expect(text.endsWith('\n# EOF\n')).toBe(true);
    expect(text).toContain('# HELP http_requests Total HTTP requests.\n# TYPE http_requests counter\n');
    expect(text).toContain('http_requests_total{code="200",method="GET"} 7.0\n');
    expect(text).not.toContain('# TYPE http_requests_total');
  });
});

describe('bad files are skipped, the rest still merges', () => {
  const errorCases: Array<[string, string, RegExp]> = [
    ['error_corrupt_len', 'counter_1404.db', /entry at offset 8 .*runs past used \(72\)/],
    ['error_zero_size', 'counter_1403.db', /0 bytes, shorter than its 4-byte header/],
    ['error_old_format_v017', 'counter_1301.db', /prometheus_client <= 0\.17/],
  ];

  it.each(errorCases)('%s: %s is skipped with a reason naming the cause', (name, badFile, reason) => {
    const dir = tempDirWith('counter_basic', name);
    const result = mergeDir(dir);
    const problem = result.problems.find((p) => p.file === badFile);
    expect(problem).toMatchObject({ problem: 'corrupt' });
    expect(problem!.reason).toMatch(reason);
    expect(result.problems.every((p) => p.problem === 'corrupt')).toBe(true);
    expect(renderText(result.families)).toBe(expectedText('counter_basic'));
    expect(result.stats.filesSkipped).toBe(result.problems.length);
  });

  it('the 0.17 directory reports both of its files, the gauge too', () => {
    const result = mergeDir(tempDirWith('error_old_format_v017'));
    expect(result.problems.map((p) => p.file)).toEqual(['counter_1301.db', 'gauge_all_1301.db']);
  });

  it('skips foreign *.db names and junk, ignores dot-files and other names', () => {
    const dir = tempDirWith('counter_basic');
    const valid = path.join(fixture('counter_basic'), 'counter_101.db');
    fs.copyFileSync(valid, path.join(dir, 'foo.db')); // a real metrics file under a foreign name
    const sqlite = Buffer.alloc(4096);
    sqlite.write('SQLite format 3\0');
    fs.writeFileSync(path.join(dir, 'sqlite.db'), sqlite);
    fs.writeFileSync(path.join(dir, 'counter_5.db'), sqlite); // junk under a valid name
    fs.writeFileSync(path.join(dir, 'gauge_weird_5.db'), sqlite); // unknown gauge mode
    fs.copyFileSync(valid, path.join(dir, '.counter_7.db')); // a writer's temp file
    fs.copyFileSync(valid, path.join(dir, 'counter_8.db.tmp'));

    const result = mergeDir(dir);
    const byFile = Object.fromEntries(result.problems.map((p) => [p.file, p]));
    expect(Object.keys(byFile).sort()).toEqual(['counter_5.db', 'foo.db', 'gauge_weird_5.db', 'sqlite.db']);
    expect(byFile['foo.db'].problem).toBe('foreign');
    expect(byFile['sqlite.db'].problem).toBe('foreign');
    expect(byFile['gauge_weird_5.db'].problem).toBe('foreign');
    expect(byFile['counter_5.db'].problem).toBe('corrupt');
    expect(byFile['counter_5.db'].reason).toMatch(/header says \d+ bytes are used but the file has 4096/);
    expect(renderText(result.families)).toBe(expectedText('counter_basic'));
    expect(result.stats).toMatchObject({ files: 6, filesSkipped: 4 });
  });

  it('reports a listed file that cannot be opened as missing, and a directory under a metrics name as not-regular-file', () => {
    const dir = tempDirWith('counter_basic');
    fs.symlinkSync(path.join(dir, 'does-not-exist'), path.join(dir, 'counter_9.db'));
    fs.mkdirSync(path.join(dir, 'histogram_9.db'));
    const result = mergeDir(dir);
    expect(result.problems).toEqual([
      { file: 'counter_9.db', problem: 'missing', reason: expect.stringMatching(/vanished/) },
      { file: 'histogram_9.db', problem: 'not-regular-file', reason: expect.stringMatching(/a directory/) },
    ]);
    expect(renderText(result.families)).toBe(expectedText('counter_basic'));
  });

  it('ignores a histogram bucket whose le is not a number, and merges the rest of its file', () => {
    const dir = tempDirWith();
    writeDbFile(path.join(dir, 'histogram_1.db'), [
      { metric: 'h', sample: 'h_sum', value: 2 },
      { metric: 'h', sample: 'h_bucket', labels: [['le', 'abc']], value: 5 },
      { metric: 'h', sample: 'h_bucket', labels: [['le', '+Inf']], value: 1 },
    ]);
    const result = mergeDir(dir);
    expect(result.problems).toEqual([{ file: 'histogram_1.db', problem: 'invalid-bucket', reason: expect.stringMatching(/"le" label that is not a number/) }]);
    expect(renderText(result.families)).toBe('# HELP h h help\n# TYPE h histogram\nh_sum 2.0\nh_bucket{le="+Inf"} 1.0\nh_count 1.0\n');
  });
});

describe('merge rules on hand-written files', () => {
  it('gauge written with two modes: the last file in sorted order decides, reported as mode-conflict', () => {
    const dir = tempDirWith();
    writeDbFile(path.join(dir, 'gauge_sum_1.db'), [{ metric: 'g', sample: 'g', value: 3 }]);
    writeDbFile(path.join(dir, 'gauge_all_2.db'), [{ metric: 'g', sample: 'g', value: 5 }]);
    const result = mergeDir(dir);
    // Sorted: gauge_all_2.db, gauge_sum_1.db; "sum" is last, so both values are summed.
    expect(renderText(result.families)).toBe('# HELP g g help\n# TYPE g gauge\ng 8.0\n');
    expect(result.problems).toHaveLength(1);
    const [conflict] = result.problems;
    expect(conflict.problem).toBe('mode-conflict');
    expect(conflict.file).toBe('gauge_all_2.db');
    expect(conflict.reason).toMatch(/gauge "g"/);
    expect(conflict.reason).toMatch(/all \(first in gauge_all_2\.db\)/);
    expect(conflict.reason).toMatch(/sum \(first in gauge_sum_1\.db\)/);
    expect(conflict.reason).toMatch(/merged as "sum"/);
    expect(result.stats.filesSkipped).toBe(0);
  });

  it('mostrecent: strictly greater timestamp wins, ties keep the earlier file, timestamp 0 never shows', () => {
    const dir = tempDirWith();
    writeDbFile(path.join(dir, 'gauge_mostrecent_1.db'), [
      { metric: 'm', sample: 'm', labels: [['k', 'tie']], value: 1, timestamp: 10 },
      { metric: 'm', sample: 'm', labels: [['k', 'unset']], value: 7, timestamp: 0 },
    ]);
    writeDbFile(path.join(dir, 'gauge_mostrecent_2.db'), [
      { metric: 'm', sample: 'm', labels: [['k', 'tie']], value: 2, timestamp: 10 },
      { metric: 'm', sample: 'm', labels: [['k', 'newer']], value: 4, timestamp: 0 },
    ]);
    writeDbFile(path.join(dir, 'gauge_mostrecent_3.db'), [
      { metric: 'm', sample: 'm', labels: [['k', 'newer']], value: 5, timestamp: 3 },
      { metric: 'm', sample: 'm', labels: [['k', 'tie']], value: 9, timestamp: 0 },
    ]);
    expect(renderText(mergeDir(dir).families)).toBe('# HELP m m help\n# TYPE m gauge\nm{k="tie"} 1.0\nm{k="newer"} 5.0\n');
  });

  it("mostrecent: a gauge's entries in another type's file count with timestamp 0, as Python reads them (first and steady reads)", () => {
    // FORMAT.md §7.1: only gauge files' samples keep their timestamp. A summary file that
    // sorts after the gauge file feeds the gauge family `m` (born in the gauge file); its
    // timestamps (10, 20: no writer of ours or Python's writes one there) must not count.
    const dir = tempDirWith();
    writeDbFile(path.join(dir, 'gauge_mostrecent_1.db'), [{ metric: 'm', sample: 'm', labels: [['k', 'a']], value: 1, timestamp: 5 }]);
    const other = path.join(dir, 'summary_2.db');
    writeDbFile(other, [
      { metric: 'm', sample: 'm', labels: [['k', 'a']], value: 2, timestamp: 10 },
      { metric: 'm', sample: 'm', labels: [['k', 'b']], value: 3, timestamp: 20 },
    ]);
    const merger = new DirectoryMerger(dir);
    const expected = '# HELP m m help\n# TYPE m gauge\nm{k="a"} 1.0\n';
    expect(renderText(merger.merge().families)).toBe(expected);
    // In place, as a writer updates a value: the next read copies values (mapped, or read whole).
    const image = fs.readFileSync(other);
    const fd = fs.openSync(other, 'r+');
    try {
      const firstValueAt = 8 + 4 + image.readInt32LE(8) + paddingFor(image.readInt32LE(8));
      const bytes = Buffer.alloc(16);
      bytes.writeDoubleLE(6, 0);
      bytes.writeDoubleLE(30, 8);
      fs.writeSync(fd, bytes, 0, 16, firstValueAt);
    } finally {
      fs.closeSync(fd);
    }
    expect(renderText(merger.merge().families)).toBe(expected);
    expect(renderText(mergeDir(dir).families)).toBe(expected);
  });

  it('min/max keep the first value until a strictly smaller/greater one; a user pid label is dropped in those modes', () => {
    const dir = tempDirWith();
    for (const [id, value] of [[1, 4], [2, -1], [3, 9]] as const) {
      writeDbFile(path.join(dir, `gauge_min_${id}.db`), [{ metric: 'lo', sample: 'lo', labels: [['pid', 'user']], value }]);
      writeDbFile(path.join(dir, `gauge_max_${id}.db`), [{ metric: 'hi', sample: 'hi', value }]);
    }
    expect(renderText(mergeDir(dir).families)).toBe('# HELP hi hi help\n# TYPE hi gauge\nhi 9.0\n# HELP lo lo help\n# TYPE lo gauge\nlo -1.0\n');
  });

  it('histograms with different bucket layouts merge over the union of bounds; "1" and "1.0" are one bound', () => {
    const dir = tempDirWith();
    writeDbFile(path.join(dir, 'histogram_1.db'), [
      { metric: 'h', sample: 'h_sum', value: 1 },
      { metric: 'h', sample: 'h_bucket', labels: [['le', '1.0']], value: 1 },
      { metric: 'h', sample: 'h_bucket', labels: [['le', '+Inf']], value: 0 },
    ]);
    writeDbFile(path.join(dir, 'histogram_2.db'), [
      { metric: 'h', sample: 'h_sum', value: 2 },
      { metric: 'h', sample: 'h_bucket', labels: [['le', '0.5']], value: 1 },
      { metric: 'h', sample: 'h_bucket', labels: [['le', '1']], value: 0 },
      { metric: 'h', sample: 'h_bucket', labels: [['le', '+Inf']], value: 1 },
    ]);
    expect(renderText(mergeDir(dir).families)).toBe(
      '# HELP h h help\n# TYPE h histogram\nh_sum 3.0\n' +
        'h_bucket{le="0.5"} 1.0\nh_bucket{le="1.0"} 2.0\nh_bucket{le="+Inf"} 3.0\nh_count 3.0\n',
    );
  });

  it('bucket bounds listed out of order, repeated, or as "1" and "1.0" in one file are sorted and merged', () => {
    // A series' buckets usually come in ascending order, which the plan appends without a
    // search; any other order takes the sorted insert.
    const dir = tempDirWith();
    writeDbFile(path.join(dir, 'histogram_1.db'), [
      { metric: 'h', sample: 'h_bucket', labels: [['le', '+Inf']], value: 1 },
      { metric: 'h', sample: 'h_bucket', labels: [['le', '2.5']], value: 2 },
      { metric: 'h', sample: 'h_bucket', labels: [['le', '0.5']], value: 4 },
      { metric: 'h', sample: 'h_bucket', labels: [['le', '1']], value: 8 },
      { metric: 'h', sample: 'h_bucket', labels: [['le', '5']], value: 16 },
      { metric: 'h', sample: 'h_bucket', labels: [['le', '1.0']], value: 32 },
      { metric: 'h', sample: 'h_bucket', labels: [['le', '0.25']], value: 64 },
      { metric: 'h', sample: 'h_sum', value: 3 },
    ]);
    writeDbFile(path.join(dir, 'histogram_2.db'), [
      { metric: 'h', sample: 'h_bucket', labels: [['le', '0.5']], value: 128 },
      { metric: 'h', sample: 'h_bucket', labels: [['le', '10']], value: 256 },
      { metric: 'h', sample: 'h_bucket', labels: [['le', '0.1']], value: 512 },
    ]);
    expect(renderText(mergeDir(dir).families)).toBe(
      '# HELP h h help\n# TYPE h histogram\nh_sum 3.0\n' +
        'h_bucket{le="0.1"} 512.0\nh_bucket{le="0.25"} 576.0\nh_bucket{le="0.5"} 708.0\nh_bucket{le="1.0"} 748.0\nh_bucket{le="2.5"} 750.0\n' +
        'h_bucket{le="5.0"} 766.0\nh_bucket{le="10.0"} 1022.0\nh_bucket{le="+Inf"} 1023.0\nh_count 1023.0\n',
    );
  });

  it("series of one histogram with different bucket layouts (a family's tables share bounds while equal): each merged over its own bounds, kept or placed anew", () => {
    // A family's bucket tables start with the bounds of the table made before them; one
    // whose bounds differ (fewer, more, others, out of order, interleaved with another
    // series) or that gains a bound later (a new file) must not change another's.
    const series = (s: string, le: string): LabelPairs => [['le', le], ['s', s]];
    const file1: Array<[string, string, number]> = [
      ['a', '0.5', 1], ['a', '1.0', 2], ['a', '+Inf', 4],
      ['h', '0.5', 21], ['h', '1.0', 23], ['h', '+Inf', 25],
      ['b', '0.5', 8], ['b', '1.0', 16], ['b', '2.0', 32], ['b', '+Inf', 64],
      ['c', '0.5', 128], ['c', '+Inf', 256],
      ['d', '0.25', 512], ['d', '0.5', 1024], ['d', '1.0', 2048], ['d', '+Inf', 4096],
      ['e', '0.5', 3], ['f', '0.5', 5], ['e', '1.0', 7], ['f', '2.0', 9], ['e', '+Inf', 11], ['f', '+Inf', 13],
      ['g', '1.0', 15], ['g', '0.5', 17], ['g', '+Inf', 19],
    ];
    const file2: Array<[string, string, number]> = [
      ['a', '0.75', 29], ['h', '0.75', 27], ['a', '0.5', 31], ['c', '1.0', 33], ['i', '0.5', 35], ['i', '+Inf', 37], ['b', '0.1', 39],
    ];
    const entries = (list: Array<[string, string, number]>): TestEntry[] => list.map(([s, le, value]) => ({ metric: 'h', sample: 'h_bucket', labels: series(s, le), value }));
    /** The merged buckets as Python computes them: per series (first-seen order), its bounds sorted, values cumulated. */
    const reference = (list: Array<[string, string, number]>): string[] => {
      const sums = new Map<string, Map<number, number>>();
      for (const [s, le, value] of list) {
        const bounds = sums.get(s) ?? sums.set(s, new Map()).get(s)!;
        const bound = Number(le === '+Inf' ? Infinity : le);
        bounds.set(bound, (bounds.get(bound) ?? 0) + value);
      }
      const lines: string[] = [];
      for (const [s, bounds] of sums) {
        let running = 0;
        for (const bound of [...bounds.keys()].sort((x, y) => x - y)) {
          running += bounds.get(bound)!;
          lines.push(`${s} ${bound} ${running}`);
        }
        lines.push(`${s} count ${running}`);
      }
      return lines;
    };
    const merged = (result: MergeResult): string[] =>
      result.families.find((f) => f.name === 'h')!.samples.map((sample) => {
        const labels = Object.fromEntries(sample.labels);
        return `${labels.s} ${sample.name === 'h_count' ? 'count' : Number(labels.le === '+Inf' ? Infinity : labels.le)} ${sample.value}`;
      });
    const dir = tempDirWith();
    writeDbFile(path.join(dir, 'histogram_1.db'), entries(file1));
    const merger = new DirectoryMerger(dir);
    expect(merged(merger.merge())).toEqual(reference(file1));
    // A second file: bounds in the middle of series that share bounds, a new series, a bound before all.
    writeDbFile(path.join(dir, 'histogram_2.db'), entries(file2));
    expect(merged(merger.merge())).toEqual(reference([...file1, ...file2]));
    expect(merged(mergeDir(dir))).toEqual(reference([...file1, ...file2]));
    // The second file sorting first: every birth moves.
    fs.renameSync(path.join(dir, 'histogram_2.db'), path.join(dir, 'histogram_0.db'));
    expect(merged(merger.merge())).toEqual(reference([...file2, ...file1]));
  });

  it('the same keys in many files: each file\'s NaN bucket bound is a bucket of its own, the other keys merge', () => {
    const dir = tempDirWith();
    for (const id of [1, 2, 3]) {
      writeDbFile(path.join(dir, `histogram_${id}.db`), [
        { metric: 'h', sample: 'h_sum', value: id },
        { metric: 'h', sample: 'h_bucket', labels: [['le', '1.0']], value: 1 },
        { metric: 'h', sample: 'h_bucket', labels: [['le', 'NaN']], value: id },
        { metric: 'h', sample: 'h_bucket', labels: [['le', '+Inf']], value: 0 },
      ]);
    }
    expect(renderText(mergeDir(dir).families)).toBe(
      '# HELP h h help\n# TYPE h histogram\nh_sum 6.0\n' +
        'h_bucket{le="1.0"} 3.0\nh_bucket{le="NaN"} 4.0\nh_bucket{le="+Inf"} 4.0\nh_bucket{le="NaN"} 6.0\nh_bucket{le="NaN"} 9.0\nh_count 9.0\n',
    );
  });

  it('label sets that share values under other names, or names with other values, keep their own labels (pairs are shared by id)', () => {
    const dir = tempDirWith();
    const entry = (labels: LabelPairs, value: number): TestEntry => ({ metric: 'c', sample: 'c_total', labels, value });
    writeDbFile(path.join(dir, 'counter_1.db'), [
      entry([['a', 'x'], ['b', 'y']], 1), entry([['a', 'y'], ['b', 'x']], 2), entry([['a', 'x'], ['b', 'x']], 4),
      entry([['b', 'x']], 8), entry([['a', 'y']], 16), entry([['x', 'a'], ['y', 'b']], 32),
    ]);
    expect(renderText(mergeDir(dir).families)).toBe(
      '# HELP c_total c help\n# TYPE c_total counter\n' +
        'c_total{a="x",b="y"} 1.0\nc_total{a="y",b="x"} 2.0\nc_total{a="x",b="x"} 4.0\nc_total{b="x"} 8.0\nc_total{a="y"} 16.0\nc_total{x="a",y="b"} 32.0\n',
    );
  });

  it('type and help come from the first file that names a family', () => {
    const dir = tempDirWith();
    writeDbFile(path.join(dir, 'counter_1.db'), [{ metric: 'x', sample: 'x_total', help: 'first', value: 1 }]);
    writeDbFile(path.join(dir, 'counter_2.db'), [{ metric: 'x', sample: 'x_total', help: 'second', value: 2 }]);
    expect(renderText(mergeDir(dir).families)).toBe('# HELP x_total first\n# TYPE x_total counter\nx_total 3.0\n');
  });
});

describe('merging again', () => {
  it('parses only entries added since the last merge and re-reads every value', () => {
    const dir = tempDirWith('counter_basic');
    const merger = new DirectoryMerger(dir);
    const first = merger.merge();
    expect(first.stats.entriesParsed).toBe(6);
    expect(renderText(first.families)).toBe(expectedText('counter_basic'));

    const writer = MappedFile.open(path.join(dir, 'counter_101.db'));
    const jobs = writer.slotFor(encodeKey('jobs', 'jobs_total', [], 'Jobs processed.'));
    writer.values[jobs] += 10; // an existing entry: 3 -> 13
    const added = writer.slotFor(encodeKey('http_requests', 'http_requests_total', [['code', '404'], ['method', 'GET']], 'Total HTTP requests.'));
    writer.values[added] = 9;
    flushWrites();

    const second = merger.merge();
    expect(second.problems).toEqual([]);
    expect(second.stats).toMatchObject({ entriesParsed: 1, entries: 7 });
    const text = renderText(second.families);
    expect(text).toContain('http_requests_total{code="404",method="GET"} 9.0\n');
    expect(text).toContain('jobs_total 14.0\n');

    const third = merger.merge();
    expect(third.stats.entriesParsed).toBe(0);
    expect(renderText(third.families)).toBe(text);
  });

  it('re-parses a file replaced under the same name, and forgets files that are gone', () => {
    const dir = tempDirWith('counter_basic');
    const merger = new DirectoryMerger(dir);
    merger.merge();
    // Replace counter_102.db (2 entries) by a copy of counter_101.db (4 entries): a new inode.
    const replacement = path.join(dir, '.replacement');
    fs.copyFileSync(path.join(dir, 'counter_101.db'), replacement);
    fs.renameSync(replacement, path.join(dir, 'counter_102.db'));
    const replaced = merger.merge();
    expect(replaced.stats.entriesParsed).toBe(4);
    expect(renderText(replaced.families)).toBe(
      '# HELP http_requests_total Total HTTP requests.\n# TYPE http_requests_total counter\n' +
        'http_requests_total{code="200",method="GET"} 6.0\nhttp_requests_total{code="500",method="POST"} 1.0\n' +
        'http_requests_total{code="201",method="PUT"} 0.0\n# HELP jobs_total Jobs processed.\n# TYPE jobs_total counter\njobs_total 6.0\n',
    );

    fs.unlinkSync(path.join(dir, 'counter_102.db'));
    const shrunk = merger.merge();
    expect(shrunk.problems).toEqual([]);
    expect(shrunk.stats).toMatchObject({ files: 1, entries: 4, entriesParsed: 0 });
    expect(renderText(shrunk.families)).toContain('http_requests_total{code="200",method="GET"} 3.0\n');
  });

  it('a file that turns corrupt is skipped, and merged again once it is whole', () => {
    const dir = tempDirWith('counter_basic');
    const merger = new DirectoryMerger(dir);
    merger.merge();
    const file = path.join(dir, 'counter_102.db');
    const good = fs.readFileSync(file);
    fs.writeFileSync(file, good.subarray(0, good.length - 8)); // truncated: used now points past the end
    const broken = merger.merge();
    expect(broken.problems).toEqual([{ file: 'counter_102.db', problem: 'corrupt', reason: expect.stringMatching(/used/) }]);
    expect(renderText(broken.families)).toContain('jobs_total 3.0\n');
    fs.writeFileSync(file, good);
    const healed = merger.merge();
    expect(healed.problems).toEqual([]);
    expect(renderText(healed.families)).toBe(expectedText('counter_basic'));
  });

  it('merges again exactly as a fresh merger would, while values, entries, timestamps and files change', () => {
    const dir = tempDirWith();
    const open = (name: string) => MappedFile.open(path.join(dir, name));
    // Sets an entry's value (and timestamp), appending the entry the first time.
    const put = (file: MappedFile, metric: string, sample: string, labels: LabelPairs, value: number, timestamp = 0) => {
      const slot = file.slotFor(encodeKey(metric, sample, labels, `${metric} help`));
      file.values[slot] = value;
      file.values[slot + 1] = timestamp;
    };
    const merger = new DirectoryMerger(dir);
    const check = (accumulate = true) => {
      flushWrites();
      const again = merger.merge({ accumulate });
      const fresh = mergeDir(dir, accumulate);
      expect(renderText(again.families)).toBe(renderText(fresh.families));
      expect(again.problems).toEqual(fresh.problems);
      expect(again.stats.series).toBe(fresh.stats.series);
      return renderText(again.families);
    };

    const c1 = open('counter_1.db');
    const c2 = open('counter_2.db');
    const h1 = open('histogram_1.db');
    const h2 = open('histogram_2.db');
    const recent1 = open('gauge_mostrecent_1.db');
    const recent2 = open('gauge_mostrecent_2.db');
    const min1 = open('gauge_min_1.db');
    const min2 = open('gauge_min_2.db');
    const max1 = open('gauge_max_1.db');
    const max2 = open('gauge_max_2.db');
    put(c1, 'req', 'req_total', [['code', '200']], 1);
    put(c2, 'req', 'req_total', [['code', '500']], 2);
    put(c2, 'req', 'req_total', [['code', '200']], 3);
    put(h1, 'lat', 'lat_sum', [['route', '/a']], 0.5);
    put(h1, 'lat', 'lat_bucket', [['le', '0.1'], ['route', '/a']], 1);
    put(h1, 'lat', 'lat_bucket', [['le', '+Inf'], ['route', '/a']], 2);
    put(h2, 'lat', 'lat_sum', [['route', '/a']], 0.25);
    put(h2, 'lat', 'lat_bucket', [['le', '0.1'], ['route', '/a']], 3);
    put(h2, 'lat', 'lat_bucket', [['le', '+Inf'], ['route', '/a']], 0);
    put(h2, 'lat', 'lat_count', [['route', '/a']], 99); // a foreign writer's _count: replaced by the derived one
    put(recent1, 'temp', 'temp', [['room', 'a']], 20); // timestamp 0: no sample yet
    put(recent1, 'temp', 'temp', [['room', 'b']], 21, 5);
    put(recent2, 'temp', 'temp', [['room', 'b']], 22, 5); // a tie keeps the earlier file's value
    put(min1, 'low', 'low', [], 4);
    put(min2, 'low', 'low', [], 5);
    put(max1, 'high', 'high', [], 4);
    put(max2, 'high', 'high', [], 5);
    expect(check()).toContain('temp{room="b"} 21.0\n');

    // Values change, nothing else: the same plan, new values.
    put(c1, 'req', 'req_total', [['code', '200']], 10);
    put(h1, 'lat', 'lat_bucket', [['le', '0.1'], ['route', '/a']], 4);
    put(min2, 'low', 'low', [], -1);
    put(max1, 'high', 'high', [], NaN); // NaN seen first sticks
    put(recent2, 'temp', 'temp', [['room', 'b']], 23, 6);
    const second = check();
    expect(merger.merge().stats.entriesParsed).toBe(0);
    expect(second).toContain('req_total{code="200"} 13.0\n');
    expect(second).toContain('lat_count{route="/a"} 9.0\n');
    expect(second).toContain('low -1.0\n');
    expect(second).toContain('high NaN\n');
    expect(second).toContain('temp{room="b"} 23.0\n');

    // A mostrecent entry gets its first timestamp: room a appears, and now comes before
    // room b, as in Python (samples are created in file order by entries with a timestamp).
    put(recent1, 'temp', 'temp', [['room', 'a']], 19, 7);
    expect(check()).toContain('temp{room="a"} 19.0\ntemp{room="b"} 23.0\n');
    // Timestamps back to 0 (no writer of ours does that, a foreign one might): room b goes.
    put(recent1, 'temp', 'temp', [['room', 'b']], 21, 0);
    put(recent2, 'temp', 'temp', [['room', 'b']], 23, 0);
    expect(check()).not.toContain('room="b"');

    // New entries: a bound only one file has, a new series, a new family, a bucket with a bad le.
    put(h2, 'lat', 'lat_bucket', [['le', '0.5'], ['route', '/a']], 1);
    put(h2, 'lat', 'lat_sum', [['route', '/b']], 1);
    put(h2, 'lat', 'lat_bucket', [['le', '+Inf'], ['route', '/b']], 1);
    put(h2, 'lat', 'lat_bucket', [['le', 'fast'], ['route', '/b']], 1);
    put(c1, 'jobs', 'jobs_total', [], 1);
    expect(check()).toContain('lat_bucket{le="0.5",route="/a"} 8.0\n');

    // Files come and go; the merge without accumulation and back.
    put(open('counter_3.db'), 'req', 'req_total', [['code', '404']], 1);
    fs.unlinkSync(path.join(dir, 'counter_2.db'));
    check();
    check(false);
    check();
  });
});

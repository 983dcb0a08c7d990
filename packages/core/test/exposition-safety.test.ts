// An exposition Prometheus always parses: a key its text parser would reject (empty names,
// label names equal once escaped, `__name__`, a bad quantile, two metrics with one escaped
// name) is left out and counted, and everything else is served. And the writer refuses,
// at definition time, what could never be exposed, and replaces lone surrogates.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Collector } from '../src/collect/collector.js';
import { DirectoryMerger } from '../src/collect/merge.js';
import { metricName, renderOpenMetrics, renderText } from '../src/collect/exposition.js';
import { buildFileImage } from '../src/format/file-image.js';
import { encodeKey } from '../src/format/key.js';
import { DbFileReader, ReadBuffer } from '../src/format/reader.js';
import { Counter, Gauge, allowUtf8Names, configureStorage } from '../src/index.js';

const tempDirs: string[] = [];
afterEach(() => {
  allowUtf8Names(false);
  configureStorage({});
  for (const dir of tempDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'expo-safety-'));
  tempDirs.push(dir);
  return dir;
}

type Key = [metric: string, sample: string, labels: Array<[string, string]>, value: number];

function writeFile(file: string, keys: Key[]): void {
  const entries = keys.map(([metric, sample, labels, value]) => ({
    key: encodeKey(metric, sample, [...labels].sort((a, b) => (a[0] < b[0] ? -1 : 1)), `${metric} help`),
    value,
    timestamp: 0,
  }));
  fs.writeFileSync(file, buildFileImage(entries));
}

/** promtool's verdict: exit 1 is a parse error; 3 is only lint (e.g. no help text); 0 clean. */
function promtool(body: string): { parses: boolean; output: string } {
  const run = spawnSync('promtool', ['check', 'metrics'], { input: body, encoding: 'utf8' });
  if (run.error) throw run.error;
  return { parses: run.status === 0 || run.status === 3, output: `${run.stdout}${run.stderr}` };
}

const GOOD: Key[] = [
  ['good', 'good_total', [['route', '/']], 5],
  ['good', 'good_total', [['route', '/a']], 7],
];

describe('merged output always parses', () => {
  it('leaves out keys Prometheus cannot parse, serves the rest, counts them', async () => {
    const dir = tempDir();
    writeFile(path.join(dir, 'counter_1.db'), [
      ...GOOD,
      // Our own writer produced this one on main: allowUtf8Names() and labels a-b, a_b.
      ['esc', 'esc_total', [['a-b', '1'], ['a_b', '2']], 1],
      ['', '_total', [], 1],
      ['emptylabel', 'emptylabel_total', [['', 'x']], 1],
      ['reserved', 'reserved_total', [['__name__', 'x']], 1],
      ['nosample', '', [], 1],
    ]);
    writeFile(path.join(dir, 'summary_1.db'), [
      ['lat', 'lat', [['quantile', 'half']], 1],
      ['lat', 'lat_sum', [], 2],
    ]);
    const logs: string[] = [];
    const collector = new Collector({ directory: dir, log: (m) => logs.push(m) });
    const { body } = await collector.scrape();
    const check = promtool(body);
    expect(check.output).not.toMatch(/parsing error/);
    expect(check.parses).toBe(true);
    expect(body).toContain('good_total{route="/"} 5.0\n');
    expect(body).toContain('good_total{route="/a"} 7.0\n');
    expect(body).toContain('lat_sum 2.0\n');
    expect(body).not.toMatch(/^esc_total/m);
    expect(body).not.toContain('half');
    // 4 entries of counter_1.db, 1 of summary_1.db, plus the family with an empty name (1 sample).
    expect(body).toMatch(/^prom_multiproc_entries_skipped_total\{reason="unexposable"\} 6\.0$/m);
    expect(logs.some((m) => m.includes('counter_1.db') && m.includes('"a-b" and "a_b" are both "a_b"'))).toBe(true);
    // Counted per scrape, like skipped files.
    const second = (await collector.scrape()).body;
    expect(second).toMatch(/^prom_multiproc_entries_skipped_total\{reason="unexposable"\} 12\.0$/m);
    // OpenMetrics too.
    const om = renderOpenMetrics((await new DirectoryMerger(dir).merge()).families);
    expect(om).not.toMatch(/^esc_total/m);
    expect(om).toContain('good_total{route="/"} 5.0\n');
  });

  it('two metrics with one escaped name: the first in merge order is served, the later one counted', async () => {
    const dir = tempDir();
    writeFile(path.join(dir, 'gauge_all_1.db'), [
      ['req.count', 'req.count', [], 1],
      ['req_count', 'req_count', [], 2],
    ]);
    writeFile(path.join(dir, 'counter_1.db'), [
      ['req', 'req_total', [], 9],
      ...GOOD,
    ]);
    writeFile(path.join(dir, 'gauge_all_2.db'), [['req_total', 'req_total', [], 4]]);
    const logs: string[] = [];
    const { body } = await new Collector({ directory: dir, log: (m) => logs.push(m) }).scrape();
    expect(promtool(body).output).not.toMatch(/parsing error/);
    expect(promtool(body).parses).toBe(true);
    expect(body.match(/^# TYPE req_count /gm)).toHaveLength(1);
    expect(body.match(/^# TYPE req_total /gm)).toHaveLength(1);
    expect(body).toContain('req_total 9.0\n'); // counter_1.db comes first in name order
    expect(body).not.toContain('req_total{pid="2"}');
    expect(body).toContain('req_count{pid="1"} 1.0\n');
    expect(body).not.toContain('req_count{pid="1"} 2.0');
    expect(body).toContain('good_total{route="/a"} 7.0\n');
    expect(body).toMatch(/^prom_multiproc_entries_skipped_total\{reason="name-collision"\} 2\.0$/m);
    expect(logs.some((m) => m.includes('"req_count"') && m.includes('name-collision'))).toBe(true);
  });

  it('a merged metric named like a self-metric is left out, not served twice', async () => {
    const dir = tempDir();
    writeFile(path.join(dir, 'gauge_all_1.db'), [['prom_multiproc_scrapes_total', 'prom_multiproc_scrapes_total', [], 1e6]]);
    writeFile(path.join(dir, 'counter_1.db'), GOOD);
    const { body } = await new Collector({ directory: dir, log: () => {} }).scrape();
    expect(promtool(body).output).not.toMatch(/parsing error/);
    expect(body.match(/^# HELP prom_multiproc_scrapes_total /gm)).toHaveLength(1);
    expect(body).toMatch(/^prom_multiproc_scrapes_total 1\.0$/m);
    expect(body).toMatch(/^prom_multiproc_entries_skipped_total\{reason="name-collision"\} 1\.0$/m);
    expect(body).toContain('good_total{route="/a"} 7.0\n');
  });

  it('a histogram whose sample names collide with an earlier gauge is left out', async () => {
    const dir = tempDir();
    writeFile(path.join(dir, 'histogram_1.db'), [
      ['lat', 'lat_sum', [], 3],
      ['lat', 'lat_bucket', [['le', '+Inf']], 1],
    ]);
    writeFile(path.join(dir, 'gauge_all_1.db'), [['lat_count', 'lat_count', [], 99]]);
    const body = renderText((new DirectoryMerger(dir).merge()).families);
    expect(promtool(body).parses).toBe(true);
    // gauge_all_1.db comes before histogram_1.db: the gauge keeps `lat_count`.
    expect(body).toContain('lat_count{pid="1"} 99.0\n');
    expect(body).not.toMatch(/^lat_sum/m);
    expect(body).not.toMatch(/^# TYPE lat histogram/m);
  });
});

describe('escaped metric names', () => {
  it('are right for every name, also past the names kept (the cache starts over)', () => {
    // Kept by name: 4,096 names, then the cache is cleared; each answer must stay the escaping.
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 5000; i++) {
        expect(metricName(`m${i}_total`)).toBe(`m${i}_total`);
        if (i % 97 === 0) expect(metricName(`m.${i}-x`)).toBe(`m_${i}_x`);
      }
    }
    expect(metricName('9lives')).toBe('_lives');
    expect(metricName('a:b')).toBe('a:b');
  });
});

describe('the writer refuses what could never be exposed', () => {
  it('label names equal once escaped are an error at definition time', () => {
    allowUtf8Names();
    expect(() => new Counter({ name: 'esc_total', help: 'h', labelNames: ['a-b', 'a_b'], registers: [] }))
      .toThrow(/esc_total.*"a-b" and "a_b" are both "a_b" once escaped/);
    expect(() => new Counter({ name: 'esc2_total', help: 'h', labelNames: ['__name__'], registers: [] })).toThrow(/reserved/);
    expect(() => new Counter({ name: 'esc3_total', help: 'h', labelNames: ['a-b', 'c'], registers: [] })).not.toThrow();
  });

  it('a lone surrogate in a label value or help becomes U+FFFD when the label set is resolved', () => {
    const dir = tempDir();
    configureStorage({ directory: dir, processId: '31' });
    const c = new Counter({ name: 'paths_total', help: 'bad \ud800 help', labelNames: ['path'], registers: [] });
    c.inc({ path: '/x\ud800' });
    c.labels('/x\udfff').inc(); // another lone surrogate: the same series once replaced
    c.inc({ path: '/ok' });
    const reader = new DbFileReader(path.join(dir, 'counter_31.db'), {});
    const keys: string[] = [];
    const r2 = new DbFileReader(path.join(dir, 'counter_31.db'), { onKey: (buf, start, end) => keys.push(buf.toString('utf8', start, end)) });
    expect(r2.read(new ReadBuffer()).ok).toBe(true);
    expect(reader.read(new ReadBuffer()).ok).toBe(true);
    expect(keys).toHaveLength(2);
    for (const key of keys) {
      // Python's json.loads of a \ud800 escape gives a str that cannot be encoded: none may be left.
      expect(key).not.toMatch(/\\ud[89a-f][0-9a-f]{2}/);
      expect(key).toContain('\\ufffd');
    }
    expect(r2.values[0]).toBe(2);
    const body = renderText(new DirectoryMerger(dir).merge().families);
    expect(body).toContain('paths_total{path="/x\ufffd"} 2.0\n');
    expect(promtool(body).parses).toBe(true);
  });

  it('a lone surrogate in a process label is a configuration error', () => {
    expect(() => configureStorage({ directory: tempDir(), processId: '32', labels: { app: 'a\udc00' } })).toThrow(/lone surrogate/);
  });

  it('the hot path is unchanged: a cached child never re-checks (same series object)', () => {
    configureStorage({ directory: tempDir(), processId: '33' });
    const g = new Gauge({ name: 'hot', help: 'h', labelNames: ['v'], registers: [] });
    const child = g.labels('x\ud800');
    expect(g.labels('x\ud800')).toBe(child);
    expect(g.labels('x\ufffd')).toBe(child);
  });
});

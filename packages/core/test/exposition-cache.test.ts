// The scrape renderer that reuses the previous output's unchanged lines
// (collect/exposition-cache.ts): its bytes must equal a fresh render's after every change
// of values, lines and families; a line served from the previous output with a value
// that has changed since would be a wrong value on the wire.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { Collector, DirectoryMerger, renderOpenMetrics, renderText, type Family, type Sample } from '../src/index.js';
import { CachedExposition } from '../src/collect/exposition-cache.js';
import { labelsText, linePrefix, metricName, samplePrefix, sampleValues } from '../src/collect/exposition.js';
import { GzipParts } from '../src/serve/gzip-parts.js';
import { encodeKey, type LabelPairs } from '../src/format/key.js';
import { MappedFile } from '../src/format/mapped-file.js';
import { FIXTURES, fixtureNames, flushWrites, tempDir } from './helpers/fixtures.js';
import { seededRandom } from './helpers/seeded-random.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** Values whose rendering is easy to get wrong, and transitions between them (same length, other length, -0 and 0, NaN to NaN). */
const TRICKY = [
  1, 2, 12345, 3, 3, NaN, NaN, Infinity, -Infinity, -0, 0, -0, -0, 2 ** 53, 2 ** 53 + 2, 2 ** 60, -(2 ** 53 + 2),
  1e21, 1e21 + 2 ** 20, 1e20, 999999.5, 999999, 1e6, 1e6 + 1, 1e-4, 1e-5, 0.1 + 0.2, 0.30000000000000004, -1e16,
  -9999999999999998, 5e-324, Number.MAX_VALUE, 1e10, 1e15, 1e16, 7, 7, 8,
];

/** A sample as a merge keeps it: with its prefix's two parts rendered once. */
const kept = (name: string, labels: LabelPairs, value = 0): Sample => ({ name, labels, value, lineName: metricName(name), lineLabels: labelsText(labels) });

/** Renders with `cached` and checks the bytes against the stateless renderers. */
function renderBoth(cached: CachedExposition, families: Family[], openMetrics: boolean, exemplars?: Map<string, string>): string {
  const bytes = cached.render(families, exemplars);
  const expected = openMetrics ? renderOpenMetrics(families, exemplars) : renderText(families);
  expect(bytes.toString('utf8')).toBe(expected);
  expect(bytes.equals(Buffer.from(expected, 'utf8'))).toBe(true);
  // Parts end at line ends, in order, inside the output (the server's gzip cuts there).
  let last = 0;
  for (const end of cached.partEnds) {
    expect(end).toBeGreaterThan(last);
    expect(end).toBeLessThanOrEqual(bytes.length);
    expect(bytes[end - 1]).toBe(0x0a);
    last = end;
  }
  return expected;
}

/**
 * Each part the renderer says is unchanged has the bytes of `before`, and the server's gzip,
 * told the same, compresses the whole output to what `expected` says.
 */
function expectPartsAsTold(text: CachedExposition, gzip: GzipParts, bytes: Buffer, before: Buffer, expected: string): void {
  for (let p = 0; p <= text.partEnds.length; p++) {
    const from = p === 0 ? 0 : text.partEnds[p - 1];
    const end = p === text.partEnds.length ? bytes.length : text.partEnds[p];
    if (text.unchanged(from, end)) expect(bytes.subarray(from, end).equals(before.subarray(from, end))).toBe(true);
  }
  expect(zlib.gunzipSync(gzip.compress(bytes, text.partEnds, text)).toString('utf8')).toBe(expected);
}

/** A deterministic pseudo-random sequence (the same run every time). */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('CachedExposition', () => {
  // As merge.test.ts: old_format_single_entry's expected.txt is Python's, whose reader accepts a file ours rejects.
  it.each(fixtureNames().filter((name) => fs.existsSync(path.join(FIXTURES, name, 'expected.txt')) && name !== 'old_format_single_entry'))(
    'renders %s byte for byte as Python does, first and again',
    (name) => {
      const merger = new DirectoryMerger(path.join(FIXTURES, name));
      const expected = fs.readFileSync(path.join(FIXTURES, name, 'expected.txt'));
      const text = new CachedExposition(false);
      const openMetrics = new CachedExposition(true);
      for (let round = 0; round < 3; round++) {
        const families = merger.merge().families;
        expect(text.render(families).equals(expected)).toBe(true);
        expect(openMetrics.render(families).toString('utf8')).toBe(renderOpenMetrics(families));
      }
    },
  );

  it('never serves a stale value: every value change shows, whatever its length or kind', () => {
    const samples = Array.from({ length: 12 }, (_, i) => kept('g', [['i', String(i)]]));
    const families: Family[] = [
      { name: 'g', help: 'g help', type: 'gauge', samples },
      { name: 'c', help: 'c help', type: 'counter', samples: [kept('c_total', [], 1)] },
    ];
    const text = new CachedExposition(false);
    const openMetrics = new CachedExposition(true);
    for (let step = 0; step < TRICKY.length * 2; step++) {
      // Each sample walks through the values at its own offset; some stay, some change.
      samples.forEach((sample, i) => {
        sample.value = TRICKY[(step + (i % 3 === 0 ? 0 : i)) % TRICKY.length];
      });
      renderBoth(text, families, false);
      renderBoth(openMetrics, families, true);
    }
    // Spot checks of the exact text for values next to the boundaries.
    const check = (value: number, line: string) => {
      samples[5].value = value;
      expect(renderBoth(text, families, false)).toContain(`g{i="5"} ${line}\n`);
    };
    check(0, '0.0');
    check(-0, '-0.0');
    check(0, '0.0');
    check(2 ** 53 + 2, '9.007199254740994e+15');
    check(-(2 ** 53 + 2), '-9007199254740994.0');
    check(1e21, '1e+21');
    check(1e20, '1e+20');
    check(NaN, 'NaN');
    check(NaN, 'NaN');
    check(1, '1.0');
  });

  it('writes every changed value of a merged family (values kept as numbers) as a fresh render does', () => {
    // A merged family's changed values are written as bytes (whole numbers digit by digit):
    // the boundaries of that path, and every transition between them, in both signs.
    const values = [
      ...TRICKY, 0.5, 1, 9, 10, 99, 100, 999, 1000, 99999, 100000, 999999, 1e6, 1e6 - 0.5, -1, -9, -10, -999999, -1e6, -1e6 + 1,
      2 ** 31 - 1, 2 ** 31, 2 ** 32 + 5, -(2 ** 31), 1 - 2 ** -52, 1 + 2 ** -52, 123.0, 4, 4, -4,
    ];
    const samples = Array.from({ length: 40 }, (_, i) => kept('g', [['i', String(i)]]));
    const numbers = new Float64Array(samples.length);
    sampleValues.set(samples, numbers);
    const families: Family[] = [{ name: 'g', help: 'g help', type: 'gauge', samples }];
    const text = new CachedExposition(false);
    const openMetrics = new CachedExposition(true);
    for (let step = 0; step < values.length * 2; step++) {
      samples.forEach((sample, i) => {
        numbers[i] = sample.value = values[(step * (1 + (i % 5)) + i) % values.length];
      });
      renderBoth(text, families, false);
      renderBoth(openMetrics, families, true);
    }
  });

  it('keeps one buffer: renders over the previous output in it while the output fits, a new one only when it outgrows it', () => {
    const samples = Array.from({ length: 3000 }, (_, i) => kept('g', [['i', String(i)]], i % 10));
    const families: Family[] = [{ name: 'g', help: 'g help', type: 'gauge', samples }];
    const text = new CachedExposition(false);
    const render = () => {
      const bytes = text.render(families);
      expect(bytes.toString('utf8')).toBe(renderText(families));
      return bytes.buffer;
    };
    const memory = render();
    const steps: Array<(i: number) => void> = [
      (i) => void (samples[i].value = i % 10 === 9 ? 10 : samples[i].value), // some lines one byte longer: the rest moves right
      (i) => void (samples[i].value = i % 7 === 0 ? 123456 : 1), // longer and shorter lines mixed
      () => undefined, // nothing changed
      (i) => void (samples[i].value = i % 2 === 0 ? 1e21 + i : 2), // every other line longer, the others shorter
      (i) => void (samples[i].value = 0), // all shorter: everything moves left
    ];
    for (const step of steps) {
      samples.forEach((_, i) => step(i));
      expect(render()).toBe(memory);
    }
    // A few lines more, in the first family: still in place.
    samples.splice(10, 0, ...Array.from({ length: 5 }, (_, i) => kept('g', [['i', `new${i}`]], 7)));
    expect(render()).toBe(memory);
    // Twice the lines: the output outgrows the buffer, renders into a new one, and stays there.
    samples.push(...Array.from({ length: 3000 }, (_, i) => kept('g', [['i', `more${i}`]], i)));
    const grown = render();
    expect(grown).not.toBe(memory);
    samples.forEach((sample, i) => void (sample.value = i % 3));
    expect(render()).toBe(grown);
  });

  it("tells the server's gzip which bytes changed: a part whose lines moved, at the same offsets, is compressed again", () => {
    // Lines of one length: with one line gone, the first part (256 lines) has the same
    // start and end as before, but its lines from there on moved (no line was rendered anew).
    const samples = Array.from({ length: 600 }, (_, i) => kept('g', [['i', String(1000 + i)]], 1));
    const families: Family[] = [{ name: 'g', help: 'g help', type: 'gauge', samples }];
    const text = new CachedExposition(false);
    const gzip = new GzipParts();
    const serve = () => {
      const bytes = text.render(families);
      expect(bytes.toString('utf8')).toBe(renderText(families));
      expect(zlib.gunzipSync(gzip.compress(bytes, text.partEnds, text)).toString('utf8')).toBe(renderText(families));
      return [...text.partEnds];
    };
    const ends = serve();
    expect(serve()).toEqual(ends);
    samples.splice(100, 1);
    expect(serve()[0]).toBe(ends[0]);
    samples.splice(300, 0, kept('g', [['i', '0000']], 1)); // a line back, in another place
    serve();
  });

  it("tells the server's gzip every byte a merged family's changed values wrote, of the same length or not", () => {
    // A value as long as the one it replaces is written over the copied line after the
    // copies: those bytes must count as changed, or the gzip would serve the old ones.
    const next = random(27);
    const samples = Array.from({ length: 700 }, (_, i) => kept('h_bucket', [['le', String(i)]], 1 + i));
    const numbers = new Float64Array(samples.map((sample) => sample.value));
    sampleValues.set(samples, numbers);
    const families: Family[] = [
      { name: 'h', help: 'h help', type: 'histogram', samples },
      { name: 'c', help: 'c help', type: 'counter', samples: [kept('c_total', [], 1)] },
    ];
    const text = new CachedExposition(false);
    const gzip = new GzipParts();
    let before = Buffer.from(text.render(families));
    for (let step = 0; step < 60; step++) {
      // Some values unchanged, most as long as before (+1 within a decade), some longer or shorter.
      const share = step % 3 === 0 ? 0.02 : 0.9;
      samples.forEach((sample, i) => {
        const r = next();
        if (r >= share) return;
        numbers[i] = sample.value = r < share * 0.8 ? sample.value + (sample.value % 10 === 9 ? -1 : 1) : r < share * 0.9 ? sample.value * 10 : 1 + (i % 7);
      });
      const bytes = text.render(families);
      const expected = renderText(families);
      expect(bytes.toString('utf8')).toBe(expected);
      expectPartsAsTold(text, gzip, bytes, before, expected);
      before = Buffer.from(bytes);
    }
  });

  it('moves a value written over its line in place with the line, and later copies of the line show it', () => {
    // In place, a changed value as long as the one shown is written over the line in the
    // previous output before the copies; a line after a longer value moves, and its copy
    // must carry the new value. The next render copies the lines from there out of order.
    const h = Array.from({ length: 600 }, (_, i) => kept('h_bucket', [['le', String(i)]], 1000 + 5 * i));
    const hValues = new Float64Array(h.map((sample) => sample.value));
    sampleValues.set(h, hValues);
    const g = Array.from({ length: 300 }, (_, i) => kept('g', [['i', String(i)]], 5));
    const gValues = new Float64Array(g.map((sample) => sample.value));
    sampleValues.set(g, gValues);
    const hFamily: Family = { name: 'h', help: 'h help', type: 'histogram', samples: h };
    const gFamily: Family = { name: 'g', help: 'g help', type: 'gauge', samples: g };
    const text = new CachedExposition(false);
    const gzip = new GzipParts();
    let before = Buffer.from(renderBoth(text, [hFamily, gFamily], false));
    gzip.compress(before, text.partEnds, text);
    for (let step = 1; step <= 6; step++) {
      // Every line of h's first part one more within its decade (written over lines that do
      // not move); after it every third line one digit longer, the others one more; g's values +1.
      h.forEach((sample, i) => {
        hValues[i] = sample.value = i >= 300 && i % 3 === step % 3 ? sample.value * 10 : sample.value + 1;
      });
      g.forEach((sample, i) => {
        gValues[i] = sample.value = sample.value + 1;
      });
      const bytes = text.render([hFamily, gFamily]);
      const expected = renderText([hFamily, gFamily]);
      expect(bytes.toString('utf8')).toBe(expected);
      expectPartsAsTold(text, gzip, bytes, before, expected);
      // The same values, the families in the other order: every line copied from the output above.
      renderBoth(text, [gFamily, hFamily], false);
      before = Buffer.from(renderBoth(text, [hFamily, gFamily], false));
      gzip.compress(before, text.partEnds, text);
    }
  });

  it('equals a fresh render while lines are added, removed and moved, families come and go', () => {
    const next = random(15);
    const pool = Array.from({ length: 400 }, (_, i) => kept(`m${i % 7}`, [['k', `v${i}`], ['z', 'é'.repeat(i % 3)]]));
    const text = new CachedExposition(false);
    const openMetrics = new CachedExposition(true);
    let families: Family[] = [];
    for (let step = 0; step < 300; step++) {
      const action = next();
      if (step === 0 || action < 0.1) {
        // A new plan: families and sample order built anew.
        families = Array.from({ length: 1 + Math.floor(next() * 6) }, (_, f) => ({
          name: `m${f}`, help: `help ${f}`, type: 'gauge' as const,
          samples: pool.filter((s) => s.name === `m${f}` && next() < 0.8),
        }));
      } else if (action < 0.3 && families.length > 0) {
        // A sample added or removed somewhere.
        const family = families[Math.floor(next() * families.length)];
        const candidates = pool.filter((s) => s.name === family.name && !family.samples.includes(s));
        if (next() < 0.5 && candidates.length > 0) family.samples.splice(Math.floor(next() * (family.samples.length + 1)), 0, candidates[0]);
        else family.samples.splice(Math.floor(next() * family.samples.length), 1);
      } else if (action < 0.35 && families.length > 1) {
        families.splice(Math.floor(next() * families.length), 1); // a family gone
      } else if (action < 0.4) {
        families.reverse(); // every line moved
      }
      // Some values change, most stay.
      for (const family of families) {
        for (const sample of family.samples) if (next() < 0.05) sample.value = TRICKY[Math.floor(next() * TRICKY.length)];
      }
      // Samples without a kept prefix (self-metrics) are rendered fresh each time.
      const self: Family = { name: 'self', help: 'self', type: 'counter', samples: [{ name: 'self_total', labels: [], value: step }] };
      renderBoth(text, [...families, self], false);
      renderBoth(openMetrics, [...families, self], true);
    }
  });

  it('writes non-ASCII lines at the right byte offsets across large fresh writes', () => {
    // More than one chunk of fresh text (64 Ki characters), with multi-byte characters.
    const samples = Array.from({ length: 3000 }, (_, i) => kept('u', [['route', `/日本語/😀/${i}`], ['ß', 'ü'.repeat(i % 5)]], i));
    const families: Family[] = [{ name: 'u', help: 'Größe', type: 'gauge', samples }];
    const text = new CachedExposition(false);
    renderBoth(text, families, false);
    for (let step = 1; step < 6; step++) {
      for (let i = step; i < samples.length; i += 7 * step) samples[i].value = i * step + 0.5;
      renderBoth(text, families, false);
    }
  });

  it('renders a line again when only its exemplar changed (OpenMetrics)', () => {
    const sample = kept('c_total', [['a', 'b']], 3);
    const families: Family[] = [{ name: 'c', help: 'h', type: 'counter', samples: [sample, kept('c_total', [['a', 'c']], 4)] }];
    const openMetrics = new CachedExposition(true);
    const exemplar = (id: string) => new Map([[linePrefix(sample), ` # {trace_id="${id}"} 1.0 1.5`]]);
    expect(renderBoth(openMetrics, families, true, exemplar('aaa'))).toContain('c_total{a="b"} 3.0 # {trace_id="aaa"} 1.0 1.5\n');
    expect(renderBoth(openMetrics, families, true, exemplar('bbb'))).toContain('c_total{a="b"} 3.0 # {trace_id="bbb"} 1.0 1.5\n');
    expect(renderBoth(openMetrics, families, true)).toContain('c_total{a="b"} 3.0\n');
  });

  it('starts over after a render that failed half way', () => {
    const samples = [kept('g', [['i', '1']], 1), kept('g', [['i', '2']], 2)];
    const families: Family[] = [{ name: 'g', help: 'h', type: 'gauge', samples }];
    const text = new CachedExposition(false);
    renderBoth(text, families, false);
    samples[0].value = 10;
    const broken = [...families, { name: 'x', help: 'h', type: 'gauge', samples: null } as unknown as Family];
    expect(() => text.render(broken)).toThrow();
    samples[1].value = 20;
    renderBoth(text, families, false);
  });
});

describe('a collector scraping files whose values change', () => {
  it('serves every new value of a real file, and the same bytes a fresh collector serves', async () => {
    const dir = tempDir('cached-render-');
    dirs.push(dir);
    const file = MappedFile.open(path.join(dir, 'gauge_all_1.db'));
    const slots = Array.from({ length: 10 }, (_, i) => file.slotFor(encodeKey('g', 'g', [['i', String(i)]], 'g help')));
    const counter = MappedFile.open(path.join(dir, 'counter_1.db'));
    const total = counter.slotFor(encodeKey('jobs', 'jobs_total', [], 'Jobs.'));
    const collector = new Collector({ directory: dir, log: () => {} });
    const merged = (body: string) => body.slice(0, body.indexOf('# HELP prom_multiproc_'));
    try {
      for (let step = 0; step < TRICKY.length; step++) {
        slots.forEach((slot, i) => {
          if (i % 2 === 0 || step % 3 === 0) file.values[slot] = TRICKY[(step + i) % TRICKY.length];
        });
        counter.values[total] = step * 1000;
        if (step === 20) slots.push(file.slotFor(encodeKey('g', 'g', [['i', 'new']], 'g help'))); // a new series: a new plan
        flushWrites();
        const scrape = await collector.scrape('text');
        expect(scrape.bytes.equals(Buffer.from(scrape.body, 'utf8'))).toBe(true);
        const fresh = await new Collector({ directory: dir, log: () => {} }).scrape('text');
        expect(merged(scrape.body)).toBe(merged(fresh.body));
        expect(scrape.body).toContain(`jobs_total ${step * 1000}.0\n`);
        const openMetrics = await collector.scrape('openmetrics');
        expect(merged(openMetrics.body)).toBe(merged((await new Collector({ directory: dir, log: () => {} }).scrape('openmetrics')).body));
        expect(openMetrics.body.endsWith('# EOF\n')).toBe(true);
      }
      // A scrape's bytes are its own: later scrapes, which render into the renderer's two
      // buffers in turn, leave them (and the body decoded from them later) as they were.
      const kept = await collector.scrape('text');
      const text = kept.bytes.toString('utf8');
      for (let i = 0; i < 4; i++) await collector.scrape('text');
      expect(kept.bytes.toString('utf8')).toBe(text);
      expect(kept.body).toBe(text);
    } finally {
      file.close();
      counter.close();
    }
  });
});

describe('a long-lived merger and renderers, after every change, against a fresh merger', () => {
  // A merge keeps each family's values as numbers (sampleValues) and writes only changed
  // values into its sample objects; the renderer copies a known family's lines whose value
  // did not change. Each step here changes something a real directory sees between two
  // scrapes, then checks the long-lived side's bytes (text and OpenMetrics, their parts
  // and their gzip) and its sample objects against a fresh merger's: a value that changed
  // without its line changing, or a sample object left behind, fails.
  it('values, timestamps of mostrecent gauges, new series, a file gone and back, exemplars', () => {
    const dir = tempDir('cached-merge-');
    dirs.push(dir);
    const next = seededRandom(1515);
    const files = new Map<string, MappedFile>();
    const open = (name: string) => {
      let file = files.get(name);
      if (!file) files.set(name, (file = MappedFile.open(path.join(dir, name))));
      return file;
    };
    const gone = new Set<string>();
    // Every entry written, to change later.
    const entries: Array<{ file: string; key: string; slot: number; recent: boolean }> = [];
    const add = (file: string, metric: string, sample: string, labels: LabelPairs, help: string) => {
      const key = encodeKey(metric, sample, labels, help);
      if (gone.has(file)) {
        entries.push({ file, key, slot: -1, recent: false }); // written when the file is back
        return;
      }
      const slot = open(file).slotFor(key);
      entries.push({ file, key, slot, recent: file.includes('mostrecent') });
      open(file).values[slot] = 1 + Math.floor(next() * 9);
      if (file.includes('mostrecent')) open(file).values[slot + 1] = 1 + next();
    };
    let series = 0;
    const addSeries = () => {
      const i = series++;
      const route = [['route', `/r${i}`]] as LabelPairs;
      for (const pid of ['1', '2']) {
        add(`counter_${pid}.db`, 'jobs', 'jobs_total', route, 'Jobs.');
        add(`histogram_${pid}.db`, 'lat', 'lat_sum', route, 'Latency.');
        for (const le of ['0.5', '1.0', '+Inf']) add(`histogram_${pid}.db`, 'lat', 'lat_bucket', [...route, ['le', le]], 'Latency.');
        add(`gauge_mostrecent_${pid}.db`, 'temp', 'temp', route, 'Temperature.');
        add(`gauge_max_${pid}.db`, 'peak', 'peak', route, 'Peak.');
        add(`gauge_all_${pid}.db`, 'up', 'up', route, 'Up.');
      }
    };
    // More than one part (256 lines) per family for the histogram.
    for (let i = 0; i < 70; i++) addSeries();
    const merger = new DirectoryMerger(dir);
    const text = new CachedExposition(false);
    const openMetrics = new CachedExposition(true);
    // One per renderer, as the server has: each reuses the parts its renderer did not change.
    const gzip = new Map([[text, new GzipParts()], [openMetrics, new GzipParts()]]);
    let exemplars = new Map<string, string>();
    const changes = { values: 0, timestamps: 0, series: 0, fileGone: 0, exemplars: 0 };
    try {
      for (let step = 0; step < 120; step++) {
        const action = next();
        if (step > 0 && action < 0.08) {
          // A new series (the plan places it), while values of known samples go to 0.
          addSeries();
          for (const entry of entries) if (files.has(entry.file) && next() < 0.1) files.get(entry.file)!.values[entry.slot] = 0;
          changes.series++;
        } else if (step > 0 && action < 0.14) {
          // A file gone (its process folded: its samples leave), later written again from
          // nothing, its keys in another order.
          const name = 'gauge_all_2.db';
          const own = entries.filter((entry) => entry.file === name);
          if (!gone.has(name)) {
            gone.add(name);
            files.get(name)!.close();
            files.delete(name);
            fs.rmSync(path.join(dir, name));
            changes.fileGone++;
          } else {
            gone.delete(name);
            for (const entry of own.reverse()) open(name).values[(entry.slot = open(name).slotFor(entry.key))] = step;
          }
        } else if (step > 0 && action < 0.3) {
          // Only timestamps of mostrecent gauges: the other process's value may win now.
          for (const entry of entries) if (entry.recent && next() < 0.2) files.get(entry.file)!.values[entry.slot + 1] = 1 + next();
          changes.timestamps++;
        } else if (step > 0 && action < 0.42) {
          // An exemplar on a counter line appears, changes or goes.
          const prefix = samplePrefix('jobs_total', [['route', `/r${Math.floor(next() * 3)}`]]);
          exemplars = new Map(exemplars);
          if (exemplars.has(prefix) && next() < 0.5) exemplars.delete(prefix);
          else exemplars.set(prefix, ` # {trace_id="${step}"} 1.0`);
          changes.exemplars++;
        } else if (step > 0) {
          // A share of the values, some to values that render the same length, -0, NaN.
          const share = next() < 0.3 ? 0.01 : 0.2;
          for (const entry of entries) {
            const file = files.get(entry.file);
            if (file !== undefined && next() < share) file.values[entry.slot] = next() < 0.3 ? TRICKY[Math.floor(next() * TRICKY.length)] : Math.floor(next() * 100);
          }
          changes.values++;
        }
        flushWrites();
        const families = merger.merge().families;
        const fresh = new DirectoryMerger(dir).merge().families;
        // The sample objects hold this merge's values (only changed ones were written).
        expect(renderText(families)).toBe(renderText(fresh));
        for (const [renderer, openMetricsFormat] of [[text, false], [openMetrics, true]] as const) {
          const bytes = renderer.render(families, openMetricsFormat ? exemplars : undefined);
          const expected = openMetricsFormat ? renderOpenMetrics(fresh, exemplars) : renderText(fresh);
          expect(bytes.toString('utf8')).toBe(expected);
          // The same parts a first render of the same lines has.
          const first = new CachedExposition(openMetricsFormat);
          first.render(fresh, openMetricsFormat ? exemplars : undefined);
          expect(renderer.partEnds).toEqual(first.partEnds);
          expect(zlib.gunzipSync(gzip.get(renderer)!.compress(bytes, renderer.partEnds, renderer)).equals(bytes)).toBe(true);
        }
      }
      // Every kind of change happened, more than once.
      for (const count of Object.values(changes)) expect(count).toBeGreaterThan(1);
    } finally {
      for (const file of files.values()) file.close();
    }
  });

  it('renders a known family line by line again while it has, or just had, an exemplar (OpenMetrics)', () => {
    const dir = tempDir('cached-exemplar-');
    dirs.push(dir);
    const counter = MappedFile.open(path.join(dir, 'counter_1.db'));
    const slots = Array.from({ length: 4 }, (_, i) => counter.slotFor(encodeKey('a', 'a_total', [['i', String(i)]], 'A.')));
    const other = counter.slotFor(encodeKey('b', 'b_total', [], 'B.'));
    try {
      slots.forEach((slot, i) => (counter.values[slot] = i));
      counter.values[other] = 7;
      flushWrites();
      const merger = new DirectoryMerger(dir);
      const openMetrics = new CachedExposition(true);
      const on = (i: number, id: string) => new Map([[samplePrefix('a_total', [['i', String(i)]]), ` # {trace_id="${id}"} 1.0`]]);
      // Known, no exemplar; an exemplar appears; changes; goes (nothing else changes); another on b only.
      for (const exemplars of [undefined, undefined, on(1, 'x'), on(1, 'y'), on(2, 'y'), undefined, undefined, new Map([[samplePrefix('b_total', []), ' # {} 2.0']]), new Map()]) {
        const families = merger.merge().families;
        expect(openMetrics.render(families, exemplars).toString('utf8')).toBe(renderOpenMetrics(new DirectoryMerger(dir).merge().families, exemplars));
      }
    } finally {
      counter.close();
    }
  });

  it('takes the lines of a known family only from where the previous output still has them', () => {
    // Families in an order no merge gives (one twice), so that the second A's lines in the
    // previous output were overwritten by the first A's, moved by a longer value.
    const dir = tempDir('cached-moved-');
    dirs.push(dir);
    const counter = MappedFile.open(path.join(dir, 'counter_1.db'));
    const slots = Array.from({ length: 5 }, (_, i) => counter.slotFor(encodeKey('a', 'a_total', [['i', String(i)]], 'A.')));
    const gauge = MappedFile.open(path.join(dir, 'gauge_all_1.db'));
    gauge.values[gauge.slotFor(encodeKey('b', 'b', [], 'B.'))] = 2;
    gauge.values[gauge.slotFor(encodeKey('c', 'c', [], 'C.'))] = 3;
    try {
      slots.forEach((slot, i) => (counter.values[slot] = i));
      flushWrites();
      const merger = new DirectoryMerger(dir);
      const [a, b, c] = merger.merge().families;
      const text = new CachedExposition(false);
      renderBoth(text, [a, b], false);
      counter.values[slots[0]] = 123456789;
      flushWrites();
      merger.merge();
      renderBoth(text, [a, c, a], false);
      renderBoth(text, [c, a, b, a], false);
    } finally {
      counter.close();
      gauge.close();
    }
  });
});

// The scrape renderer that reuses the previous output's unchanged lines
// (collect/exposition-cache.ts): its bytes must equal a fresh render's after every change
// of values, lines and families; a line served from the previous output with a value
// that has changed since would be a wrong value on the wire.
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Collector, DirectoryMerger, renderOpenMetrics, renderText, type Family, type Sample } from '../src/index.js';
import { CachedExposition } from '../src/collect/exposition-cache.js';
import { samplePrefix } from '../src/collect/exposition.js';
import { encodeKey, type LabelPairs } from '../src/format/key.js';
import { MappedFile } from '../src/format/mapped-file.js';
import { FIXTURES, fixtureNames, flushWrites, tempDir } from './helpers/fixtures.js';

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

/** A sample as a merge keeps it: with its prefix rendered once. */
const kept = (name: string, labels: LabelPairs, value = 0): Sample => ({ name, labels, value, linePrefix: samplePrefix(name, labels) });

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
    const exemplar = (id: string) => new Map([[sample.linePrefix!, ` # {trace_id="${id}"} 1.0 1.5`]]);
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

// A merge writes its values into the plan's arrays only; a merged family's sample objects
// get them when the family's `samples` is read (collect/merge-plan.ts `refreshSamples`),
// and the text renderer, which compares the arrays, never reads them. Every other reader
// of a merge's families must still see the last merge's values, never older ones: each
// is checked here as the first reader after merges and renders that read no object.
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Collector, DirectoryMerger, renderOpenMetrics, renderProtobuf, renderText, type Family } from '../src/index.js';
import { CachedExposition } from '../src/collect/exposition-cache.js';
import { samplePrefix, samplesOf } from '../src/collect/exposition.js';
import { encodeKey } from '../src/format/key.js';
import { MappedFile } from '../src/format/mapped-file.js';
import { flushWrites, tempDir } from './helpers/fixtures.js';
import { decodeFamilies } from './helpers/protobuf.js';

const dirs: string[] = [];
const open: MappedFile[] = [];
afterEach(() => {
  for (const file of open.splice(0)) file.close();
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** A directory of two workers' counter and gauge files; `set(step)` gives every series a value of that step. */
function workers(): { dir: string; set: (step: number) => void } {
  const dir = tempDir('merged-values-');
  dirs.push(dir);
  const slots: Array<{ file: MappedFile; slot: number; base: number }> = [];
  for (const id of ['1', '2']) {
    const counter = MappedFile.open(path.join(dir, `counter_${id}.db`));
    const gauge = MappedFile.open(path.join(dir, `gauge_all_${id}.db`));
    open.push(counter, gauge);
    for (let i = 0; i < 5; i++) {
      slots.push({ file: counter, slot: counter.slotFor(encodeKey('jobs', 'jobs_total', [['i', String(i)]], 'Jobs.')), base: i });
      slots.push({ file: gauge, slot: gauge.slotFor(encodeKey('temp', 'temp', [['i', String(i)], ['pid', id]], 'Temp.')), base: 10 * i });
    }
  }
  const set = (step: number) => {
    for (const { file, slot, base } of slots) file.values[slot] = base + step * 7 + (step % 3 === 0 ? 0.5 : 0);
    flushWrites();
  };
  return { dir, set };
}

/** Every sample's value, per family, as plain data. */
const valuesOf = (families: readonly Family[]) => families.map((f) => ({ name: f.name, values: f.samples.map((s) => s.value) }));

/** The readers of a merge's families: each returns what it made of them, to compare with a fresh merge's. */
const READERS: Record<string, (families: Family[]) => unknown> = {
  'the samples themselves': valuesOf,
  renderText: (families) => renderText(families),
  renderOpenMetrics: (families) => renderOpenMetrics(families),
  renderProtobuf: (families) => decodeFamilies(renderProtobuf(families)),
  'a copy of a family (as the native histogram and summary merges make)': (families) => valuesOf(families.map((f) => ({ ...f }))),
  'JSON': (families) => JSON.stringify(families),
  // The renderer takes a merged family's values from `sampleValues`, line by line too: the
  // exemplars' prefixes are made without reading `samples` (which would bring the objects up to date).
  'the line-by-line render (OpenMetrics with an exemplar on every family)': (families) => {
    const exemplars = new Map(families.map((f) => [samplePrefix(samplesOf(f)[0].name, samplesOf(f)[0].labels), ' # {id="x"} 1.0']));
    return new CachedExposition(true).render(families, exemplars).toString('utf8');
  },
  'a new renderer (its first output is rendered line by line)': (families) => new CachedExposition(false).render(families).toString('utf8'),
};

describe('the sample objects of a merge', () => {
  it.each(Object.keys(READERS))('hold the last merge\'s values for %s, after renders that read none of them', (reader) => {
    const { dir, set } = workers();
    const merger = new DirectoryMerger(dir);
    const text = new CachedExposition(false);
    for (let step = 0; step < 8; step++) {
      set(step);
      let families = merger.merge().families;
      // A render that compares values as numbers and reads no sample object (the first one reads them all).
      expect(text.render(families).toString('utf8')).toBe(renderText(new DirectoryMerger(dir).merge().families));
      // Merges with nothing changed in between: the objects must still get the values of the merge that changed them.
      for (let again = 0; again < step % 3; again++) {
        families = merger.merge().families;
        text.render(families);
      }
      if (step % 2 === 1) continue; // two steps of changes before this reader looks
      expect(READERS[reader](families)).toEqual(READERS[reader](new DirectoryMerger(dir).merge().families));
    }
  });

  it('are served by a collector to every format with the values of its last merge', async () => {
    const { dir, set } = workers();
    const collector = new Collector({ directory: dir, log: () => {} });
    const merged = (families: any[]) => families.filter((f) => !f.name.startsWith('prom_multiproc_'));
    for (let step = 0; step < 6; step++) {
      set(step);
      await collector.scrape('text');
      await collector.scrape('text');
      // The first reader of the objects since the values changed: protobuf, then OpenMetrics, in turn.
      if (step % 2 === 0) {
        const fresh = await new Collector({ directory: dir, log: () => {} }).scrapeProtobuf();
        expect(merged(decodeFamilies((await collector.scrapeProtobuf()).body))).toEqual(merged(decodeFamilies(fresh.body)));
      } else {
        const body = (await collector.scrape('openmetrics')).body;
        const fresh = (await new Collector({ directory: dir, log: () => {} }).scrape('openmetrics')).body;
        expect(body.slice(0, body.indexOf('# HELP prom_multiproc_'))).toBe(fresh.slice(0, fresh.indexOf('# HELP prom_multiproc_')));
      }
    }
  });

  it('are replaced by an assigned samples array, which the renderer then serves', () => {
    const { dir, set } = workers();
    set(1);
    const merger = new DirectoryMerger(dir);
    const text = new CachedExposition(false);
    const families = merger.merge().families;
    text.render(families);
    set(2);
    merger.merge();
    const [first] = families;
    first.samples = first.samples.slice(0, 2).map((s) => ({ ...s, value: s.value + 1 }));
    expect(text.render(families).toString('utf8')).toBe(renderText(families));
    expect(renderText([first])).toContain(`${first.samples[1].value}`);
  });
});

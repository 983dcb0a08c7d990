// Merges the summary window side files (`.summarywindow_<id>.db`): per series, the
// exponential buckets of every process's generations that started within the series'
// window, summed; quantile samples read from the sum are added to the summary family
// (whose `_count` and `_sum` come from the `.db` merge).
import { sortLabelPairs } from '../format/key.js';
import { floatToGoString } from '../format/number.js';
import { DEFAULT_ZERO_THRESHOLD, quantileOfBuckets, type ExponentialBuckets } from '../metrics/exponential-buckets.js';
import { SUMMARY_SCHEMA, parseWindowSampleName, type WindowEntry } from '../metrics/summary-window.js';
import { sortedPairs, type Family, type Sample } from './exposition.js';
import type { MergeProblem } from './merge.js';
import { listSideFiles, readSideFile } from './native-merge.js';

interface SeriesWindow {
  family: string;
  labels: Array<[string, string]>;
  quantiles: Set<number>;
  buckets: ExponentialBuckets;
}

/**
 * Adds quantile samples to the summary families of `families` (replacing those family
 * objects by extended copies: the merge reuses its own). `now` is the scrape's clock.
 */
export function mergeSummaryWindows(dir: string, names: readonly string[], families: Family[], now = Date.now()): MergeProblem[] {
  const problems: MergeProblem[] = [];
  const bySeries = new Map<string, SeriesWindow>();
  for (const [name, file] of [...listSideFiles(dir, names, 'summarywindow')].sort()) {
    const entries = readSideFile(name, file);
    if (entries === null) continue;
    if (!Array.isArray(entries)) {
      problems.push(entries);
      continue;
    }
    const parsed = entries.map((e) => ({ entry: e, what: parseWindowSampleName(e.sampleName), id: `${e.metricName}\u0000${JSON.stringify(sortedPairs(e.labels))}` }));
    // Pass 1: each series' window and generation starts in this file.
    const windows = new Map<string, number>();
    const starts = new Map<string, number>();
    for (const { entry, what, id } of parsed) {
      if (what?.what === 'window') windows.set(id, entry.value);
      else if (what?.what === 'start') starts.set(`${id}\u0000${what.generation}`, entry.value);
    }
    const inWindow = (id: string, generation: number) => {
      const maxAge = windows.get(id) ?? 0;
      return maxAge === 0 || now - (starts.get(`${id}\u0000${generation}`) ?? 0) < maxAge * 1000;
    };
    // Pass 2: the counts of generations in the window.
    for (const { entry, what, id } of parsed) {
      if (!what) continue;
      const series = seriesFor(bySeries, id, entry.metricName, entry.labels);
      if (what.what === 'quantile') series.quantiles.add(what.quantile);
      if (entry.value === 0 || (what.what !== 'zero' && what.what !== 'bucket') || !inWindow(id, what.generation)) continue;
      addCount(series.buckets, what, entry.value);
    }
  }
  const byFamily = new Map<string, SeriesWindow[]>();
  for (const series of bySeries.values()) {
    const list = byFamily.get(series.family) ?? [];
    list.push(series);
    byFamily.set(series.family, list);
  }
  for (let f = 0; f < families.length; f++) {
    const family = families[f];
    const windows = family.type === 'summary' ? byFamily.get(family.name) : undefined;
    if (!windows) continue;
    const quantileSamples: Sample[] = [];
    for (const w of windows) {
      for (const q of [...w.quantiles].sort((a, b) => a - b)) {
        const labels = sortLabelPairs([...w.labels, ['quantile', floatToGoString(q)] as [string, string]]);
        quantileSamples.push({ name: family.name, labels, value: quantileOfBuckets(w.buckets, q) });
      }
    }
    families[f] = { ...family, samples: [...quantileSamples, ...family.samples] };
  }
  return problems;
}

function seriesFor(bySeries: Map<string, SeriesWindow>, id: string, family: string, labels: Record<string, string>): SeriesWindow {
  let series = bySeries.get(id);
  if (!series) {
    const buckets: ExponentialBuckets = { schema: SUMMARY_SCHEMA, zeroThreshold: DEFAULT_ZERO_THRESHOLD, zeroCount: 0, positive: new Map(), negative: new Map() };
    bySeries.set(id, (series = { family, labels: sortedPairs(labels), quantiles: new Set(), buckets }));
  }
  return series;
}

function addCount(b: ExponentialBuckets, what: WindowEntry, value: number): void {
  if (what.what === 'zero') b.zeroCount += value;
  else if (what.what === 'bucket') {
    const side = what.negative ? b.negative : b.positive;
    side.set(what.index, (side.get(what.index) ?? 0) + value);
  }
}

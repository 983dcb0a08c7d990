// Merges the native histogram side files (`.nativehistogram_<id>.db`) of a directory:
// per series, the exponential buckets of every process summed at the lowest schema any
// of them uses. The counts `_count` and `_sum` are not here: they come from the
// histogram's `.db` entries, which the classic merge already sums.
import type { ParsedEntry } from '../format/entries.js';
import { DbFileReader, ReadBuffer } from '../format/reader.js';
import { parseSideFileName } from '../format/names.js';
import { DEFAULT_ZERO_THRESHOLD, downscaleBuckets, downscaleIndex, type ExponentialBuckets } from '../metrics/exponential-buckets.js';
import { parseNativeSampleName } from '../metrics/native-buckets.js';
import { visibleFiles } from './compaction.js';
import { sortedPairs, type Family, type NativeSeries } from './exposition.js';
import type { MergeProblem } from './merge.js';

/** The side files of `kind` to read in `dir`, name -> path (honours a compaction in progress). */
export function listSideFiles(dir: string, names: readonly string[], kind: string): Map<string, string> {
  const own = names.filter((name) => parseSideFileName(name)?.kind === kind);
  const visible = visibleFiles(dir, own);
  for (const name of [...visible.keys()]) if (parseSideFileName(name)?.kind !== kind) visible.delete(name);
  return visible;
}

export type SideEntry = ParsedEntry & { value: number };

/**
 * The entries of one side file with their values; null if it vanished (folded meanwhile),
 * or a problem (the file is skipped, as a bad `.db` file is).
 */
export function readSideFile(name: string, file: string): SideEntry[] | null | MergeProblem {
  const reader = new DbFileReader(file);
  const outcome = reader.read(new ReadBuffer());
  if (!outcome.ok) return outcome.problem === 'missing' ? null : { file: name, problem: outcome.problem, reason: outcome.reason };
  return reader.entries.map((e, i) => ({ ...e, value: reader.values[i] }));
}

/** Adds the merged exponential buckets to the histogram families they belong to. */
export function mergeNativeHistograms(dir: string, names: readonly string[], families: Family[]): MergeProblem[] {
  const problems: MergeProblem[] = [];
  const bySeries = new Map<string, NativeSeries & { family: string }>();
  for (const [name, file] of [...listSideFiles(dir, names, 'nativehistogram')].sort()) {
    const entries = readSideFile(name, file);
    if (entries === null) continue;
    if (!Array.isArray(entries)) {
      problems.push(entries);
      continue;
    }
    for (const entry of entries) {
      const what = parseNativeSampleName(entry.sampleName);
      if (!what || entry.value === 0) continue;
      const labels = sortedPairs(entry.labels);
      const id = `${entry.metricName}\u0000${JSON.stringify(labels)}`;
      let series = bySeries.get(id);
      if (!series) {
        const buckets: ExponentialBuckets = { schema: what.zero ? 8 : what.schema, zeroThreshold: DEFAULT_ZERO_THRESHOLD, zeroCount: 0, positive: new Map(), negative: new Map() };
        bySeries.set(id, (series = { family: entry.metricName, labels, buckets }));
      }
      const b = series.buckets;
      if (what.zero) {
        b.zeroCount += entry.value;
        continue;
      }
      if (what.schema < b.schema) downscaleBuckets(b, what.schema);
      const side = what.negative ? b.negative : b.positive;
      const index = downscaleIndex(what.index, what.schema - b.schema);
      side.set(index, (side.get(index) ?? 0) + entry.value);
    }
  }
  const byFamily = new Map<string, NativeSeries[]>();
  for (const series of bySeries.values()) {
    const list = byFamily.get(series.family) ?? [];
    list.push({ labels: series.labels, buckets: series.buckets });
    byFamily.set(series.family, list);
  }
  for (let f = 0; f < families.length; f++) {
    const native = families[f].type === 'histogram' ? byFamily.get(families[f].name) : undefined;
    // A copy: the merge reuses its family objects.
    if (native) families[f] = { ...families[f], native };
  }
  return problems;
}

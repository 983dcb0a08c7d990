// One metric family's part of a merge plan, by the rules of Python's MultiProcessCollector
// (FORMAT.md §7.2, §7.6): which output sample each entry feeds and by which rule, and the
// order of the output samples. Values are not combined here: the plan records one step
// per entry and replays the steps on every merge (merge-plan.ts).
import type { LabelPairs } from '../format/key.js';
import type { GaugeMode, MetricType } from '../format/names.js';
import { isPrometheusFloat, type Family, type Sample } from './exposition.js';
import type { MergeProblem } from './merge.js';
import type { BucketEntry, LabelSet, PreparedKey, RenderedLabels } from './prepared-keys.js';

/** How an entry's value goes into its target; a step is `target << STEP_OP_BITS | op` (an int32, so targets stay below 2^28). */
export const Op = {
  /** A histogram bucket whose `le` is not a number: not merged. */
  IGNORE: 0,
  /** `sample += value` (counters, summaries, `_sum`, gauge sum). */
  SUM: 1,
  /** `sample = value` (gauge all: last read wins; min/max: the first value seen). */
  SET: 2,
  MIN: 3,
  MAX: 4,
  /** Gauge mostrecent: take the value if its timestamp is strictly greater than the kept one. */
  RECENT: 5,
  /** Gauge mostrecent entry with no sample yet (timestamp 0 when planned): a timestamp above 0 changes the plan. */
  RECENT_UNPLACED: 6,
  /** `bucket cell += value`; cells become cumulative `_bucket` samples when the merge finishes. */
  BUCKET: 7,
} as const;
export const STEP_OP_BITS = 3;
export const STEP_OP_MASK = 7;
const step = (op: number, target: number) => (target << STEP_OP_BITS) | op;

/** A sample of the merged output. Reused by every merge of one plan: only `value` changes. */
export class MergedSample implements Sample {
  value = 0;
  readonly labels: LabelPairs;
  /** `name{labels} ` as the exposition writes it. */
  readonly linePrefix: string;

  constructor(readonly id: number, readonly name: string, labels: RenderedLabels) {
    this.labels = labels.pairs;
    this.linePrefix = labels.prefix(name);
  }
}

/** Raw (non-cumulative) sum of one bucket bound of one histogram series. */
interface BucketCell {
  readonly id: number;
  readonly bound: number;
  /** The series' labels plus `le` re-rendered from `bound`. */
  readonly labels: RenderedLabels;
}

/** One histogram series' buckets, bounds in ascending order. */
interface BucketTable {
  readonly series: LabelSet;
  readonly cells: BucketCell[];
  /** Where the next bound is expected: entries list bounds in ascending order. */
  cursor: number;
}

/** A finished bucket table, as the plan replays it: cells in bound order, the sample each becomes, the derived `_count`. */
export interface PlannedBuckets {
  cells: number[];
  outputs: number[];
  /** The `_count` sample, or -1 without accumulation. */
  count: number;
}

/** Numbers output samples and bucket cells across all families of one plan. */
export interface IdAllocator {
  samples: number;
  cells: number;
}

export class FamilyMerge {
  private mode: GaugeMode | undefined;
  private firstModeFile = '';
  /** Set when gauge files disagree on the mode: each mode with the first file that used it. */
  private modeFiles: Map<GaugeMode, string> | null = null;
  /** Samples per label set (`LabelSet.key`), groups and samples in first-insert order. */
  private readonly groups = new Map<string, MergedSample[]>();
  private bucketTables: Map<string, BucketTable> | null = null;
  /** Timestamp of each kept sample, in the mostrecent modes. */
  private latest: Map<MergedSample, number> | null = null;

  constructor(readonly name: string, readonly type: MetricType, readonly help: string, private readonly ids: IdAllocator) {}

  /**
   * Python keeps the mode of the last gauge file it reads. We read in sorted name order,
   * so the mode of the last file in sorted order wins: the same result Python gives for
   * a directory listed in sorted order (the fixtures). Conflicts are recorded for a problem.
   */
  noteMode(mode: GaugeMode, file: string): void {
    if (this.mode === undefined) this.firstModeFile = file;
    else if (mode !== this.mode) {
      this.modeFiles ??= new Map([[this.mode, this.firstModeFile]]);
      if (!this.modeFiles.has(mode)) this.modeFiles.set(mode, file);
    }
    this.mode = mode;
  }

  /** The mode-conflict problem for a gauge whose files disagree, or null. */
  modeConflict(): MergeProblem | null {
    if (this.type !== 'gauge' || !this.modeFiles) return null;
    const seen = [...this.modeFiles].map(([mode, file]) => `${mode} (first in ${file})`).join(', ');
    const loser = [...this.modeFiles].find(([mode]) => mode !== this.mode)!;
    return {
      file: loser[1],
      problem: 'mode-conflict',
      reason: `gauge "${this.name}" is written with different modes: ${seen}; merged as "${this.mode}", the mode of the last file in sorted order`,
    };
  }

  /** Why the last entry `add` returned IGNORE for could not be exposed, or null (an invalid bucket). */
  skipped: string | null = null;

  /**
   * Places one entry (in file order, then entry order) and returns its step. Only
   * mostrecent looks at the timestamp. An entry Prometheus could not parse (see
   * `unexposable`) is ignored with `skipped` set: the rest of the scrape is served.
   */
  add(entry: PreparedKey, timestamp: number): number {
    this.skipped = this.unexposable(entry);
    if (this.skipped !== null) return step(Op.IGNORE, 0);
    if (this.type === 'gauge') return this.addGauge(entry, timestamp);
    if (this.type === 'histogram' && entry.bucket) return this.addBucket(entry.bucket);
    // Counters, summaries and a histogram's `_sum`: summed per (name, labels).
    const sample = this.find(entry.labels, entry.sampleName) ?? this.insert(entry.labels, entry.sampleName);
    return step(Op.SUM, sample.id);
  }

  /** Why this entry's sample would fail Prometheus' parser, or null. Runs when a plan is built, not per scrape. */
  private unexposable(entry: PreparedKey): string | null {
    if (entry.sampleName === '') return 'empty sample name';
    const labels = this.type === 'histogram' && entry.bucket
      ? entry.bucket.labels
      : this.type === 'gauge' && this.mode !== 'all' && this.mode !== 'liveall' && this.mode !== undefined ? entry.labelsWithoutPid : entry.labels;
    if (labels.problem !== null) return labels.problem;
    const quantile = entry.labels.pairs.find((p) => p[0] === 'quantile')?.[1];
    if (this.type === 'summary' && quantile !== undefined && !isPrometheusFloat(quantile)) return `quantile ${JSON.stringify(quantile)} is not a number`;
    return null;
  }

  private addGauge(entry: PreparedKey, timestamp: number): number {
    const mode = this.mode ?? 'all';
    if (mode === 'all' || mode === 'liveall') {
      // One series per process (the pid label); if a key repeats, the last read wins.
      const sample = this.find(entry.labels, entry.sampleName) ?? this.insert(entry.labels, entry.sampleName);
      return step(Op.SET, sample.id);
    }
    const labels = entry.labelsWithoutPid;
    const sample = this.find(labels, entry.sampleName);
    switch (mode) {
      case 'min':
      case 'livemin':
        return sample ? step(Op.MIN, sample.id) : step(Op.SET, this.insert(labels, entry.sampleName).id);
      case 'max':
      case 'livemax':
        return sample ? step(Op.MAX, sample.id) : step(Op.SET, this.insert(labels, entry.sampleName).id);
      case 'sum':
      case 'livesum':
        return step(Op.SUM, (sample ?? this.insert(labels, entry.sampleName)).id);
      case 'mostrecent':
      case 'livemostrecent': {
        // Strictly greater than the kept timestamp, starting from 0: ties keep the
        // earlier value and never-set entries (timestamp 0) never produce a sample.
        this.latest ??= new Map();
        if (sample) {
          if (timestamp > this.latest.get(sample)!) this.latest.set(sample, timestamp);
          return step(Op.RECENT, sample.id);
        }
        if (!(timestamp > 0)) return step(Op.RECENT_UNPLACED, 0);
        const created = this.insert(labels, entry.sampleName);
        this.latest.set(created, timestamp);
        return step(Op.RECENT, created.id);
      }
    }
  }

  private addBucket(bucket: BucketEntry): number {
    if (bucket.invalidLe !== null) return step(Op.IGNORE, 0);
    this.bucketTables ??= new Map();
    let table = this.bucketTables.get(bucket.series.key);
    if (!table) {
      table = { series: bucket.series, cells: [], cursor: 0 };
      this.bucketTables.set(bucket.series.key, table);
    }
    const { cells } = table;
    let at = table.cursor < cells.length && cells[table.cursor].bound === bucket.bound ? table.cursor : cells.findIndex((c) => c.bound === bucket.bound);
    if (at < 0) {
      // A new bound (NaN is never equal to a known one, as in Python): insert in order.
      at = 0;
      while (at < cells.length && !(bucket.bound < cells[at].bound)) at++;
      cells.splice(at, 0, { id: this.ids.cells++, bound: bucket.bound, labels: bucket.labels });
    }
    table.cursor = at + 1;
    return step(Op.BUCKET, cells[at].id);
  }

  private find(labels: LabelSet, name: string): MergedSample | undefined {
    const group = this.groups.get(labels.key);
    if (!group) return undefined;
    for (const sample of group) if (sample.name === name) return sample;
    return undefined;
  }

  /** Appends a sample to the group of `labels`; it is labelled `rendered`, which differs from `labels` only for buckets (with `le`). */
  private insert(labels: LabelSet, name: string, rendered: RenderedLabels = labels): MergedSample {
    let group = this.groups.get(labels.key);
    if (!group) {
      group = [];
      this.groups.set(labels.key, group);
    }
    const sample = new MergedSample(this.ids.samples++, name, rendered);
    group.push(sample);
    return sample;
  }

  /** The merged family (groups in creation order, histogram buckets after each series' `_sum`) and its bucket tables. */
  finish(accumulate: boolean, buckets: PlannedBuckets[]): Family {
    if (this.bucketTables) {
      const bucketName = `${this.name}_bucket`;
      const countName = `${this.name}_count`;
      for (const table of this.bucketTables.values()) {
        const planned: PlannedBuckets = { cells: [], outputs: [], count: -1 };
        for (const cell of table.cells) {
          planned.cells.push(cell.id);
          planned.outputs.push(this.insert(table.series, bucketName, cell.labels).id);
        }
        if (accumulate) {
          // A stored `_count` (foreign writer) keeps its place but takes the derived value, as in Python.
          planned.count = (this.find(table.series, countName) ?? this.insert(table.series, countName)).id;
        }
        buckets.push(planned);
      }
    }
    const samples: Sample[] = [];
    for (const group of this.groups.values()) for (const sample of group) samples.push(sample);
    return { name: this.name, help: this.help, type: this.type, samples };
  }

  /** Ids of the samples kept by timestamp: each must still have one above 0 after a merge, or the plan is stale. */
  recentSamples(): number[] {
    return this.latest ? [...this.latest.keys()].map((s) => s.id) : [];
  }
}

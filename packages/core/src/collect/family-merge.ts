// One metric family's part of a merge plan, by the rules of Python's MultiProcessCollector
// (FORMAT.md §7.2, §7.6): which output sample each entry feeds and by which rule, and the
// order of the output samples. Values are not combined here: the plan records one step
// per entry and replays the steps on every merge (merge-plan.ts).
//
// Python's order is first-seen order over all entries (files in name order, then entry
// order). A plan places new entries into the samples it has (merge-plan.ts `update`), and
// a new entry may sit before entries placed earlier (a new file that sorts first), so
// every sample, group, bucket table and family remembers the entry that created it, its
// birth: the output is ordered by birth, which equals creation order in a fresh build.
import type { LabelPairs } from '../format/key.js';
import type { GaugeMode, MetricType } from '../format/names.js';
import { exposedNames, isPrometheusFloat, metricName, type Family, type Sample } from './exposition.js';
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

/** A file as the plan places it: its place in name order (`rank`) and one step per entry. */
export interface EntrySource {
  readonly name: string;
  readonly type: MetricType;
  rank: number;
  steps: Int32Array;
}

/** True when entry `at` of `a` comes before entry `bAt` of `b` in merge order. */
export const entryBefore = (a: EntrySource, at: number, b: EntrySource, bAt: number): boolean => a.rank < b.rank || (a === b && at < bAt);

/** New entries that a plan cannot place so that its output equals a fresh build's: the plan is built again. */
export class PlanConflict extends Error {}

/** What the families of one plan share: id counters, and what placing and finishing found. */
export interface PlanContext {
  samples: number;
  /** Cell ids are below this. A bucket cell's id is the id of its `_bucket` output sample: its raw sum is kept apart, by that id. */
  cells: number;
  /** Ids of the samples kept by timestamp (mostrecent): each must still have one above 0 after a merge, or the plan is stale. */
  recent: number[];
  /** Bucket tables finished for the first time, for the plan's replay. */
  newTables: BucketTable[];
  /** A finished bucket table gained a cell: the plan's replay of buckets is laid out again. */
  tablesChanged: boolean;
  /**
   * Birth of each sample, by id: the first entry that feeds it (null for bucket and derived
   * `_count` samples, which are ordered by their table). Kept here, not on the samples,
   * which callers get and may copy.
   */
  bornIn: Array<EntrySource | null>;
  bornAt: number[];
  /** The bucket table of each cell, by cell id (a known bucket key's birth is its table's); no entry for other samples' ids. */
  cellTables: BucketTable[];
}

/** A sample of the merged output. Reused by every merge of one plan: only `value` changes. */
export interface MergedSample extends Sample {
  readonly id: number;
  readonly name: string;
  readonly labels: LabelPairs;
  /** The line's prefix `name{labels} ` in its two shared parts (exposition.ts `Sample`). */
  readonly lineName: string;
  readonly lineLabels: string;
}

/**
 * A new merged sample. An object literal, not a class instance: a literal has an
 * allocation site, and V8 allocates the objects of a site whose objects all survive (a
 * first plan's 75,000 samples) straight in the old generation, instead of copying each
 * twice through the young one (bench/README.md, "First scrape"). `value` is set by every
 * merge before the sample is served; it starts as a double (NaN, not the small integer
 * 0), so the merge's first store of a double does not change the field's representation:
 * that would migrate every sample of a new plan, one runtime call each.
 */
const mergedSample = (id: number, name: string, labels: RenderedLabels): MergedSample => ({ value: Number.NaN, id, name, labels: labels.pairs, lineName: metricName(name), lineLabels: labels.text });

/**
 * One histogram series' buckets, bounds in ascending order. Cell j (the raw, non-cumulative
 * sum of one bound) is its `_bucket` output sample `outputs[j]`, made when the cell is: the
 * cell's id is that sample's id (the plan keeps the raw sums by sample id apart from the
 * merged values). A table keeps no object or boxed bound per cell, and its bounds are the
 * family's `layout` (shared by its tables) while they are the same: a first plan keeps (and
 * the young generation copies) one array per series, of its exact size in the usual case.
 */
export interface BucketTable {
  readonly series: LabelSet;
  /** The bounds of the cells, in `bounds[0..cells)`; shared with other tables (then never written) unless `ownBounds`. */
  bounds: number[];
  ownBounds: boolean;
  /** Each cell's `_bucket` output sample, in bound order (labelled with the series' labels plus `le` re-rendered from the bound). */
  readonly outputs: MergedSample[];
  /** Cells: `outputs[0..cells)` (outputs may be made longer, with room for the family's usual layout). */
  cells: number;
  /** Where the next bound is expected: entries list bounds in ascending order. */
  cursor: number;
  bornIn: EntrySource;
  bornAt: number;
  /** The `_count` sample that takes the sum of the buckets (accumulating plans only): derived, or a stored one. */
  count: MergedSample | null;
  derivedCount: boolean;
  /** Finished at least once: the plan replays it. */
  planned: boolean;
}

const byBirth = (a: BucketTable, b: BucketTable) => a.bornIn.rank - b.bornIn.rank || a.bornAt - b.bornAt;

export class FamilyMerge {
  readonly type: MetricType;
  help = '';
  /** The family's first entry: families are output in this order. */
  bornIn: EntrySource | null = null;
  bornAt = 0;
  private mode: GaugeMode | undefined;
  /** The gauge file that decides the mode: the last one in name order. */
  private modeFile: EntrySource | null = null;
  /** Each mode used, with the first file (in name order) that used it. */
  private readonly modeFiles = new Map<GaugeMode, EntrySource>();
  /** Samples per label set (`LabelSet.key`), groups and samples in first-insert order. */
  private groups = new Map<string, MergedSample[]>();
  private bucketTables: Map<string, BucketTable> | null = null;
  /** The bounds a new bucket table starts with (see `newTable`): shared by tables, never written. */
  private layout: number[] = NO_BOUNDS;
  /** The bucket table made last. */
  private lastTable: BucketTable | null = null;
  /** `${name}_bucket`. */
  private readonly bucketName: string;
  /** Needs finishing: samples were added or births moved. */
  dirty = true;
  /** Births moved or were made out of order: groups, samples and tables must be sorted by birth when finishing. */
  private reorder = false;
  /**
   * The latest birth of a sample or table (at least as late as any). Read by the plan: a
   * known key's step needs no birth check of its own for an entry after it.
   */
  lastBornIn: EntrySource | null = null;
  lastBornAt = 0;
  /** Placed into a plan that has been finished. */
  private planned = false;
  /** The merged family, as of the last `finish`, and its samples. */
  merged: Family | null = null;
  samples: MergedSample[] = [];
  /** The escaped names the merged family occupies, as of the last `finish`. */
  exposed: string[] = [];

  constructor(readonly name: string, type: MetricType, private readonly ctx: PlanContext) {
    this.type = type;
    this.bucketName = `${name}_bucket`;
  }

  /**
   * Python keeps the mode of the last gauge file it reads. We read in sorted name order,
   * so the mode of the last file in sorted order wins: the same result Python gives for
   * a directory listed in sorted order (the fixtures). Conflicts are recorded for a problem.
   */
  noteMode(mode: GaugeMode, file: EntrySource): void {
    const first = this.modeFiles.get(mode);
    if (first === undefined || file.rank < first.rank) this.modeFiles.set(mode, file);
    if (this.modeFile !== null && file.rank < this.modeFile.rank) return;
    // A new last file with another mode changes how every entry is merged.
    if (this.planned && mode !== this.mode && this.type === 'gauge') throw new PlanConflict(`gauge ${this.name} changes mode`);
    this.modeFile = file;
    this.mode = mode;
  }

  /** The mode-conflict problem for a gauge whose files disagree, or null. */
  modeConflict(): MergeProblem | null {
    if (this.type !== 'gauge' || this.modeFiles.size < 2) return null;
    const modes = [...this.modeFiles].sort((a, b) => a[1].rank - b[1].rank);
    const seen = modes.map(([mode, file]) => `${mode} (first in ${file.name})`).join(', ');
    const loser = modes.find(([mode]) => mode !== this.mode)!;
    return {
      file: loser[1].name,
      problem: 'mode-conflict',
      reason: `gauge "${this.name}" is written with different modes: ${seen}; merged as "${this.mode}", the mode of the last file in sorted order`,
    };
  }

  /** Why the last entry `add` returned IGNORE for could not be exposed, or null (an invalid bucket). */
  skipped: string | null = null;

  /**
   * Places entry `at` of `file` and returns its step. Only mostrecent looks at the
   * timestamp. An entry Prometheus could not parse (see `unexposable`) is ignored with
   * `skipped` set: the rest of the scrape is served.
   */
  add(entry: PreparedKey, timestamp: number, file: EntrySource, at: number): number {
    if (this.bornIn === null || entryBefore(file, at, this.bornIn, this.bornAt)) {
      // The first entry gives the family its type and help.
      if (this.bornIn !== null && file.type !== this.type) throw new PlanConflict(`${this.name} changes type`);
      this.bornIn = file;
      this.bornAt = at;
      this.help = entry.help;
      this.dirty = true;
    }
    this.skipped = this.unexposable(entry);
    if (this.skipped !== null) return step(Op.IGNORE, 0);
    if (this.type === 'gauge') return this.addGauge(entry, timestamp, file, at);
    if (this.type === 'histogram' && entry.bucket) return this.addBucket(entry.bucket, file, at);
    // Counters, summaries and a histogram's `_sum`: summed per (name, labels).
    return step(Op.SUM, this.sampleFor(entry.labels, entry.sampleName, file, at).id);
  }

  /** Why this entry's sample would fail Prometheus' parser, or null. Runs when a plan is built, not per scrape. */
  private unexposable(entry: PreparedKey): string | null {
    if (entry.sampleName === '') return 'empty sample name';
    const labels = this.type === 'histogram' && entry.bucket
      ? entry.bucket.labels
      : this.type === 'gauge' && this.mode !== 'all' && this.mode !== 'liveall' && this.mode !== undefined ? entry.labelsWithoutPid : entry.labels;
    if (labels.problem !== null) return labels.problem;
    if (this.type !== 'summary') return null;
    const quantile = entry.labels.pairs.find((p) => p[0] === 'quantile')?.[1];
    if (quantile !== undefined && !isPrometheusFloat(quantile)) return `quantile ${JSON.stringify(quantile)} is not a number`;
    return null;
  }

  /** The sample of (labels, name), made here if none exists, born here if it was born later. */
  private sampleFor(labels: LabelSet, name: string, file: EntrySource, at: number): MergedSample {
    const sample = this.find(labels, name);
    if (!sample) return this.insert(labels, name, file, at);
    if (this.bornBefore(file, at, sample)) this.moveBirth(sample, file, at);
    return sample;
  }

  /**
   * A sample or table made by entry `at` of `file` goes last in its group and table order;
   * that is birth order unless something was born after it (a new file sorting before others).
   */
  private noteBirth(file: EntrySource, at: number): void {
    if (this.lastBornIn !== null && entryBefore(file, at, this.lastBornIn, this.lastBornAt)) {
      this.reorder = true;
      return;
    }
    this.lastBornIn = file;
    this.lastBornAt = at;
  }

  /** A new output sample, born at entry `at` of `file` (null: ordered by its bucket table). */
  private newSample(name: string, labels: RenderedLabels, file: EntrySource | null, at: number): MergedSample {
    const id = this.ctx.samples++;
    this.ctx.bornIn[id] = file;
    this.ctx.bornAt[id] = at;
    return mergedSample(id, name, labels);
  }

  /** True when entry `at` of `file` comes before the birth of `sample`. */
  private bornBefore(file: EntrySource, at: number, sample: MergedSample): boolean {
    return entryBefore(file, at, this.ctx.bornIn[sample.id]!, this.ctx.bornAt[sample.id]);
  }

  private moveBirth(sample: MergedSample, file: EntrySource, at: number): void {
    this.ctx.bornIn[sample.id] = file;
    this.ctx.bornAt[sample.id] = at;
    this.reorder = this.dirty = true;
  }

  private addGauge(entry: PreparedKey, timestamp: number, file: EntrySource, at: number): number {
    const mode = this.mode ?? 'all';
    if (mode === 'all' || mode === 'liveall') {
      // One series per process (the pid label); if a key repeats, the last read wins.
      return step(Op.SET, this.sampleFor(entry.labels, entry.sampleName, file, at).id);
    }
    const labels = entry.labelsWithoutPid;
    const sample = this.find(labels, entry.sampleName);
    // A sample born after this entry did not exist yet for it (a fresh build's view).
    const earlier = sample !== undefined && this.bornBefore(file, at, sample);
    switch (mode) {
      case 'min':
      case 'livemin':
      case 'max':
      case 'livemax': {
        // The first value seen is set, the others compared: the first entry's step is SET.
        const compare = mode === 'min' || mode === 'livemin' ? Op.MIN : Op.MAX;
        if (!sample) return step(Op.SET, this.insert(labels, entry.sampleName, file, at).id);
        if (!earlier) return step(compare, sample.id);
        this.ctx.bornIn[sample.id]!.steps[this.ctx.bornAt[sample.id]] = step(compare, sample.id);
        this.moveBirth(sample, file, at);
        return step(Op.SET, sample.id);
      }
      case 'sum':
      case 'livesum':
        return step(Op.SUM, this.sampleFor(labels, entry.sampleName, file, at).id);
      case 'mostrecent':
      case 'livemostrecent': {
        // Strictly greater than the kept timestamp, starting from 0: ties keep the
        // earlier value and never-set entries (timestamp 0) never produce a sample.
        if (sample && !earlier) return step(Op.RECENT, sample.id);
        if (!(timestamp > 0)) return step(Op.RECENT_UNPLACED, 0);
        if (sample) {
          this.moveBirth(sample, file, at);
          return step(Op.RECENT, sample.id);
        }
        const created = this.insert(labels, entry.sampleName, file, at);
        this.ctx.recent.push(created.id);
        return step(Op.RECENT, created.id);
      }
    }
  }

  private addBucket(bucket: BucketEntry, file: EntrySource, at: number): number {
    if (bucket.invalidLe !== null) return step(Op.IGNORE, 0);
    this.bucketTables ??= new Map();
    let table = this.bucketTables.get(bucket.series.key);
    if (!table) {
      table = this.newTable(bucket.series, file, at);
      this.bucketTables.set(bucket.series.key, table);
      this.dirty = true;
      this.noteBirth(file, at);
    } else if (entryBefore(file, at, table.bornIn, table.bornAt)) {
      table.bornIn = file;
      table.bornAt = at;
      this.reorder = this.dirty = true;
    }
    const { bounds, cursor, cells, outputs } = table;
    const { bound } = bucket;
    // Entries list a series' bounds in ascending order: the next bound is expected at the
    // cursor, or (a first read) after the last one. Strict equality, so NaN is never equal
    // to a known bound (as in Python) and -0 is 0.
    let found = cursor < cells && bounds[cursor] === bound ? cursor : cursor === cells && (cells === 0 || bounds[cells - 1] < bound) ? -1 : indexOfBound(bounds, cells, bound);
    if (found < 0) {
      // A new bound: inserted in order. Where a NaN goes depends on the order the bounds
      // came in: only a fresh build knows.
      if (table.planned && (Number.isNaN(bound) || indexOfNaN(bounds, cells) >= 0)) throw new PlanConflict('NaN bucket bound');
      found = cells;
      if (cells > 0 && !(bounds[cells - 1] < bound)) {
        found = 0;
        while (found < cells && !(bound < bounds[found])) found++;
      }
      const sample = this.newSample(this.bucketName, bucket.labels, null, 0);
      // The cell is the sample: its raw sum is kept by the sample's id.
      this.ctx.cells = this.ctx.samples;
      this.ctx.cellTables[sample.id] = table;
      if (found === cells) {
        // The shared layout has this bound next (the usual case): nothing to write.
        if (table.ownBounds || !(cells < bounds.length && bounds[cells] === bound)) ownBounds(table).push(bound);
        outputs[cells] = sample;
      } else {
        ownBounds(table).splice(found, 0, bound);
        outputs.splice(found, 0, sample);
      }
      table.cells = cells + 1;
      this.dirty = true;
      if (table.planned) this.ctx.tablesChanged = true;
    } else if (table.planned && outputs[found].labels !== bucket.labels.pairs && leOf(outputs[found].labels) !== leOf(bucket.labels.pairs)) {
      // The cell is labelled by the entry that made it; `-0` and `0` are one bound.
      throw new PlanConflict('bucket bound written two ways');
    }
    table.cursor = found + 1;
    return step(Op.BUCKET, outputs[found].id);
  }

  /**
   * A new bucket table. It starts with the bounds of the table made before it (a family's
   * series share one bucket layout): the first table's array, shared and never written
   * again, and room for as many output samples (holes until made; read below `cells` only).
   */
  private newTable(series: LabelSet, file: EntrySource, at: number): BucketTable {
    const last = this.lastTable;
    if (last !== null && last.cells > 0 && last.bounds !== this.layout) {
      this.layout = last.bounds;
      last.ownBounds = false;
    }
    const room = this.layout.length;
    const table: BucketTable = { series, bounds: this.layout, ownBounds: false, outputs: new Array<MergedSample>(room), cells: 0, cursor: 0, bornIn: file, bornAt: at, count: null, derivedCount: false, planned: false };
    this.lastTable = table;
    return table;
  }

  private find(labels: LabelSet, name: string): MergedSample | undefined {
    const group = this.groups.get(labels.key);
    if (!group) return undefined;
    // By index: a first plan runs this cold, and an iterator there makes an object per step.
    for (let i = 0; i < group.length; i++) if (group[i].name === name) return group[i];
    return undefined;
  }

  /** Appends a sample to the group of `labels`. */
  private insert(labels: LabelSet, name: string, file: EntrySource, at: number): MergedSample {
    if (this.planned && name === `${this.name}_count` && this.bucketTables?.get(labels.key)?.derivedCount) {
      // A stored `_count` would take the place of the derived one a fresh build never makes.
      throw new PlanConflict('stored _count of a histogram series');
    }
    const sample = this.newSample(name, labels, file, at);
    const group = this.groups.get(labels.key);
    // Most groups keep one sample: an array of exactly one (push into [] reserves 17 slots).
    if (group === undefined) this.groups.set(labels.key, [sample]);
    else group.push(sample);
    this.dirty = true;
    this.noteBirth(file, at);
    return sample;
  }

  /**
   * Makes the merged family: groups in birth order, each group's samples in birth order,
   * histogram buckets after each series' own samples (series with buckets only after all
   * groups, in table order), then `_count`, derived from the buckets unless stored.
   */
  finish(accumulate: boolean): void {
    if (this.reorder) this.sortByBirth();
    this.reorder = false;
    const countName = `${this.name}_count`;
    // Maps walked with forEach, arrays by index: a new plan runs this before V8 compiles it,
    // and an iterator there makes an object per step (a [key, value] pair and a result).
    const { bucketTables: tables, groups } = this;
    if (tables) {
      tables.forEach((table) => {
        if (accumulate && table.count === null) {
          const stored = this.find(table.series, countName);
          table.count = stored ?? this.newSample(countName, table.series, null, 0);
          table.derivedCount = stored === undefined;
        }
        if (!table.planned) this.ctx.newTables.push(table);
        table.planned = true;
      });
    }
    const samples: MergedSample[] = [];
    groups.forEach((group, key) => {
      for (let i = 0; i < group.length; i++) samples.push(group[i]);
      const table = tables?.get(key);
      if (table) pushBuckets(samples, table);
    });
    if (tables) tables.forEach((table, key) => { if (!groups.has(key)) pushBuckets(samples, table); });
    this.samples = samples;
    this.merged = { name: this.name, help: this.help, type: this.type, samples };
    const names = new Set(exposedNames(this.merged));
    let last = '';
    for (let i = 0; i < samples.length; i++) if (samples[i].name !== last) names.add(metricName((last = samples[i].name)));
    this.exposed = [...names];
    this.dirty = false;
    this.planned = true;
  }

  private sortByBirth(): void {
    // A new file that sorts first with the same series in the same order moves every birth
    // but no order: then nothing is sorted (or copied).
    if (this.inBirthOrder()) return;
    const { bornIn, bornAt } = this.ctx;
    const bySampleBirth = (a: MergedSample, b: MergedSample) => bornIn[a.id]!.rank - bornIn[b.id]!.rank || bornAt[a.id] - bornAt[b.id];
    const groups = [...this.groups];
    for (const [, group] of groups) group.sort(bySampleBirth);
    groups.sort((a, b) => bySampleBirth(a[1][0], b[1][0]));
    this.groups = new Map(groups);
    if (this.bucketTables) this.bucketTables = new Map([...this.bucketTables].sort((a, b) => byBirth(a[1], b[1])));
  }

  /** Whether groups, each group's samples and bucket tables are each in birth order already. */
  private inBirthOrder(): boolean {
    const { bornIn, bornAt } = this.ctx;
    let lastIn: EntrySource | null = null;
    let lastAt = 0;
    for (const group of this.groups.values()) {
      const first = group[0].id;
      if (lastIn !== null && !entryBefore(lastIn, lastAt, bornIn[first]!, bornAt[first])) return false;
      lastIn = bornIn[first]!;
      lastAt = bornAt[first];
      for (let i = 1; i < group.length; i++) {
        const a = group[i - 1].id;
        const b = group[i].id;
        if (!entryBefore(bornIn[a]!, bornAt[a], bornIn[b]!, bornAt[b])) return false;
      }
    }
    if (this.bucketTables === null) return true;
    let last: BucketTable | null = null;
    for (const table of this.bucketTables.values()) {
      if (last !== null && !entryBefore(last.bornIn, last.bornAt, table.bornIn, table.bornAt)) return false;
      last = table;
    }
    return true;
  }
}

function pushBuckets(samples: MergedSample[], table: BucketTable): void {
  const { outputs, cells } = table;
  for (let j = 0; j < cells; j++) samples.push(outputs[j]);
  if (table.derivedCount) samples.push(table.count!);
}

const leOf = (pairs: LabelPairs) => pairs.find((p) => p[0] === 'le')?.[1];

/**
 * Bounds of a table that has none yet. Every bounds array holds doubles (this one too, and
 * the copies made of it) and every outputs array is made by `new Array(n)`: one elements
 * kind each, so `addBucket` sees one map per array (it deoptimized on a second).
 */
const NO_BOUNDS: number[] = [0.5].slice(0, 0);

/** The table's own bounds, to write: a copy of the shared ones it had, the first time. */
function ownBounds(table: BucketTable): number[] {
  if (!table.ownBounds) {
    table.bounds = table.bounds.slice(0, table.cells);
    table.ownBounds = true;
  }
  return table.bounds;
}

/** Where `bound` is in `bounds[0..n)` (strict equality: never NaN), or -1. */
function indexOfBound(bounds: readonly number[], n: number, bound: number): number {
  for (let i = 0; i < n; i++) if (bounds[i] === bound) return i;
  return -1;
}

function indexOfNaN(bounds: readonly number[], n: number): number {
  for (let i = 0; i < n; i++) if (Number.isNaN(bounds[i])) return i;
  return -1;
}

// A directory merge worked out once and replayed on every scrape. Building a plan applies
// Python's rules (family-merge.ts) to every entry of every file: which output sample the
// entry feeds and how, and the order of the output. That depends only on the files'
// entries (and, for mostrecent gauges, on which entries have a timestamp). Replaying it is
// one pass over the values with no lookups and no allocation: `values[target] += value`
// and the like, then cumulative buckets.
//
// When files only gain entries, or new files appear, `update` places just the new entries
// into the plan (a new series, a new worker's files): the families they touch are finished
// again, the others keep their samples. Where that could differ from a fresh build (a
// file shrank, was replaced or vanished; a gauge's mode changes; see PlanConflict), the
// plan says so and is built again.
import { sameNumber } from '../format/number.js';
import { mergedSamples, metricName, sampleValues, type Family } from './exposition.js';
import { entryBefore, FamilyMerge, Op, PlanConflict, STEP_OP_BITS, STEP_OP_MASK, type BucketTable, type EntrySource, type MergedSample, type PlanContext } from './family-merge.js';
import type { MergeProblem } from './merge.js';
import type { TrackedFile } from './tracked-file.js';

/** One file of the plan: its steps, and how much of it has been placed. */
class PlannedFile implements EntrySource {
  readonly name: string;
  readonly type;
  steps = new Int32Array(0);
  /** Entries placed; `steps` may be longer (capacity). */
  length = 0;
  /** The file's `generation` and `drops` when placed. */
  generation = -1;
  readonly drops: number;
  /** The file's families (by its family index), as far as placed. */
  readonly families: FamilyMerge[] = [];
  /** Entries left out: not exposable (with the first one's reason), invalid buckets. */
  unexposable = 0;
  firstReason = '';
  invalidBuckets = 0;
  /**
   * Every step placed is SUM, BUCKET or IGNORE (a counter, histogram or summary file, or a
   * gauge file in sum mode): replayed by a loop without the other rules. A step is only
   * ever rewritten from SET (min/max: a birth moved), which already cleared this.
   */
  sumsOnly = true;

  constructor(readonly file: TrackedFile, public rank: number) {
    this.name = file.name;
    this.type = file.parsedName!.type;
    this.drops = file.drops;
  }
}

export class MergePlan {
  /** Output families, in Python's order; `apply()` merges their values, which their samples get when read (`refreshSamples`). */
  families: Family[] = [];
  /** Problems found while planning (invalid buckets, gauge mode conflicts), reported by every merge. */
  problems: MergeProblem[] = [];
  /** Number of output samples. */
  series = 0;

  /** The families served (not left out), in output order. */
  private served: FamilyMerge[] = [];
  /** The files planned for, in merge order. */
  private files: PlannedFile[] = [];
  private readonly byName = new Map<string, FamilyMerge>();
  /** Every family, in output order once `publish` ran. */
  private readonly order: FamilyMerge[] = [];
  private readonly ctx: PlanContext = { samples: 0, cells: 0, recent: [], newTables: [], tablesChanged: false, bornIn: [], bornAt: [], cellTables: [] };
  /**
   * The first placement pass of this plan: a key whose `placedIn` is this or later was
   * placed by this plan (a collector's keys are its own, and it drops a plan before it
   * builds the next).
   */
  private readonly firstPass = placements + 1;
  /** Merged value of each output sample, by sample id (capacity: may be longer). */
  private values = new Float64Array(0);
  /** Kept timestamp of each mostrecent sample, by sample id (null when no family is mostrecent). */
  private latest: Float64Array | null = null;
  /** Raw sum of each histogram bucket cell, by cell id (its output sample's id). */
  private cells = new Float64Array(0);
  /** Every bucket table, in replay order (any order will do: each is cumulated on its own). */
  private readonly tables: BucketTable[] = [];
  /**
   * Bucket tables, flattened: table t spans [tableEnds[t-1], tableEnds[t]) of bucketCells,
   * each cell's id (also its `_bucket` sample's id: the raw sum is in `cells`, the merged
   * value goes to `values`).
   */
  private tableEnds = new Int32Array(0);
  private bucketCells = new Int32Array(0);
  /** The `_count` sample of each table, or -1. */
  private tableCounts = new Int32Array(0);
  /** Tables laid out in the flat arrays. */
  private flatTables = 0;
  /**
   * The served samples in output order: their ids, and their merged values (each family's
   * part registered in `sampleValues`). A merge writes values here only; a family's sample
   * objects get them when its `samples` is read (`refreshSamples`).
   */
  private outputIds = new Int32Array(0);
  private outputValues = new Float64Array(0);
  /** Bumped by every merge that changed an output value. */
  private valuesVersion = 0;
  /** Each served family's first value in `outputValues`, and the `valuesVersion` its sample objects hold (-1: not known). */
  private readonly outputRanges = new Map<Family, { at: number; seen: number }>();

  private constructor(private readonly accumulate: boolean, private readonly reserved: ReadonlyMap<string, string>) {}

  /** A plan for `files` (read, in merge order), placed with their current timestamps. */
  static build(files: readonly TrackedFile[], accumulate: boolean, reserved: ReadonlyMap<string, string> = new Map()): MergePlan {
    const plan = new MergePlan(accumulate, reserved);
    plan.files = files.map((file, rank) => new PlannedFile(file, rank));
    plan.place(plan.files);
    return plan;
  }

  /**
   * Brings the plan to `files` (read, in merge order): true when it fits them, unchanged or
   * with their new entries placed; false when only a new plan can give a fresh build's
   * output (entries dropped, a file gone, the accumulate flag changed, a PlanConflict).
   * After false the plan is unusable.
   */
  update(files: readonly TrackedFile[], accumulate: boolean): boolean {
    if (accumulate !== this.accumulate) return false;
    let unchanged = files.length === this.files.length;
    for (let f = 0; unchanged && f < files.length; f++) unchanged = files[f] === this.files[f].file && files[f].generation === this.files[f].generation;
    if (unchanged) return true;
    // Both lists are in name order: walk them together.
    const next: PlannedFile[] = [];
    const changed: PlannedFile[] = [];
    let old = 0;
    for (const file of files) {
      let planned = this.files[old];
      if (planned?.file === file) {
        old++;
        if (file.drops !== planned.drops || file.length < planned.length) return false;
        if (file.generation !== planned.generation) changed.push(planned);
      } else {
        if (this.files.some((p) => p.file === file)) return false;
        planned = new PlannedFile(file, 0);
        changed.push(planned);
      }
      planned.rank = next.length;
      next.push(planned);
    }
    if (old !== this.files.length) return false; // a planned file is not listed (gone, or skipped this time)
    this.files = next;
    try {
      this.place(changed);
    } catch (err) {
      if (err instanceof PlanConflict) return false;
      throw err;
    }
    return true;
  }

  /** Places the entries `files` (in merge order) gained since they were last placed, and publishes the result. */
  private place(files: readonly PlannedFile[]): void {
    // Pass 1: new families (first-seen order), gauge modes from the last file in name order.
    for (const planned of files) {
      const { familyNames, parsedName } = planned.file;
      for (let j = planned.families.length; j < familyNames.length; j++) {
        let family = this.byName.get(familyNames[j]);
        if (!family) {
          family = new FamilyMerge(familyNames[j], parsedName!.type, this.ctx);
          this.byName.set(familyNames[j], family);
          this.order.push(family);
        }
        if (parsedName!.mode) family.noteMode(parsedName!.mode, planned);
        planned.families.push(family);
      }
    }

    // Pass 2: the new entries placed, in merge order. The workers of one app write the same
    // keys: a key that this plan placed by SUM or BUCKET before (in any file, in this pass
    // or an earlier one) feeds the same sample or cell again, so it takes that step with no
    // lookup, unless this entry comes before the birth of that sample or bucket table (a
    // new file that sorts before the others): then `add` moves the birth. Not other
    // rules (gauges: they depend on the timestamp or on what came first), nor a NaN bound,
    // which is never equal to a known one: each such entry gets a cell.
    // Each file's entries in a function of its own (see `apply`): a loop compiled on the
    // stack before the code after it ran deoptimized there, in a later scrape's placement.
    const pass = ++placements;
    for (const planned of files) this.placeEntries(planned, pass);

    // Only families that gained samples or whose order changed are finished again.
    let finished = false;
    for (const family of this.order) {
      if (!family.dirty) continue;
      family.finish(this.accumulate);
      finished = true;
    }
    this.layOut();
    // Entries that all fed samples and cells that exist (a new worker's files, series known):
    // no family changed, so the output order and its arrays stay; only the problems may not.
    if (finished || this.order.length !== this.familyProblems.length) this.publish();
    else this.problems = this.problemsOf(this.fileProblems());
  }

  /** Places the entries `planned` gained since it was last placed (pass 2 of `place`). */
  private placeEntries(planned: PlannedFile, pass: number): void {
    const { firstPass, ctx } = this;
    const { bornIn, bornAt, cellTables } = ctx;
    const { keyIds, familyOf, reader, length: n } = planned.file;
    const prepared = planned.file.keyTable();
    const timestamps = reader!.timestamps;
    if (planned.steps.length < n) planned.steps = grown(planned.steps, n);
    const { steps, families } = planned;
    for (let i = planned.length; i < n; i++) {
      const key = prepared[keyIds[i]];
      const family = families[familyOf[i]];
      if (key.placedIn >= firstPass) {
        // Placed by this plan: the step is right unless this entry comes before the birth
        // of what it feeds (no earlier than its family's: that needs no check of its own).
        // Checked in a first build's later files too, so this code has run (and is
        // optimized) by the time a new worker's file needs it.
        const known = key.placedStep;
        // After the family's latest birth (a file sorting after the one the series were
        // born in: most new files), after every birth: no lookup of this one's.
        const latest = family.lastBornIn;
        if (latest !== null && entryBefore(latest, family.lastBornAt, planned, i)) {
          steps[i] = known;
          continue;
        }
        const target = known >> STEP_OP_BITS;
        const sum = (known & STEP_OP_MASK) === Op.SUM;
        if (sum ? entryBefore(bornIn[target]!, bornAt[target], planned, i) : entryBefore(cellTables[target].bornIn, cellTables[target].bornAt, planned, i)) {
          steps[i] = known;
          continue;
        }
      }
      const placed = (steps[i] = family.add(key, timestamps[i], planned, i));
      const op = placed & STEP_OP_MASK;
      if (op !== Op.SUM && op !== Op.BUCKET && op !== Op.IGNORE) planned.sumsOnly = false;
      if (op === Op.SUM || (op === Op.BUCKET && !Number.isNaN(key.bucket!.bound))) {
        key.placedIn = pass;
        key.placedStep = placed;
        continue;
      }
      if (op !== Op.IGNORE) continue;
      if (family.skipped === null) planned.invalidBuckets++;
      else if (planned.unexposable++ === 0) planned.firstReason = `${JSON.stringify(key.sampleName)}: ${family.skipped}`;
    }
    planned.length = n;
    planned.generation = planned.file.generation;
  }

  /** Sizes the value arrays and lays out the replay of bucket tables. */
  private layOut(): void {
    const { ctx } = this;
    if (this.values.length < ctx.samples) {
      const size = grownSize(this.values.length, ctx.samples);
      this.values = new Float64Array(size);
      if (this.latest !== null || ctx.recent.length > 0) this.latest = new Float64Array(size);
    } else if (this.latest === null && ctx.recent.length > 0) this.latest = new Float64Array(this.values.length);
    if (this.cells.length < ctx.cells) this.cells = new Float64Array(grownSize(this.cells.length, ctx.cells));
    for (const table of ctx.newTables) this.tables.push(table);
    ctx.newTables.length = 0;
    if (ctx.tablesChanged) this.flatTables = 0; // a table gained a cell: lay all out again
    ctx.tablesChanged = false;
    if (this.flatTables === this.tables.length) return;
    let at = this.flatTables === 0 ? 0 : this.tableEnds[this.flatTables - 1];
    let cellCount = at;
    for (let t = this.flatTables; t < this.tables.length; t++) cellCount += this.tables[t].cells;
    if (this.tableEnds.length < this.tables.length) {
      const size = grownSize(this.tableEnds.length, this.tables.length);
      this.tableEnds = grown(this.tableEnds, size);
      this.tableCounts = grown(this.tableCounts, size);
    }
    if (this.bucketCells.length < cellCount) {
      const size = grownSize(this.bucketCells.length, cellCount);
      this.bucketCells = grown(this.bucketCells, size);
    }
    for (let t = this.flatTables; t < this.tables.length; t++) {
      const table = this.tables[t];
      const { cells, outputs } = table;
      for (let j = 0; j < cells; j++) this.bucketCells[at++] = outputs[j].id;
      this.tableEnds[t] = at;
      this.tableCounts[t] = table.count?.id ?? -1;
    }
    this.flatTables = this.tables.length;
  }

  /** The problems of the planned files (entries left out, invalid buckets), in merge order. */
  private fileProblems(): MergeProblem[] {
    const problems: MergeProblem[] = [];
    for (const planned of this.files) {
      if (planned.unexposable > 0) {
        const n = planned.unexposable;
        problems.push({
          file: planned.name,
          problem: 'unexposable',
          entries: n,
          reason: `${n} entr${n === 1 ? 'y' : 'ies'} left out of the exposition, which Prometheus could not parse (first: ${planned.firstReason})`,
        });
      }
      if (planned.invalidBuckets > 0) {
        const n = planned.invalidBuckets;
        problems.push({
          file: planned.name,
          problem: 'invalid-bucket',
          reason: `${n} histogram bucket entr${n === 1 ? 'y has' : 'ies have'} an "le" label that is not a number; ignored`,
        });
      }
    }
    return problems;
  }

  /** `problems` followed by each family's, in output order, as `publish` found them (a gauge's mode conflict as of now). */
  private problemsOf(problems: MergeProblem[]): MergeProblem[] {
    const { order, familyProblems } = this;
    for (let i = 0; i < order.length; i++) {
      const problem = familyProblems[i] ?? order[i].modeConflict();
      if (problem) problems.push(problem);
    }
    return problems;
  }

  /** Per family in `order`, why it is not served (an empty name, a name collision), or null: set by `publish`. */
  private familyProblems: Array<MergeProblem | null> = [];

  /** Families in first-seen order, the names each claims, and the problems, as a fresh build reports them. */
  private publish(): void {
    const { order } = this;
    for (let i = 1; i < order.length; i++) {
      if (compareBirth(order[i - 1], order[i]) > 0) {
        order.sort(compareBirth);
        break;
      }
    }
    // Names once escaped: the first family (in merge order) to claim one keeps it.
    const claimed = new Map<string, string>(this.reserved);
    const families: Family[] = [];
    const served: FamilyMerge[] = [];
    let series = 0;
    const familyProblems: Array<MergeProblem | null> = (this.familyProblems = []);
    for (const family of order) {
      const merged = family.merged!;
      const firstFile = family.bornIn!.name;
      // Left out, its values are still merged (the plan's ids are allocated); they are just not served.
      let left: MergeProblem | null = null;
      if (metricName(merged.name) === '') {
        left = { file: firstFile, problem: 'unexposable', entries: family.samples.length, reason: `a metric with an empty name: its ${family.samples.length} samples left out` };
      } else {
        const clash = claimNames(claimed, family);
        if (clash !== null) left = { file: firstFile, problem: 'name-collision', entries: family.samples.length, reason: clash };
      }
      familyProblems.push(left);
      if (left !== null) continue;
      families.push(merged);
      served.push(family);
      series += family.samples.length;
    }
    this.families = families;
    this.served = served;
    this.problems = this.problemsOf(this.fileProblems());
    this.series = series;
    const outputIds = (this.outputIds = new Int32Array(series));
    const outputValues = (this.outputValues = new Float64Array(series));
    this.outputRanges.clear();
    let at = 0;
    for (const family of served) {
      const { samples } = family;
      const merged = family.merged!;
      if (mergedSamples.get(merged) !== samples) this.refreshedOnRead(merged, samples);
      this.outputRanges.set(merged, { at, seen: -1 });
      sampleValues.set(samples, outputValues.subarray(at, at + samples.length));
      // The values the objects hold (maybe older than the last merge's: the next one compares with them).
      for (let i = 0; i < samples.length; i++) {
        outputIds[at] = samples[i].id;
        outputValues[at++] = samples[i].value;
      }
    }
  }

  /**
   * Makes `merged.samples` an accessor that brings the sample objects' values up to date
   * when read: a merge writes the merged values into `outputValues` only. Every consumer
   * of a merge's families reads the samples through it (renderers, protobuf, summary and
   * native histogram merges, callers of `merge()`), so each sees the values of the last
   * merge; the text renderer compares `sampleValues` and does not read it.
   */
  private refreshedOnRead(merged: Family, samples: MergedSample[]): void {
    mergedSamples.set(merged, samples);
    Object.defineProperty(merged, 'samples', {
      get: () => {
        this.refreshSamples(merged, samples);
        return samples;
      },
      set: (replaced: Family['samples']) => {
        mergedSamples.delete(merged);
        Object.defineProperty(merged, 'samples', { value: replaced, writable: true, enumerable: true, configurable: true });
      },
      enumerable: true,
      configurable: true,
    });
  }

  /** Writes the last merge's values into the sample objects of a served family, unless they hold them already. */
  private refreshSamples(merged: Family, samples: MergedSample[]): void {
    const range = this.outputRanges.get(merged);
    // Not served by this plan (any more): its objects keep what they were last given.
    if (range === undefined || range.seen === this.valuesVersion) return;
    range.seen = this.valuesVersion;
    const values = this.outputValues;
    for (let i = 0; i < samples.length; i++) samples[i].value = values[range.at + i];
  }

  /**
   * Merges the files' current values into the output samples. Returns false, leaving the
   * samples as they were, when a mostrecent gauge gained or lost a sample: then the plan
   * is stale and must be built again.
   */
  apply(): boolean {
    const { values, latest, cells, files, ctx } = this;
    values.fill(0, 0, ctx.samples);
    cells.fill(0, 0, ctx.cells);
    latest?.fill(0, 0, ctx.samples);
    // Each loop is a function of its own: a loop V8 compiles while it runs (on-stack
    // replacement) is compiled with what the function has seen so far, and code after the
    // loop that has not run yet (a first scrape's, a first changed value's) deoptimizes it
    // when reached. In one large function that happened on every scrape: the cached
    // on-stack code was entered and left again each time, the rest run unoptimized.
    for (let f = 0; f < files.length; f++) {
      const planned = files[f];
      const { values: fileValues, timestamps } = planned.file.reader!;
      if (planned.sumsOnly) replaySums(planned.steps, planned.length, fileValues, values, cells);
      else if (!replaySteps(planned.steps, planned.length, fileValues, timestamps, values, cells, latest)) return false;
    }
    const { recent } = ctx;
    for (let i = 0; i < recent.length; i++) if (!(latest![recent[i]] > 0)) return false;
    replayBuckets(this.flatTables, this.tableEnds, this.bucketCells, this.tableCounts, cells, values, this.accumulate);
    // Into output order; the sample objects get them when read (`refreshSamples`).
    if (writeOutputs(this.outputIds, this.outputValues, values)) this.valuesVersion++;
    return true;
  }
}

/** Replays a file whose steps are all SUM, BUCKET or IGNORE (most files: half the time of `replaySteps`). */
function replaySums(steps: Int32Array, length: number, fileValues: Float64Array, values: Float64Array, cells: Float64Array): void {
  for (let i = 0; i < length; i++) {
    const op = steps[i] & STEP_OP_MASK;
    if (op === Op.SUM) values[steps[i] >> STEP_OP_BITS] += fileValues[i];
    else if (op === Op.BUCKET) cells[steps[i] >> STEP_OP_BITS] += fileValues[i];
  }
}

/** Replays a file's steps by every rule; false when a mostrecent gauge gained a sample (the plan is stale). */
function replaySteps(steps: Int32Array, length: number, fileValues: Float64Array, timestamps: Float64Array, values: Float64Array, cells: Float64Array, latest: Float64Array | null): boolean {
  for (let i = 0; i < length; i++) {
    const target = steps[i] >> STEP_OP_BITS;
    const value = fileValues[i];
    switch (steps[i] & STEP_OP_MASK) {
      case Op.SUM:
        values[target] += value;
        break;
      case Op.BUCKET:
        cells[target] += value;
        break;
      case Op.SET:
        values[target] = value;
        break;
      case Op.MIN:
        if (value < values[target]) values[target] = value;
        break;
      case Op.MAX:
        if (value > values[target]) values[target] = value;
        break;
      case Op.RECENT:
        if (timestamps[i] > latest![target]) {
          values[target] = value;
          latest![target] = timestamps[i];
        }
        break;
      case Op.RECENT_UNPLACED:
        if (timestamps[i] > 0) return false;
        break;
    }
  }
  return true;
}

/** Buckets: raw sums in ascending bound order become cumulative samples (or stay raw) and `_count`. */
function replayBuckets(tables: number, tableEnds: Int32Array, bucketCells: Int32Array, tableCounts: Int32Array, cells: Float64Array, values: Float64Array, accumulate: boolean): void {
  let start = 0;
  for (let t = 0; t < tables; t++) {
    const end = tableEnds[t];
    let running = 0;
    for (let j = start; j < end; j++) {
      const cell = bucketCells[j];
      const raw = cells[cell];
      running += raw;
      values[cell] = accumulate ? running : raw;
    }
    if (tableCounts[t] >= 0) values[tableCounts[t]] = running;
    start = end;
  }
}

/** Puts the merged values in output order; returns whether one changed. */
function writeOutputs(outputIds: Int32Array, outputValues: Float64Array, values: Float64Array): boolean {
  let changed = false;
  for (let k = 0; k < outputIds.length; k++) {
    const value = values[outputIds[k]];
    if (sameNumber(value, outputValues[k])) continue;
    outputValues[k] = value;
    changed = true;
  }
  return changed;
}

/** Placement passes so far, over all plans: a key's `placedIn` is the pass that placed it. */
let placements = 0;

const compareBirth = (a: FamilyMerge, b: FamilyMerge) => a.bornIn!.rank - b.bornIn!.rank || a.bornAt - b.bornAt;

/** Capacity for `needed` items: at least double the current one, so growing one at a time stays linear. */
const grownSize = (current: number, needed: number) => Math.max(needed, current * 2, 16);

function grown<T extends Int32Array>(array: T, needed: number): T {
  const next = new (array.constructor as new (n: number) => T)(grownSize(array.length, needed));
  next.set(array);
  return next;
}

/**
 * Claims the escaped names `family` occupies (its TYPE names, its type's sample names and
 * the names of its samples) or, when one is taken by an earlier family, claims nothing
 * and says why: `req.count` and `req_count` are both `req_count` to Prometheus.
 */
function claimNames(claimed: Map<string, string>, family: FamilyMerge): string | null {
  for (const name of family.exposed) {
    const owner = claimed.get(name);
    if (owner !== undefined) {
      return `metric ${JSON.stringify(family.name)} is exposed as "${name}", like the earlier ${JSON.stringify(owner)}; its ${family.samples.length} samples are left out`;
    }
  }
  for (const name of family.exposed) claimed.set(name, family.name);
  return null;
}

// A directory merge worked out once and replayed on every scrape. Building a plan applies
// Python's rules (family-merge.ts) to every entry of every file: which output sample the
// entry feeds and how, and the order of the output. That depends only on the files'
// entries (and, for mostrecent gauges, on which entries have a timestamp), so a plan
// stays valid until a file gains entries, appears, disappears or is replaced. Replaying
// it is one pass over the values with no lookups and no allocation:
// `values[target] += value` and the like, then cumulative buckets.
import { exposedNames, metricName, type Family } from './exposition.js';
import { FamilyMerge, Op, STEP_OP_BITS, STEP_OP_MASK, type IdAllocator, type MergedSample, type PlannedBuckets } from './family-merge.js';
import type { MergeProblem } from './merge.js';
import type { TrackedFile } from './tracked-file.js';

export class MergePlan {
  /** Output families, in Python's order; their samples are updated in place by `apply()`. */
  readonly families: Family[] = [];
  /** Problems found while planning (invalid buckets, gauge mode conflicts), reported by every merge. */
  readonly problems: MergeProblem[] = [];
  /** Number of output samples. */
  series = 0;

  /** The files planned for, in merge order, with the generation of entries planned for. */
  private readonly files: TrackedFile[];
  private readonly generations: number[];
  /** Per file, one step per entry: `target << STEP_OP_BITS | op`. */
  private readonly steps: Int32Array[] = [];
  /** Every output sample, in output order. */
  private readonly samples: MergedSample[] = [];
  /** Merged value of each output sample, by sample id. */
  private readonly values: Float64Array;
  /** Kept timestamp of each mostrecent sample, by sample id (null when no family is mostrecent). */
  private readonly latest: Float64Array | null;
  /** Ids of the samples that exist because an entry had a timestamp above 0. */
  private readonly recent: Int32Array;
  /** Raw sum of each histogram bucket cell, by cell id. */
  private readonly cells: Float64Array;
  /** Bucket tables, flattened: table t spans [tableEnds[t-1], tableEnds[t]) of bucketCells/bucketOutputs. */
  private readonly tableEnds: Int32Array;
  private readonly bucketCells: Int32Array;
  private readonly bucketOutputs: Int32Array;
  /** The `_count` sample of each table, or -1. */
  private readonly tableCounts: Int32Array;

  private constructor(files: readonly TrackedFile[], private readonly accumulate: boolean, reserved: ReadonlyMap<string, string>) {
    this.files = [...files];
    this.generations = files.map((f) => f.generation);
    const ids: IdAllocator = { samples: 0, cells: 0 };

    // Pass 1: families in first-seen order (file order, then entry order), type and help
    // from first sight, gauge mode from the last file.
    const families = new Map<string, FamilyMerge>();
    const firstFile = new Map<FamilyMerge, string>();
    const familiesByFile: FamilyMerge[][] = [];
    for (const file of files) {
      const { type, mode } = file.parsedName!;
      const resolved: FamilyMerge[] = [];
      for (let i = 0; i < file.familyNames.length; i++) {
        const name = file.familyNames[i];
        let family = families.get(name);
        if (!family) {
          family = new FamilyMerge(name, type, file.familyHelp[i], ids);
          families.set(name, family);
          firstFile.set(family, file.name);
        }
        if (mode) family.noteMode(mode, file.name);
        resolved.push(family);
      }
      familiesByFile.push(resolved);
    }

    // Pass 2: every entry placed, in file order.
    for (let f = 0; f < files.length; f++) {
      const file = files[f];
      const resolved = familiesByFile[f];
      const timestamps = file.reader!.timestamps;
      const steps = new Int32Array(file.prepared.length);
      let invalidBuckets = 0;
      let unexposable = 0;
      let firstReason = '';
      for (let i = 0; i < steps.length; i++) {
        const family = resolved[file.familyOf[i]];
        steps[i] = family.add(file.prepared[i], timestamps[i]);
        if ((steps[i] & STEP_OP_MASK) !== Op.IGNORE) continue;
        if (family.skipped === null) invalidBuckets++;
        else if (unexposable++ === 0) firstReason = `${JSON.stringify(file.prepared[i].sampleName)}: ${family.skipped}`;
      }
      if (unexposable > 0) {
        this.problems.push({
          file: file.name,
          problem: 'unexposable',
          entries: unexposable,
          reason: `${unexposable} entr${unexposable === 1 ? 'y' : 'ies'} left out of the exposition, which Prometheus could not parse (first: ${firstReason})`,
        });
      }
      this.steps.push(steps);
      if (invalidBuckets > 0) {
        this.problems.push({
          file: file.name,
          problem: 'invalid-bucket',
          reason: `${invalidBuckets} histogram bucket entr${invalidBuckets === 1 ? 'y has' : 'ies have'} an "le" label that is not a number; ignored`,
        });
      }
    }

    const buckets: PlannedBuckets[] = [];
    const recent: number[] = [];
    // Names once escaped: the first family (in merge order) to claim one keeps it.
    const claimed = new Map<string, string>(reserved);
    for (const family of families.values()) {
      const merged = family.finish(accumulate, buckets);
      for (const id of family.recentSamples()) recent.push(id);
      // Left out, its values are still merged (the plan's ids are allocated); they are just not served.
      if (metricName(merged.name) === '') {
        this.problems.push({ file: firstFile.get(family)!, problem: 'unexposable', entries: merged.samples.length, reason: `a metric with an empty name: its ${merged.samples.length} samples left out` });
        continue;
      }
      const clash = claimNames(claimed, merged);
      if (clash !== null) {
        this.problems.push({ file: firstFile.get(family)!, problem: 'name-collision', entries: merged.samples.length, reason: clash });
        continue;
      }
      this.families.push(merged);
      for (const sample of merged.samples) this.samples.push(sample as MergedSample);
      const conflict = family.modeConflict();
      if (conflict) this.problems.push(conflict);
    }
    this.series = this.samples.length;
    this.values = new Float64Array(ids.samples);
    this.latest = recent.length > 0 ? new Float64Array(ids.samples) : null;
    this.recent = Int32Array.from(recent);
    this.cells = new Float64Array(ids.cells);
    this.tableEnds = new Int32Array(buckets.length);
    this.bucketCells = new Int32Array(ids.cells);
    this.bucketOutputs = new Int32Array(ids.cells);
    this.tableCounts = new Int32Array(buckets.length);
    let at = 0;
    for (let t = 0; t < buckets.length; t++) {
      this.bucketCells.set(buckets[t].cells, at);
      this.bucketOutputs.set(buckets[t].outputs, at);
      at += buckets[t].cells.length;
      this.tableEnds[t] = at;
      this.tableCounts[t] = buckets[t].count;
    }
  }

  /** A plan for `files` (read, in merge order), placed with their current timestamps. */
  static build(files: readonly TrackedFile[], accumulate: boolean, reserved: ReadonlyMap<string, string> = new Map()): MergePlan {
    return new MergePlan(files, accumulate, reserved);
  }

  /** True while these are the files planned for, in the same order, with no entries added or dropped. */
  fits(files: readonly TrackedFile[], accumulate: boolean): boolean {
    if (accumulate !== this.accumulate || files.length !== this.files.length) return false;
    for (let f = 0; f < files.length; f++) {
      if (files[f] !== this.files[f] || files[f].generation !== this.generations[f]) return false;
    }
    return true;
  }

  /**
   * Merges the files' current values into the output samples. Returns false, leaving the
   * samples as they were, when a mostrecent gauge gained or lost a sample: then the plan
   * is stale and must be built again.
   */
  apply(): boolean {
    const { values, latest, cells } = this;
    values.fill(0);
    cells.fill(0);
    latest?.fill(0);
    for (let f = 0; f < this.files.length; f++) {
      const { values: fileValues, timestamps } = this.files[f].reader!;
      const steps = this.steps[f];
      for (let i = 0; i < steps.length; i++) {
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
    }
    for (let i = 0; i < this.recent.length; i++) if (!(latest![this.recent[i]] > 0)) return false;

    // Buckets: raw sums in ascending bound order become cumulative samples and `_count`.
    let start = 0;
    for (let t = 0; t < this.tableEnds.length; t++) {
      const end = this.tableEnds[t];
      let running = 0;
      for (let j = start; j < end; j++) {
        const raw = cells[this.bucketCells[j]];
        running += raw;
        values[this.bucketOutputs[j]] = this.accumulate ? running : raw;
      }
      if (this.tableCounts[t] >= 0) values[this.tableCounts[t]] = running;
      start = end;
    }

    for (const sample of this.samples) sample.value = values[sample.id];
    return true;
  }
}

/**
 * Claims the escaped names `family` occupies (its TYPE names, its type's sample names and
 * the names of its samples) or, when one is taken by an earlier family, claims nothing
 * and says why: `req.count` and `req_count` are both `req_count` to Prometheus.
 */
function claimNames(claimed: Map<string, string>, family: Family): string | null {
  const names = new Set(exposedNames(family));
  const sampleNames = new Set<string>();
  for (const sample of family.samples) sampleNames.add(sample.name);
  for (const name of sampleNames) names.add(metricName(name));
  for (const name of names) {
    const owner = claimed.get(name);
    if (owner !== undefined) {
      return `metric ${JSON.stringify(family.name)} is exposed as "${name}", like the earlier ${JSON.stringify(owner)}; its ${family.samples.length} samples are left out`;
    }
  }
  for (const name of names) claimed.set(name, family.name);
  return null;
}

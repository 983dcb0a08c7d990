// Merges a PROMETHEUS_MULTIPROC_DIR into metric families with the rules of Python's
// MultiProcessCollector (FORMAT.md §7), with one deliberate difference: a bad file is
// skipped and reported in `problems` instead of failing the whole scrape (DESIGN.md
// promise 5). Files are listed in sorted name order, so the output is deterministic
// and equals Python's `expected.txt` for the same directory.
//
// The merge runs on every scrape, so work that depends only on an entry's key (family,
// sorted label pairs, bucket bound) is done once, when the entry is first parsed, and
// kept per file across merges; a merge re-reads values and allocates only per output
// sample, never per input entry.
import fs from 'node:fs';
import { compareCodePoints, type LabelPairs } from '../format/key.js';
import { looksLikePre018File, PRE_018_HINT } from '../format/legacy.js';
import { parseDbFileName, type GaugeMode, type MetricType } from '../format/names.js';
import { ReadBuffer } from '../format/reader.js';
import type { Family, Sample } from './exposition.js';
import { visibleFiles } from './compaction.js';
import { TrackedFile, type BucketEntry, type LabelSet, type PreparedEntry } from './tracked-file.js';

export type MergeProblemKind =
  /** The file's bytes are not a well-formed metrics file (also: zero-length, ≤0.17 format). Skipped. */
  | 'corrupt'
  /** The file vanished between the listing and the read. Skipped. */
  | 'missing'
  /** The file could not be opened or read (permissions, I/O error, a directory). Skipped. */
  | 'unreadable'
  /** A `*.db` name that is not `<type>_<id>.db` / `gauge_<mode>_<id>.db`. Skipped. */
  | 'foreign'
  /** One gauge written with different modes by different files. Merged with one mode. */
  | 'mode-conflict'
  /** A histogram bucket whose `le` is not a number. That entry is ignored, the rest of the file merged. */
  | 'invalid-bucket';

export interface MergeProblem {
  /** Base name of the file in the directory. */
  file: string;
  problem: MergeProblemKind;
  reason: string;
}

export interface MergeStats {
  /** `*.db` files listed. */
  files: number;
  /** Listed files that contributed nothing (corrupt, missing, unreadable, foreign). */
  filesSkipped: number;
  /** Entries merged, over all files that were read. */
  entries: number;
  /** Entries parsed by this merge: those added since the previous merge (all, on the first). */
  entriesParsed: number;
  bytesRead: number;
  /** Samples in the result. */
  series: number;
}

export interface MergeResult {
  families: Family[];
  problems: MergeProblem[];
  stats: MergeStats;
}

export interface MergeOptions {
  /** Cumulative histogram buckets plus a derived `_count` (true, the exposition), or each bucket's own sum (false, for writing merged data back to files). */
  accumulate?: boolean;
}

/** Samples of one label set, in first-insert order. */
interface SampleGroup {
  samples: Sample[];
}

/** One histogram series' buckets: bounds kept in ascending order, sums aligned with them. */
interface BucketTable {
  series: LabelSet;
  bounds: number[];
  sums: number[];
  labels: LabelPairs[];
  /** Where the next bound is expected: entries list bounds in ascending order. */
  cursor: number;
}

/** One family being merged: rebuilt on every merge. */
class FamilyMerge {
  private mode: GaugeMode | undefined;
  private firstModeFile = '';
  /** Set when gauge files disagree on the mode: each mode with the first file that used it. */
  private modeFiles: Map<GaugeMode, string> | null = null;
  private readonly groups = new Map<string, SampleGroup>();
  private bucketTables: Map<string, BucketTable> | null = null;
  /** Timestamp of each kept sample, in the mostrecent modes. */
  private latest: Map<Sample, number> | null = null;

  constructor(readonly name: string, readonly type: MetricType, readonly help: string) {}

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

  /** Adds one entry's value; false when the entry cannot be merged (a bucket with a non-numeric `le`). */
  add(entry: PreparedEntry, value: number, timestamp: number): boolean {
    if (this.type === 'gauge') {
      this.addGauge(entry, value, timestamp);
    } else if (this.type === 'histogram' && entry.bucket) {
      return this.addBucket(entry.bucket, value);
    } else {
      // Counters, summaries and a histogram's `_sum`: summed per (name, labels).
      const sample = this.find(entry.labels, entry.sampleName) ?? this.insert(entry.labels, entry.sampleName, 0);
      sample.value += value;
    }
    return true;
  }

  private addGauge(entry: PreparedEntry, value: number, timestamp: number): void {
    const mode = this.mode ?? 'all';
    if (mode === 'all' || mode === 'liveall') {
      // One series per process (the pid label); if a key repeats, the last read wins.
      const sample = this.find(entry.labels, entry.sampleName);
      if (sample) sample.value = value;
      else this.insert(entry.labels, entry.sampleName, value);
      return;
    }
    const labels = entry.labelsWithoutPid;
    const sample = this.find(labels, entry.sampleName);
    switch (mode) {
      case 'min':
      case 'livemin':
        if (!sample) this.insert(labels, entry.sampleName, value);
        else if (value < sample.value) sample.value = value;
        return;
      case 'max':
      case 'livemax':
        if (!sample) this.insert(labels, entry.sampleName, value);
        else if (value > sample.value) sample.value = value;
        return;
      case 'sum':
      case 'livesum':
        (sample ?? this.insert(labels, entry.sampleName, 0)).value += value;
        return;
      case 'mostrecent':
      case 'livemostrecent': {
        // Strictly greater than the kept timestamp, starting from 0: ties keep the
        // earlier value and never-set entries (timestamp 0) never produce a sample.
        this.latest ??= new Map();
        if (!(timestamp > (sample ? this.latest.get(sample)! : 0))) return;
        if (sample) sample.value = value;
        this.latest.set(sample ?? this.insert(labels, entry.sampleName, value), timestamp);
        return;
      }
    }
  }

  private addBucket(bucket: BucketEntry, value: number): boolean {
    if (bucket.invalidLe !== null) return false;
    this.bucketTables ??= new Map();
    let table = this.bucketTables.get(bucket.series.key);
    if (!table) {
      table = { series: bucket.series, bounds: [], sums: [], labels: [], cursor: 0 };
      this.bucketTables.set(bucket.series.key, table);
    }
    const { bounds } = table;
    let at = table.cursor < bounds.length && bounds[table.cursor] === bucket.bound ? table.cursor : bounds.indexOf(bucket.bound);
    if (at < 0) {
      // A new bound (NaN is never equal to a known one, as in Python): insert in order.
      at = 0;
      while (at < bounds.length && !(bucket.bound < bounds[at])) at++;
      bounds.splice(at, 0, bucket.bound);
      table.sums.splice(at, 0, 0);
      table.labels.splice(at, 0, bucket.labels);
    }
    table.sums[at] += value;
    table.cursor = at + 1;
    return true;
  }

  private find(labels: LabelSet, name: string): Sample | undefined {
    const group = this.groups.get(labels.key);
    if (!group) return undefined;
    for (const sample of group.samples) if (sample.name === name) return sample;
    return undefined;
  }

  /** Appends a sample to the group of `labels`; `pairs` differ from `labels.pairs` only for buckets (with `le`). */
  private insert(labels: LabelSet, name: string, value: number, pairs: LabelPairs = labels.pairs): Sample {
    let group = this.groups.get(labels.key);
    if (!group) {
      group = { samples: [] };
      this.groups.set(labels.key, group);
    }
    const sample: Sample = { name, labels: pairs, value };
    group.samples.push(sample);
    return sample;
  }

  /** The merged family: groups in creation order, histogram buckets after each series' `_sum`. */
  finish(accumulate: boolean): Family {
    if (this.bucketTables) {
      const bucketName = `${this.name}_bucket`;
      const countName = `${this.name}_count`;
      for (const table of this.bucketTables.values()) {
        let running = 0;
        for (let i = 0; i < table.bounds.length; i++) {
          running += table.sums[i];
          this.insert(table.series, bucketName, accumulate ? running : table.sums[i], table.labels[i]);
        }
        if (accumulate) {
          // A stored `_count` (foreign writer) keeps its place but takes the derived value, as in Python.
          const count = this.find(table.series, countName);
          if (count) count.value = running;
          else this.insert(table.series, countName, running);
        }
      }
    }
    const samples: Sample[] = [];
    for (const group of this.groups.values()) for (const sample of group.samples) samples.push(sample);
    return { name: this.name, help: this.help, type: this.type, samples };
  }
}

/**
 * Merges one directory, again and again: keeps a reader per file across merges, so a
 * merge parses only the entries added since the previous one and re-reads values.
 */
export class DirectoryMerger {
  private readonly files = new Map<string, TrackedFile>();
  private readonly scratch = new ReadBuffer();
  private merges = 0;

  constructor(readonly dir: string) {}

  /**
   * Lists `dir/*.db` (not dot-files) in code-point order and merges every readable file.
   * Bad files are skipped and listed in `problems`; only an unreadable directory throws.
   */
  merge({ accumulate = true }: MergeOptions = {}): MergeResult {
    const listing = this.listDbFiles();
    const mergeNumber = ++this.merges;
    const problems: MergeProblem[] = [];
    const stats: MergeStats = { files: listing.length, filesSkipped: 0, entries: 0, entriesParsed: 0, bytesRead: 0, series: 0 };
    const readFiles: TrackedFile[] = [];
    for (const [name, filePath] of listing) {
      // Keyed by path: during a compaction a temp file stands in for an archive.
      let file = this.files.get(filePath);
      if (!file) {
        file = new TrackedFile(name, parseDbFileName(name), filePath);
        this.files.set(filePath, file);
      }
      file.listedIn = mergeNumber;
      const problem = this.read(file);
      if (problem) {
        problems.push(problem);
        stats.filesSkipped++;
        continue;
      }
      stats.entries += file.prepared.length;
      stats.entriesParsed += file.parsedNow;
      stats.bytesRead += file.reader!.bytesRead;
      readFiles.push(file);
    }
    // Forget files that are gone (a dead process's files deleted, say).
    for (const [name, file] of this.files) if (file.listedIn !== mergeNumber) this.files.delete(name);

    // Pass 1: families in first-seen order (file order, then entry order), type and help
    // from first sight, gauge mode from the last file. Each file's family indexes are
    // resolved to the merged families once, so pass 2 does no name lookups.
    const families = new Map<string, FamilyMerge>();
    const familiesByFile: FamilyMerge[][] = [];
    for (const file of readFiles) {
      const { type, mode } = file.parsedName!;
      const resolved: FamilyMerge[] = [];
      for (let i = 0; i < file.familyNames.length; i++) {
        const name = file.familyNames[i];
        let family = families.get(name);
        if (!family) {
          family = new FamilyMerge(name, type, file.familyHelp[i]);
          families.set(name, family);
        }
        if (mode) family.noteMode(mode, file.name);
        resolved.push(family);
      }
      familiesByFile.push(resolved);
    }

    // Pass 2: every entry's current value into its family.
    for (let f = 0; f < readFiles.length; f++) {
      const file = readFiles[f];
      const resolved = familiesByFile[f];
      const { values, timestamps } = file.reader!;
      let invalidBuckets = 0;
      for (let i = 0; i < file.prepared.length; i++) {
        const entry = file.prepared[i];
        if (!resolved[entry.family].add(entry, values[i], timestamps[i])) invalidBuckets++;
      }
      if (invalidBuckets > 0) {
        problems.push({
          file: file.name,
          problem: 'invalid-bucket',
          reason: `${invalidBuckets} histogram bucket entr${invalidBuckets === 1 ? 'y has' : 'ies have'} an "le" label that is not a number; ignored`,
        });
      }
    }

    const merged: Family[] = [];
    for (const family of families.values()) {
      const result = family.finish(accumulate);
      stats.series += result.samples.length;
      merged.push(result);
      const conflict = family.modeConflict();
      if (conflict) problems.push(conflict);
    }
    return { families: merged, problems, stats };
  }

  /** [name, path] of every file to merge, in name order; honours a compaction in progress. */
  private listDbFiles(): Array<[string, string]> {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      throw new Error(`cannot list metrics directory ${this.dir} (${code})`, { cause: err });
    }
    const dbFiles = names.filter((name) => name.endsWith('.db') && !name.startsWith('.'));
    return [...visibleFiles(this.dir, dbFiles)].sort((a, b) => compareCodePoints(a[0], b[0]));
  }

  /** Reads one file and prepares its new entries; returns why it is skipped, or null. */
  private read(file: TrackedFile): MergeProblem | null {
    file.parsedNow = 0;
    if (!file.reader) {
      return {
        file: file.name,
        problem: 'foreign',
        reason: 'not a metrics file name: expected <counter|histogram|summary>_<id>.db or gauge_<mode>_<id>.db',
      };
    }
    const outcome = file.reader.read(this.scratch);
    if (!outcome.ok) {
      file.reset();
      const legacy = outcome.problem === 'corrupt' && looksLikePre018File(file.reader.path);
      return { file: file.name, problem: outcome.problem, reason: legacy ? `${outcome.reason}; ${PRE_018_HINT}` : outcome.reason };
    }
    file.catchUp(outcome.added, outcome.restarted);
    file.parsedNow = outcome.added.length;
    return null;
  }
}

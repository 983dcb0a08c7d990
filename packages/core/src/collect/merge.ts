// Merges a PROMETHEUS_MULTIPROC_DIR into metric families with the rules of Python's
// MultiProcessCollector (FORMAT.md §7), with one deliberate difference: a bad file is
// skipped and reported in `problems` instead of failing the whole scrape (DESIGN.md
// promise 5). Files are listed in sorted name order, so the output is deterministic
// and equals Python's `expected.txt` for the same directory.
//
// The merge runs on every scrape, so work that depends only on an entry's key (sorted
// label pairs, bucket bound, rendered labels) is done once per distinct key of the
// directory (prepared-keys.ts) and kept across merges; where each entry goes in the
// output is planned once for a set of files (merge-plan.ts), extended with the entries
// files gain, and replayed. A steady merge re-reads values and allocates nothing per
// entry or per output sample.
import fs from 'node:fs';
import path from 'node:path';
import { compareCodePoints } from '../format/key.js';
import { onMemoryFileSystem } from '../format/file-system.js';
import { ARCHIVE_ID, FALLBACK_MARKER_PREFIX, dbFileName, isRetiredProcessId, parseDbFileName } from '../format/names.js';
import { loadValueMapper, ReadBuffer } from '../format/reader.js';
import type { Family } from './exposition.js';
import { visibleFiles } from './compaction.js';
import { JOURNAL_NAME } from './journal.js';
import { MergePlan } from './merge-plan.js';
import { mergeNativeHistograms } from './native-merge.js';
import { mergeSummaryWindows } from './summary-merge.js';
import { KeyCache } from './prepared-keys.js';
import { TrackedFile } from './tracked-file.js';

export type MergeProblemKind =
  /** The file's bytes are not a well-formed metrics file (also: zero-length, ≤0.17 format). Skipped. */
  | 'corrupt'
  /** The file vanished between the listing and the read. Skipped. */
  | 'missing'
  /** Compactions kept committing folds while this merge listed the directory, every time it tried. */
  | 'fold-in-flight'
  /** The file could not be opened or read (permissions, I/O error, a directory). Skipped. */
  | 'unreadable'
  /** A `*.db` name that is not `<type>_<id>.db` / `gauge_<mode>_<id>.db`. Skipped. */
  | 'foreign'
  /** A FIFO, device, socket or directory under a metrics file name. Skipped without blocking. */
  | 'not-regular-file'
  /** More used bytes than a file may have (MAX_USED_BYTES). Skipped without reading. */
  | 'too-large'
  /** An archive replaced by a corrupt one: the last good values are merged instead, nothing folded onto it. */
  | 'stale-archive'
  /** The compaction journal is not one we wrote: ignored (the compactor sets it aside). */
  | 'bad-journal'
  /** One gauge written with different modes by different files. Merged with one mode. */
  | 'mode-conflict'
  /** A histogram bucket whose `le` is not a number. That entry is ignored, the rest of the file merged. */
  | 'invalid-bucket'
  /** Entries Prometheus could not parse (empty name, label names equal once escaped, a bad quantile): left out, the rest served. */
  | 'unexposable'
  /** A metric whose name, once escaped, is taken by an earlier metric (`req.count`, `req_count`): left out, the earlier one served. */
  | 'name-collision';

export interface MergeProblem {
  /** Base name of the file in the directory. */
  file: string;
  problem: MergeProblemKind;
  reason: string;
  /** For entry-level problems: how many entries (or samples) were left out. */
  entries?: number;
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
  /** Writer processes with files listed (archives aside), by storage mode (a fallback marker, or mmap). */
  writers: { mmap: number; fallback: number };
}

export interface MergeResult {
  /**
   * The merged families. Their sample objects are reused by the next merges of the same
   * merger: a family's `samples` (an accessor) writes the last merge's values into them
   * when it is read. Render or copy them before merging again, and do not change them.
   */
  families: Family[];
  problems: MergeProblem[];
  stats: MergeStats;
}

export interface MergeOptions {
  /** Cumulative histogram buckets plus a derived `_count` (true, the exposition), or each bucket's own sum (false, for writing merged data back to files). */
  accumulate?: boolean;
}

interface ListingRead {
  readFiles: TrackedFile[];
  problems: MergeProblem[];
  stats: MergeStats;
  /** Every name the listing saw (the side-file merges pick theirs). */
  names: string[];
}

const MAX_LISTING_ATTEMPTS = 20;
const SLEEPER = new Int32Array(new SharedArrayBuffer(4));

/** The archives a fold can replace: their inodes, and the journal's, change with every fold. */
const ARCHIVE_NAMES = [
  ...(['counter', 'histogram', 'summary'] as const).map((t) => dbFileName(t, ARCHIVE_ID)),
  ...(['sum', 'min', 'max', 'mostrecent'] as const).map((m) => dbFileName('gauge', ARCHIVE_ID, m)),
];

/** What a committed fold changes: the journal's presence and each archive's identity. */
function foldState(dir: string): string {
  let state = '';
  for (const name of [JOURNAL_NAME, ...ARCHIVE_NAMES]) {
    const stat = fs.lstatSync(path.join(dir, name), { throwIfNoEntry: false });
    state += stat ? `${stat.ino}:${stat.size}:${stat.mtimeMs};` : '-;';
  }
  return state;
}

/**
 * Merges one directory, again and again: keeps a reader per file across merges, so a
 * merge parses only the entries added since the previous one and re-reads values.
 */
export class DirectoryMerger {
  private readonly files = new Map<string, TrackedFile>();
  private readonly scratch = new ReadBuffer();
  private merges = 0;
  private plan: MergePlan | null = null;
  private readonly keys = new KeyCache();
  /** The families of the last consistent merge, served again when folds keep a merge from being consistent. */
  private lastFamilies: Family[] | null = null;
  private lastSeries = 0;
  /**
   * Whether the readers keep their files mapped between merges (decided at the first
   * file): only on tmpfs/ramfs, where mapping a file again for every merge costs a page
   * fault per 4 KiB page (a steady scrape at 8 × 10,000 took ~29 ms instead of ~11).
   * Elsewhere the page cache maps a file in larger steps (+2–3 ms there), and releasing
   * each mapping after its copy keeps the workers' pages (~119 MB there) out of this
   * process's RSS.
   */
  private keepMappings: boolean | undefined;

  /**
   * `reserved`: names, escaped, that the caller serves next to the merge (the collector's
   * self-metrics): a merged metric exposed under one of them is left out as a name collision.
   */
  constructor(readonly dir: string, private readonly reserved: ReadonlyMap<string, string> = new Map()) {
    loadValueMapper();
  }

  /**
   * Lists `dir/*.db` (not dot-files) in code-point order and merges every readable file.
   * Bad files are skipped and listed in `problems`; only an unreadable directory throws.
   */
  merge({ accumulate = true }: MergeOptions = {}): MergeResult {
    // A compactor in another process may commit a fold while this merge lists and reads:
    // the listing could then pair a new archive with dead files not yet deleted (counted
    // twice) or an old archive with dead files already gone (a total that goes back). A
    // fold always replaces an archive (a new inode) or commits/removes the journal, so a
    // merge that sees the same fold state before and after its reads saw one consistent
    // directory; otherwise it lists and reads again.
    let read: ListingRead;
    let consistent = false;
    for (let attempt = 1; ; attempt++) {
      const before = foldState(this.dir);
      read = this.readListing();
      consistent = foldState(this.dir) === before;
      if (consistent || attempt >= MAX_LISTING_ATTEMPTS) break;
      // Back off a little once it keeps colliding: a compaction takes milliseconds.
      if (attempt >= 3) Atomics.wait(SLEEPER, 0, 0, attempt);
    }
    const { readFiles, problems, stats } = read;
    const mergeNumber = this.merges;
    // Forget files that are gone (a dead process's files deleted, say).
    for (const [name, file] of this.files) {
      if (file.listedIn !== mergeNumber) {
        this.files.delete(name);
        file.reset();
        file.reader?.close();
      }
    }
    if (!consistent && this.lastFamilies !== null) {
      // Folds kept committing while we read (a compaction loop): serve the previous
      // merge's values, which were consistent, rather than a mix that could count a fold
      // twice or go back. (Only the first merge of a merger has nothing to fall back on.)
      problems.push({ file: '.', problem: 'fold-in-flight', reason: `compactions changed the directory during each of ${MAX_LISTING_ATTEMPTS} listings; served the previous merge's values` });
      return { families: this.lastFamilies, problems, stats: { ...stats, series: this.lastSeries } };
    }

    // The plan changes only when the files' entries do: new entries (a new series, a new
    // worker's files) are placed into it, and a plan that cannot take them as a fresh
    // build would is built again. A mostrecent gauge gaining a sample also makes it
    // stale, which only replaying it can tell.
    if (!this.plan || !this.plan.update(readFiles, accumulate)) this.plan = this.newPlan(readFiles, accumulate);
    if (!this.plan.apply()) {
      this.plan = this.newPlan(readFiles, accumulate);
      this.plan.apply();
    }
    problems.push(...this.plan.problems);
    stats.series = this.plan.series;
    const families = [...this.plan.families];
    // Side files (native histogram buckets) complete the families; read after the
    // consistency check above, so a fold committing meanwhile may show in them a moment early or late.
    problems.push(...mergeNativeHistograms(this.dir, read.names, families));
    problems.push(...mergeSummaryWindows(this.dir, read.names, families));
    this.lastFamilies = families;
    this.lastSeries = this.plan.series;
    return { families, problems, stats };
  }

  /**
   * Releases what the merger holds outside the heap now: each file's read-only mapping.
   * A later merge works (and maps again).
   */
  close(): void {
    for (const file of this.files.values()) file.reader?.close();
  }

  /** Lists the directory and reads every listed file once. */
  private readListing(): ListingRead {
    const problems: MergeProblem[] = [];
    const { listing, fallbackIds, names } = this.listDbFiles(problems);
    const mergeNumber = ++this.merges;
    const stats: MergeStats = {
      files: listing.length, filesSkipped: 0, entries: 0, entriesParsed: 0, bytesRead: 0, series: 0, writers: { mmap: 0, fallback: 0 },
    };
    const writerIds = new Set<string>();
    const readFiles: TrackedFile[] = [];
    for (const [name, filePath] of listing) {
      // Keyed by path: during a compaction a temp file stands in for an archive.
      let file = this.files.get(filePath);
      if (!file) {
        this.keepMappings ??= onMemoryFileSystem(this.dir);
        file = new TrackedFile(name, parseDbFileName(name), filePath, this.keys, this.keepMappings);
        this.files.set(filePath, file);
      }
      file.listedIn = mergeNumber;
      const id = file.parsedName?.id;
      if (id !== undefined && id !== ARCHIVE_ID && !isRetiredProcessId(id) && !writerIds.has(id)) {
        writerIds.add(id);
        stats.writers[fallbackIds.has(id) ? 'fallback' : 'mmap']++;
      }
      const problem = this.read(file);
      if (problem) problems.push(problem);
      if (problem && problem.problem !== 'stale-archive') {
        stats.filesSkipped++;
        continue;
      }
      stats.entries += file.length;
      stats.entriesParsed += file.parsedNow;
      stats.bytesRead += file.reader!.bytesRead;
      readFiles.push(file);
    }
    return { readFiles, problems, stats, names };
  }

  private newPlan(files: TrackedFile[], accumulate: boolean): MergePlan {
    // Entries or files changed: also forget the keys that no file has any more.
    TrackedFile.retainKeys(this.keys, files);
    return MergePlan.build(files, accumulate, this.reserved);
  }

  /**
   * [name, path] of every file to merge, in name order (honours a compaction in progress),
   * and the ids of processes that left a fallback marker.
   */
  private listDbFiles(problems: MergeProblem[]): { listing: Array<[string, string]>; fallbackIds: Set<string>; names: string[] } {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      throw new Error(`cannot list metrics directory ${this.dir} (${code})`, { cause: err });
    }
    const dbFiles = names.filter((name) => name.endsWith('.db') && !name.startsWith('.'));
    const fallbackIds = new Set<string>();
    for (const name of names) if (name.startsWith(FALLBACK_MARKER_PREFIX)) fallbackIds.add(name.slice(FALLBACK_MARKER_PREFIX.length));
    const listing = [...visibleFiles(this.dir, dbFiles, problems)].sort((a, b) => compareCodePoints(a[0], b[0]));
    return { listing, fallbackIds, names };
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
    if (outcome.ok && outcome.stale !== undefined) {
      return { file: file.name, problem: 'stale-archive', reason: `${outcome.stale}; serving its last good values, folding nothing onto it until it is repaired` };
    }
    if (!outcome.ok) {
      file.reset();
      return { file: file.name, problem: outcome.problem, reason: outcome.reason }; // the reason has the ≤0.17 hint if it fits
    }
    file.catchUp();
    file.parsedNow = outcome.newEntries;
    return null;
  }
}

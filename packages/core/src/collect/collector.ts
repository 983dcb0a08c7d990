// A scrape: merge the directory, add this process's own metrics and the collector's
// self-metrics, render. Reads files only; never asks a worker for anything.
import { currentStorageIfChosen } from '../storage/storage.js';
import type { Registry } from '../metrics/registry.js';
import { OPENMETRICS_CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE, exposedNames, type Family } from './exposition.js';
import { CachedExposition, type BodyChanges } from './exposition-cache.js';
import type { Compactor } from './compactor.js';
import { readDirectoryExemplars, readNewestExemplars } from './exemplars.js';
// The protobuf exposition (with protobufjs, ~4 MB of a collector's RSS) loads at the first protobuf scrape.
import { renderProtobuf } from '../lazy/exports.js';
import { PROTOBUF_CONTENT_TYPE } from './protobuf-negotiation.js';
import { DirectoryMerger, type MergeProblem, type MergeProblemKind, type MergeResult, type MergeStats } from './merge.js';

export type ExpositionFormat = 'text' | 'openmetrics';

export interface CollectorOptions {
  directory: string;
  /**
   * Metrics of the collector's own process to serve with the merged ones. Used only while
   * this process keeps values in memory: in multiprocess mode they are already in the files.
   */
  registry?: Registry;
  /** Where problems with files are reported, once per file and reason. Default: console.warn. */
  log?: (message: string) => void;
  /** The directory's compactor, if this collector runs one: its self-metrics are served too. */
  compactor?: Compactor;
  /**
   * Called at the start of every scrape, synchronously. It must not wait for anything;
   * an exception is logged and the scrape goes on. (Used to predict scrapes and signal
   * workers to refresh before the next one: refresh/schedule.ts.)
   */
  onScrape?: () => void;
}

export interface Scrape {
  /** The exposition as UTF-8 bytes: what the server sends. */
  readonly bytes: Buffer;
  /** The exposition as a string (decoded from `bytes` when first asked for). */
  readonly body: string;
  readonly contentType: string;
  /**
   * Offsets in `bytes` where the exposition may be cut into parts that stay the same
   * from scrape to scrape while their lines do (the server's gzip reuses them).
   */
  readonly partEnds: readonly number[];
}

/** A text exposition as the collector's renderer holds it: valid only while it is handed over (`scrapeWith`). */
export interface RenderedExposition {
  readonly bytes: Buffer;
  readonly contentType: string;
  readonly partEnds: readonly number[];
  /** Which bytes changed since the renderer's output before (the server's gzip reuses the parts that did not). */
  readonly changes: BodyChanges;
}

class RenderedScrape implements Scrape {
  private text: string | undefined;
  constructor(readonly bytes: Buffer, readonly contentType: string, readonly partEnds: readonly number[]) {}
  get body(): string {
    return (this.text ??= this.bytes.toString('utf8'));
  }
}

/** Why a file is skipped; each reason is served from the start (at 0), so `increase()` sees the first skip. */
const SKIP_REASONS: readonly MergeProblemKind[] = [
  'corrupt', 'missing', 'unreadable', 'foreign', 'not-regular-file', 'too-large', 'stale-archive', 'bad-journal',
];
/** Why entries are left out of the exposition (also served from 0). */
const ENTRY_SKIP_REASONS: readonly MergeProblemKind[] = ['unexposable', 'name-collision'];

/** Self-metrics in their own namespace; totals since the collector started. */
class SelfMetrics {
  scrapes = 0;
  directoryErrors = 0;
  lastDurationSeconds = 0;
  lastStats: MergeStats | undefined;
  readonly skippedByReason = new Map<string, number>(SKIP_REASONS.map((reason) => [reason, 0]));
  readonly entriesSkippedByReason = new Map<string, number>(ENTRY_SKIP_REASONS.map((reason) => [reason, 0]));
  staleMerges = 0;

  families(): Family[] {
    const stats = this.lastStats;
    const gauge = (name: string, help: string, value: number): Family => ({
      name, help, type: 'gauge', samples: [{ name, labels: [], value }],
    });
    return [
      { name: 'prom_multiproc_scrapes', help: 'Scrapes served by this collector.', type: 'counter', samples: [{ name: 'prom_multiproc_scrapes_total', labels: [], value: this.scrapes }] },
      gauge('prom_multiproc_scrape_duration_seconds', 'Duration of the previous scrape (merge and render).', this.lastDurationSeconds),
      gauge('prom_multiproc_files_read', 'Files merged by the previous scrape.', stats ? stats.files - stats.filesSkipped : 0),
      {
        name: 'prom_multiproc_files_skipped',
        help: 'Files skipped by scrapes, by reason (each skip of each file counts).',
        type: 'counter',
        samples: [...this.skippedByReason].map(([reason, value]) => ({ name: 'prom_multiproc_files_skipped_total', labels: [['reason', reason]], value })),
      },
      {
        name: 'prom_multiproc_entries_skipped',
        help: 'Entries left out of the exposition because Prometheus could not parse them, by reason (counted per scrape).',
        type: 'counter',
        samples: [...this.entriesSkippedByReason].map(([reason, value]) => ({ name: 'prom_multiproc_entries_skipped_total', labels: [['reason', reason]], value })),
      },
      { name: 'prom_multiproc_stale_merges', help: 'Scrapes that served the previous merge because folds kept changing the directory while it was read.', type: 'counter', samples: [{ name: 'prom_multiproc_stale_merges_total', labels: [], value: this.staleMerges }] },
      { name: 'prom_multiproc_directory_errors', help: 'Scrapes that could not list the metrics directory.', type: 'counter', samples: [{ name: 'prom_multiproc_directory_errors_total', labels: [], value: this.directoryErrors }] },
      gauge('prom_multiproc_series', 'Samples merged by the previous scrape.', stats?.series ?? 0),
      gauge('prom_multiproc_bytes_read', 'Bytes read from files by the previous scrape.', stats?.bytesRead ?? 0),
      {
        name: 'prom_multiproc_writer_processes',
        help: 'Processes with metrics files in the directory (archives aside) at the previous scrape, by storage mode: mmap, or fallback (plain writes every 100 ms, where no mmap binary loads).',
        type: 'gauge',
        samples: (['mmap', 'fallback'] as const).map((mode) => ({
          name: 'prom_multiproc_writer_processes', labels: [['storage', mode]], value: stats?.writers[mode] ?? 0,
        })),
      },
    ];
  }
}

export class Collector {
  readonly directory: string;
  private readonly merger: DirectoryMerger;
  private readonly self = new SelfMetrics();
  private readonly reported = new Set<string>();
  private readonly log: (message: string) => void;
  /** Files the previous scrape skipped or merged with a note, and when it ran (for the landing page). */
  lastProblems: readonly MergeProblem[] = [];
  lastScrapeAt: Date | undefined;
  /** How long the previous scrape took to merge (`collect()`) and to render, in seconds. */
  lastMergeSeconds = 0;
  lastRenderSeconds = 0;
  /** One renderer per text format, each reusing its previous output's unchanged lines. */
  private readonly text = new CachedExposition(false);
  private openMetrics: CachedExposition | undefined;

  /** Self-metrics of the parts that serve this collector (the server's refusals). */
  private readonly moreSelfMetrics: Array<() => Family[]> = [];

  constructor(private readonly options: CollectorOptions) {
    this.directory = options.directory;
    // The self-metrics are served after the merge: a merged metric with one of their names would make a second HELP line.
    const reserved = new Map<string, string>();
    for (const family of [...this.self.families(), ...(options.compactor?.selfMetrics() ?? [])]) {
      for (const name of exposedNames(family)) reserved.set(name, `${family.name} (a self-metric)`);
    }
    this.merger = new DirectoryMerger(options.directory, reserved);
    this.log = options.log ?? ((message) => console.warn(message));
  }

  /**
   * Merged families of the directory, the local registry (if in memory) and self-metrics.
   * The merged samples are reused by the next scrape (a family's values are written into
   * them when its `samples` is read): render or copy them before scraping again.
   */
  async collect(): Promise<Family[]> {
    const started = process.hrtime.bigint();
    try {
      this.options.onScrape?.();
    } catch (err) {
      this.logOnce(`prom-multiproc: onScrape hook failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    let merged: MergeResult | undefined;
    try {
      merged = this.merger.merge();
    } catch (err) {
      // The directory itself is gone or unreadable: serve what we have, say why, go on.
      this.self.directoryErrors++;
      this.logOnce(`prom-multiproc: ${err instanceof Error ? err.message : String(err)}; serving no merged metrics until it is back`);
    }
    const families = merged?.families ?? [];
    const stats = merged?.stats;
    this.lastProblems = merged?.problems ?? [];
    this.lastScrapeAt = new Date();
    this.note(this.lastProblems);
    const local = this.options.registry && currentStorageIfChosen()?.directory === undefined
      ? await this.options.registry.families()
      : [];
    this.self.scrapes++;
    this.self.lastStats = stats;
    this.lastMergeSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    // What a caller of collect() alone gets; a scrape sets it to its merge and render.
    this.self.lastDurationSeconds = this.lastMergeSeconds;
    const more = this.moreSelfMetrics.flatMap((source) => source());
    return [...families, ...local, ...this.self.families(), ...(this.options.compactor?.selfMetrics() ?? []), ...more];
  }

  /**
   * Releases the read-only mappings of the directory's files now, rather than when a GC
   * pass finds them. Call it when the collector stops serving; a later scrape maps again.
   */
  close(): void {
    this.merger.close();
  }

  /** Serves the families `source` returns with the self-metrics of every scrape. */
  addSelfMetrics(source: () => Family[]): void {
    this.moreSelfMetrics.push(source);
  }

  /** The directory's compactor, if this collector runs one. */
  get compactor(): Compactor | undefined {
    return this.options.compactor;
  }

  /** Scrapes served so far. */
  get scrapes(): number {
    return this.self.scrapes;
  }

  /** A scrape: its bytes are the caller's to keep. */
  async scrape(format: ExpositionFormat = 'text'): Promise<Scrape> {
    return this.scrapeWith(format, (e) => new RenderedScrape(Buffer.from(e.bytes), e.contentType, e.partEnds));
  }

  /**
   * A scrape whose bytes `use` gets as the renderer holds them, without a copy: a later
   * scrape overwrites them, so `use` must be done with them when it returns (the server
   * compresses or copies them there).
   */
  async scrapeWith<T>(format: ExpositionFormat, use: (exposition: RenderedExposition) => T): Promise<T> {
    const families = await this.collect();
    const started = process.hrtime.bigint();
    let exposition: RenderedExposition;
    if (format !== 'openmetrics') {
      exposition = { bytes: this.text.render(families), contentType: PROMETHEUS_CONTENT_TYPE, partEnds: this.text.partEnds, changes: this.text };
    } else {
      const exemplars = readDirectoryExemplars(this.directory, (p) => this.logOnce(`prom-multiproc: skipped exemplars of ${p.file}: ${p.reason}`));
      const renderer = (this.openMetrics ??= new CachedExposition(true));
      exposition = { bytes: renderer.render(families, exemplars), contentType: OPENMETRICS_CONTENT_TYPE, partEnds: renderer.partEnds, changes: renderer };
    }
    this.rendered(started);
    return use(exposition);
  }

  /** A scrape in the delimited protobuf format (the one that carries native histograms). */
  async scrapeProtobuf(): Promise<{ body: Uint8Array; contentType: string }> {
    const families = await this.collect();
    const started = process.hrtime.bigint();
    const exemplars = readNewestExemplars(this.directory, (p) => this.logOnce(`prom-multiproc: skipped exemplars of ${p.file}: ${p.reason}`));
    const body = renderProtobuf(families, exemplars);
    this.rendered(started);
    return { body, contentType: PROTOBUF_CONTENT_TYPE };
  }

  /** Notes a scrape's render time; the next scrape serves merge + render as its duration self-metric. */
  private rendered(started: bigint): void {
    this.lastRenderSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    this.self.lastDurationSeconds = this.lastMergeSeconds + this.lastRenderSeconds;
  }

  private note(problems: readonly MergeProblem[]): void {
    for (const p of problems) {
      if (p.problem === 'fold-in-flight') {
        this.self.staleMerges++;
      } else if (p.problem === 'unexposable' || p.problem === 'name-collision') {
        this.self.entriesSkippedByReason.set(p.problem, (this.self.entriesSkippedByReason.get(p.problem) ?? 0) + (p.entries ?? 1));
      } else if (SKIP_REASONS.includes(p.problem)) {
        this.self.skippedByReason.set(p.problem, (this.self.skippedByReason.get(p.problem) ?? 0) + 1);
      }
      const fileSkipped = SKIP_REASONS.includes(p.problem);
      this.logOnce(`prom-multiproc: ${fileSkipped ? 'skipped' : 'note'} ${p.file}: ${p.problem}: ${p.reason}`);
    }
  }

  private logOnce(message: string): void {
    if (this.reported.has(message)) return;
    // Bounded: someone creating files under ever new names must not grow this for good.
    if (this.reported.size >= 10_000) this.reported.clear();
    this.reported.add(message);
    this.log(message);
  }
}

// Summary with prom-client's API. Every process stores `x_count` and `x_sum` as Python
// does. Quantiles: in memory, a t-digest window as prom-client; in multiprocess mode, a
// window of exponential buckets in a side file (summary-window.ts) that the collector
// merges over all processes.
import type { Family, Sample } from '../collect/exposition.js';
import { sortLabelPairs } from '../format/key.js';
import { floatToGoString } from '../format/number.js';
import { currentStorage } from '../storage/storage.js';
import { Metric, Series, labeledTimer, seriesTimer, type MetricConfiguration, type MetricObjectWithValues, type MetricValueWithName, type CollectFunction } from './metric.js';
import { TimeWindowQuantiles } from './quantiles.js';
import { SummaryWindowWriter } from './summary-window.js';
import type { SeriesStore } from '../format/mapped-file.js';
import { invalidNumber, type LabelValues } from './validation.js';

export interface SummaryConfiguration<T extends string> extends MetricConfiguration<T> {
  percentiles?: number[];
  maxAgeSeconds?: number;
  ageBuckets?: number;
  pruneAgedBuckets?: boolean;
  compressCount?: number;
  collect?: CollectFunction<Summary<T>>;
}

export declare namespace Summary {
  /** What `labels(...)` returns (prom-client's name for it). */
  interface Internal<T extends string> {
    observe(value: number): void;
    startTimer(): (labels?: LabelValues<T>) => number;
  }
  interface Config {
    percentiles?: number[];
  }
}

export const DEFAULT_PERCENTILES = [0.01, 0.05, 0.5, 0.9, 0.95, 0.99, 0.999];

export class SummarySeries extends Series {
  private observed = 0;

  constructor(
    labels: Record<string, string>,
    private readonly countSlot: number,
    private readonly sumSlot: number,
    readonly quantiles: TimeWindowQuantiles | undefined,
    private readonly compressCount: number,
    /** Multiprocess mode: the window of exponential buckets the collector reads quantiles from. */
    private readonly window: SummaryWindowWriter | null = null,
  ) {
    super(labels);
  }

  observe(value: number): void {
    if (typeof value !== 'number' || !Number.isFinite(value)) throw invalidNumber(value);
    this.values[this.countSlot] += 1;
    this.values[this.sumSlot] += value;
    if (this.quantiles) {
      this.quantiles.push(value);
      if (++this.observed % this.compressCount === 0) this.quantiles.compress();
    }
    if (this.window !== null) this.window.observe(value);
  }

  /** Starts a timer; the returned function observes the elapsed seconds. */
  startTimer(): () => number {
    return seriesTimer((seconds) => this.observe(seconds));
  }

  count(): number {
    return this.values[this.countSlot];
  }

  sum(): number {
    return this.values[this.sumSlot];
  }

  zero(): void {
    this.values[this.countSlot] = 0;
    this.values[this.sumSlot] = 0;
    this.quantiles?.reset();
  }
}

export class Summary<T extends string = string> extends Metric<T, SummarySeries> {
  readonly type = 'summary' as const;
  readonly percentiles: readonly number[];
  private readonly options: SummaryConfiguration<T>;
  /** Quantiles need every observation in one place: only without a multiprocess directory. */
  private readonly keepsQuantiles: boolean;
  private readonly windowStore: SeriesStore | null;
  protected readonly firstSample: { readonly family: string; readonly sample: string };

  constructor(config: SummaryConfiguration<T>) {
    super(config, 'summary');
    this.firstSample = { family: this.name, sample: `${this.name}_count` };
    if (this.labelNames.includes('quantile' as T)) throw new Error('quantile is a reserved label keyword');
    const percentiles = config.percentiles ?? DEFAULT_PERCENTILES;
    for (const p of percentiles) {
      if (typeof p !== 'number' || !(p >= 0 && p <= 1)) throw new Error(`Summary ${this.name}: percentile ${String(p)} is not between 0 and 1`);
    }
    this.percentiles = Object.freeze([...percentiles]);
    this.options = config;
    const storage = currentStorage();
    this.keepsQuantiles = storage.directory === undefined;
    for (const [option, value] of [['maxAgeSeconds', config.maxAgeSeconds], ['ageBuckets', config.ageBuckets]] as const) {
      if (value !== undefined && (typeof value !== 'number' || !(value >= 0) || !Number.isFinite(value))) {
        throw new Error(`Summary ${this.name}: ${option} must be a number of at least 0, got ${String(value)}`);
      }
    }
    if (config.ageBuckets !== undefined && !Number.isInteger(config.ageBuckets)) throw new Error(`Summary ${this.name}: ageBuckets must be an integer, got ${config.ageBuckets}`);
    this.windowStore = this.keepsQuantiles || this.percentiles.length === 0 ? null : storage.sideStoreFor('summarywindow');
    this.initialize();
  }

  protected createSeries(labels: Record<string, string>, pairs: Array<[string, string]>, countSlot: number): SummarySeries {
    const sumSlot = this.slot(`${this.name}_sum`, pairs);
    const quantiles = this.keepsQuantiles
      ? new TimeWindowQuantiles(this.options.maxAgeSeconds, this.options.ageBuckets)
      : undefined;
    const window = this.windowStore === null ? null : new SummaryWindowWriter(
      this.windowStore, this.name, (sampleName) => this.key(sampleName, pairs),
      this.options.maxAgeSeconds ?? 0, this.options.ageBuckets ?? 0, this.percentiles,
    );
    return new SummarySeries(labels, countSlot, sumSlot, quantiles, this.options.compressCount ?? 1000, window);
  }

  /** `observe(value)` or `observe(labels, value)`. */
  observe(labels: LabelValues<T> | number, value?: number): void {
    if (typeof labels === 'object' && labels !== null) this.seriesFor(labels).observe(value as number);
    else this.seriesFor(undefined).observe(labels);
  }

  /** Starts a timer; the returned function observes the elapsed seconds (with extra labels, if given). */
  startTimer(labels?: LabelValues<T>): (endLabels?: LabelValues<T>) => number {
    return labeledTimer(labels, (all, seconds) => this.observe(all, seconds));
  }

  private liveSeries(): SummarySeries[] {
    const all = [...this.allSeries()];
    if (!this.options.pruneAgedBuckets) return all;
    return all.filter((s) => !s.quantiles || s.quantiles.size() > 0);
  }

  /** Zeroes every series and keeps them, as prom-client's summary does. */
  override reset(): void {
    for (const s of this.allSeries()) s.zero();
  }

  /** prom-client's values: per series its quantiles (`quantile` first; in memory only), `_sum`, `_count`. */
  async get(): Promise<MetricObjectWithValues<MetricValueWithName<T>>> {
    await this.runCollect();
    const values: Array<MetricValueWithName<T>> = [];
    for (const s of this.liveSeries()) {
      if (s.quantiles) {
        s.quantiles.compress();
        for (const q of this.percentiles) {
          values.push({ labels: { quantile: q, ...s.given } as LabelValues<T>, value: s.quantiles.percentile(q) || 0 });
        }
      }
      values.push({ labels: s.given as LabelValues<T>, value: s.sum(), metricName: `${this.name}_sum` });
      values.push({ labels: s.given as LabelValues<T>, value: s.count(), metricName: `${this.name}_count` });
    }
    return this.metricObject(values);
  }

  async family(): Promise<Family> {
    await this.runCollect();
    const samples: Sample[] = [];
    for (const s of this.liveSeries()) {
      const labels = Object.entries(s.labels);
      if (s.quantiles) {
        s.quantiles.compress();
        for (const q of this.percentiles) {
          const withQuantile = [...labels, ['quantile', floatToGoString(q)] as [string, string]];
          samples.push({ name: this.name, labels: sortLabelPairs(withQuantile), value: s.quantiles.percentile(q) });
        }
      }
      samples.push({ name: `${this.name}_count`, labels, value: s.count() });
      samples.push({ name: `${this.name}_sum`, labels, value: s.sum() });
    }
    return { name: this.name, help: this.help, type: 'summary', samples };
  }
}

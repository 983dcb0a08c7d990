// Histogram with prom-client's API. Stored as Python does: `x_sum`, then one
// non-cumulative `x_bucket` entry per bound with `le`, `+Inf` last; no `_count` entry.
import type { Family, NativeSeries, Sample } from '../collect/exposition.js';
import { sortLabelPairs } from '../format/key.js';
import { floatToGoString } from '../format/number.js';
import { Metric, Series, labeledTimer, secondsSince, seriesTimer, type MetricConfiguration, type MetricObjectWithValues, type MetricValueWithName, type CollectFunction, type ObserveDataWithExemplar } from './metric.js';
import { invalidNumber, type LabelValue, type LabelValues } from './validation.js';
import { checkExemplarLabels, exemplarNumbers, isEmptyLabelSet, type Exemplar } from './exemplar.js';
import { currentStorage } from '../storage/storage.js';
import type { SeriesStore } from '../format/mapped-file.js';
import { scratchKey } from '../format/key-encoder.js';
import { DEFAULT_MAX_BUCKET_NUMBER, schemaForFactor } from './exponential-buckets.js';
import { NativeBucketWriter } from './native-buckets.js';

export interface HistogramConfiguration<T extends string> extends MetricConfiguration<T> {
  buckets?: number[];
  collect?: CollectFunction<Histogram<T>>;
  /**
   * Makes this a native histogram as well (client_golang's option): exponential buckets,
   * each at most this factor wider than the previous one (above 1; 1.1 gives schema 3).
   * Classic `buckets` are kept alongside unless `buckets: []`.
   */
  nativeHistogramBucketFactor?: number;
  /** Most exponential buckets per series (default 160); passing it lowers the schema. */
  nativeHistogramMaxBucketNumber?: number;
}

export declare namespace Histogram {
  /** What `labels(...)` returns (prom-client's name for it). */
  interface Internal<T extends string> {
    observe(value: number): void;
    startTimer(): (labels?: LabelValues<T>) => void;
  }
  interface Config {
    buckets?: number[];
  }
}

const EMPTY = {};

export const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The latest exemplar of one bucket: prom-client's object and its record in the exemplar file. */
export interface BucketExemplar {
  /** null (a finite bucket) or undefined (+Inf) until the first one, as prom-client reports them. */
  exemplar: Exemplar | null | undefined;
  record: number;
  /** The bucket's `.db` key (the exemplar file names samples by it). */
  readonly key: string;
}

export class HistogramSeries extends Series {
  constructor(
    labels: Record<string, string>,
    private readonly sumSlot: number,
    /**
     * Each bucket's slot (+Inf last) as an offset from `sumSlot`. A new series' entries
     * are appended one after the other, so most series of a histogram have one of a few
     * layouts, and share its array (series creation finds it): no array per series.
     */
    private readonly bucketOffsets: readonly number[],
    private readonly bounds: Float64Array,
    /** The exponential buckets of a native histogram, or null. */
    readonly native: NativeBucketWriter | null = null,
    /** Per bucket (+Inf last), with `enableExemplars`: created with the series, updated in place. */
    readonly exemplars?: BucketExemplar[],
  ) {
    super(labels);
  }

  observe(value: number): void {
    this.observeInBucket(value);
  }

  /** Observes `value`; returns the index of its bucket. */
  observeInBucket(value: number): number {
    if (typeof value !== 'number') throw invalidNumber(value);
    const bounds = this.bounds;
    let b = 0;
    if (!Number.isFinite(value)) {
      // A native histogram takes NaN and ±Inf as client_golang does: counted, added to
      // `_sum`, NaN and +Inf in the +Inf bucket. A classic one refuses them, as prom-client.
      if (this.native === null) throw invalidNumber(value);
      if (value !== -Infinity) b = bounds.length;
    } else {
      while (b < bounds.length && value > bounds[b]) b++;
    }
    this.values[this.sumSlot + this.bucketOffsets[b]] += 1;
    this.values[this.sumSlot] += value;
    if (this.native !== null) this.native.observe(value);
    return b;
  }

  /** Starts a timer; the returned function observes the elapsed seconds. */
  startTimer(): () => number {
    return seriesTimer((seconds) => this.observe(seconds));
  }

  /** Cumulative bucket counts (the last one is +Inf, which is also the count) and the sum. */
  snapshot(): { cumulative: number[]; sum: number } {
    const cumulative: number[] = [];
    let running = 0;
    for (const offset of this.bucketOffsets) cumulative.push((running += this.values[this.sumSlot + offset]));
    return { cumulative, sum: this.values[this.sumSlot] };
  }

  zero(): void {
    this.values[this.sumSlot] = 0;
    for (const offset of this.bucketOffsets) this.values[this.sumSlot + offset] = 0;
    this.native?.zero();
  }
}

export class Histogram<T extends string = string> extends Metric<T, HistogramSeries> {
  readonly type = 'histogram' as const;
  /** Finite upper bounds, ascending; +Inf is implied. */
  readonly upperBounds: readonly number[];
  private readonly bounds: Float64Array;
  private readonly boundLabels: string[];
  /** Schema of a native histogram (from `nativeHistogramBucketFactor`), or null. */
  readonly nativeSchema: number | null;
  readonly nativeMaxBuckets: number;
  private readonly nativeStore: SeriesStore | null;
  private readonly bucketName: string;
  /** Bucket layouts shared by series (at most 64 kept: beyond, a series keeps its own). */
  private readonly bucketLayouts: number[][] = [];
  protected readonly firstSample: { readonly family: string; readonly sample: string };

  constructor(config: HistogramConfiguration<T>) {
    super(config, 'histogram');
    this.firstSample = { family: this.name, sample: `${this.name}_sum` };
    this.bucketName = `${this.name}_bucket`;
    if (this.labelNames.includes('le' as T)) throw new Error('le is a reserved label keyword');
    const buckets = [...(config.buckets ?? DEFAULT_BUCKETS)];
    if (buckets.length > 0 && buckets[buckets.length - 1] === Infinity) buckets.pop();
    for (let i = 0; i < buckets.length; i++) {
      if (typeof buckets[i] !== 'number' || Number.isNaN(buckets[i])) throw new Error(`Histogram ${this.name}: bucket ${String(buckets[i])} is not a number`);
      if (i > 0 && buckets[i] <= buckets[i - 1]) throw new Error(`Histogram ${this.name}: buckets must be in increasing order, got ${buckets.join(', ')}`);
    }
    this.upperBounds = Object.freeze(buckets);
    this.bounds = Float64Array.from(buckets);
    this.boundLabels = [...buckets.map(floatToGoString), '+Inf'];
    const factor = config.nativeHistogramBucketFactor;
    this.nativeSchema = factor === undefined ? null : schemaForFactor(factor);
    const maxBuckets = config.nativeHistogramMaxBucketNumber ?? DEFAULT_MAX_BUCKET_NUMBER;
    if (!Number.isInteger(maxBuckets) || maxBuckets < 1) {
      throw new Error(`Histogram ${this.name}: nativeHistogramMaxBucketNumber must be a positive integer, got ${String(maxBuckets)}`);
    }
    this.nativeMaxBuckets = maxBuckets;
    this.nativeStore = this.nativeSchema === null ? null : currentStorage().sideStoreFor('nativehistogram');
    this.initialize();
  }

  protected createSeries(labels: Record<string, string>, pairs: Array<[string, string]>, sumSlot: number): HistogramSeries {
    const labelsOfBuckets = this.boundLabels;
    const offsets: number[] = [];
    const exemplars: BucketExemplar[] | undefined = this.enableExemplars ? [] : undefined;
    for (let b = 0; b < labelsOfBuckets.length; b++) {
      offsets.push(this.slot(this.bucketName, pairs, this.name, 'le', labelsOfBuckets[b]) - sumSlot);
      // The encoded key is still in the scratch buffer: its text, only where exemplars need it.
      exemplars?.push({ exemplar: b < this.bounds.length ? null : undefined, record: -1, key: scratchKey.toString() });
    }
    const native = this.nativeStore === null ? null
      : new NativeBucketWriter(this.nativeStore, this.name, (sampleName) => this.key(sampleName, pairs), this.nativeSchema!, this.nativeMaxBuckets, [...pairs]);
    return new HistogramSeries(labels, sumSlot, this.sharedLayout(offsets), this.bounds, native, exemplars);
  }

  /** An equal bucket layout seen before (one of a few: see `HistogramSeries.bucketOffsets`), else `offsets`. */
  private sharedLayout(offsets: number[]): readonly number[] {
    for (const layout of this.bucketLayouts) {
      let same = true;
      for (let b = 0; b < offsets.length && same; b++) same = layout[b] === offsets[b];
      if (same) return layout;
    }
    if (this.bucketLayouts.length < 64) this.bucketLayouts.push(offsets);
    return offsets;
  }

  /**
   * `observe(value)` or `observe(labels, value)`; with `enableExemplars`, prom-client's
   * `observe({ labels, value, exemplarLabels })`.
   */
  observe(value: number): void;
  observe(labels: LabelValues<T>, value: number): void;
  observe(observeData: ObserveDataWithExemplar<T>): void;
  observe(labels: LabelValues<T> | ObserveDataWithExemplar<T> | number, value?: number): void {
    if (this.enableExemplars && typeof labels === 'object' && labels !== null) {
      this.observeWithExemplar(labels as ObserveDataWithExemplar<T>);
      return;
    }
    if (typeof labels === 'object' && labels !== null) this.seriesFor(labels as LabelValues<T>).observe(value as number);
    else this.seriesFor(undefined).observe(labels);
  }

  private observeWithExemplar(data: ObserveDataWithExemplar<T>): void {
    const exemplarLabels = data.exemplarLabels;
    // Checked before the observation: a refused exemplar changes nothing.
    if (exemplarLabels !== undefined) checkExemplarLabels(exemplarLabels);
    const series = this.seriesFor(data.labels ?? EMPTY);
    const b = series.observeInBucket(data.value);
    // As prom-client: no exemplar for an empty label set.
    if (exemplarLabels === undefined || isEmptyLabelSet(exemplarLabels)) return;
    const kept = series.exemplars![b];
    exemplarNumbers[0] = data.value;
    kept.record = this.keepExemplar(kept, kept.key, kept.record, exemplarLabels);
  }

  /** Starts a timer; the returned function observes the elapsed seconds (with extra labels, if given). */
  startTimer(labels?: LabelValues<T>, exemplarLabels?: LabelValues<T>): (endLabels?: LabelValues<T>, endExemplarLabels?: LabelValues<T>) => number {
    if (this.enableExemplars) {
      const start = process.hrtime.bigint();
      return (endLabels, endExemplarLabels) => {
        const value = secondsSince(start);
        this.observeWithExemplar({ labels: { ...labels, ...endLabels } as LabelValues<T>, value, exemplarLabels: { ...exemplarLabels, ...endExemplarLabels } as LabelValues<T> });
        return value;
      };
    }
    return labeledTimer(labels, (all, seconds) => this.seriesFor(all).observe(seconds));
  }

  /**
   * Exports a label set at zero before its first observation. In memory an existing series
   * is reset, as prom-client does; in a file it is left as it is (bucket counts there never go down).
   */
  override zero(labels?: LabelValues<T>): void {
    const series = this.seriesFor(labels);
    if (this.inMemory) series.zero();
  }

  /** Forgets every series; an unlabeled histogram shows none until its next observation (prom-client). */
  override reset(): void {
    super.reset(false);
  }

  /** prom-client's values: per series its cumulative buckets (`le` first), `_sum`, `_count`. */
  async get(): Promise<MetricObjectWithValues<MetricValueWithName<T>>> {
    const data = await this.getForPromString();
    return { ...data, values: data.values.map(({ sharedLabels, labels, ...rest }) => ({ ...rest, labels: { ...labels, ...sharedLabels } as LabelValues<T> })) };
  }

  /** As `get()`, with each series' own labels apart (`sharedLabels`), the way prom-client's registry renders them. */
  async getForPromString(): Promise<MetricObjectWithValues<MetricValueWithName<T> & { sharedLabels: Record<string, LabelValue> }>> {
    await this.runCollect();
    const values = [];
    const bucketName = `${this.name}_bucket`;
    for (const s of this.allSeries()) {
      const { cumulative, sum } = s.snapshot();
      const count = cumulative[cumulative.length - 1];
      const shared = s.given;
      for (let i = 0; i < cumulative.length; i++) {
        const le = i < this.upperBounds.length ? this.upperBounds[i] : '+Inf';
        const exemplar = s.exemplars ? s.exemplars[i].exemplar : null;
        values.push({ labels: { le } as LabelValues<T>, sharedLabels: shared, value: cumulative[i], metricName: bucketName, exemplar });
      }
      values.push({ labels: {} as LabelValues<T>, sharedLabels: shared, value: sum, metricName: `${this.name}_sum`, exemplar: undefined });
      values.push({ labels: {} as LabelValues<T>, sharedLabels: shared, value: count, metricName: `${this.name}_count`, exemplar: undefined });
    }
    return this.metricObject(values);
  }

  async family(): Promise<Family> {
    await this.runCollect();
    const samples: Sample[] = [];
    const native: NativeSeries[] = [];
    for (const s of this.allSeries()) {
      if (s.native) native.push({ labels: s.native.labels, buckets: s.native.snapshot() });
      const { cumulative, sum } = s.snapshot();
      const labels = Object.entries(s.labels);
      samples.push({ name: `${this.name}_sum`, labels, value: sum });
      for (let i = 0; i < cumulative.length; i++) {
        const withLe = sortLabelPairs([...labels, ['le', this.boundLabels[i]] as [string, string]]);
        samples.push({ name: `${this.name}_bucket`, labels: withLe, value: cumulative[i] });
      }
      samples.push({ name: `${this.name}_count`, labels, value: cumulative[cumulative.length - 1] });
    }
    return { name: this.name, help: this.help, type: 'histogram', samples, ...(this.nativeSchema === null ? {} : { native }) };
  }
}

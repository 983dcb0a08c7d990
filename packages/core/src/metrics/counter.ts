// Counter with prom-client's API. Stored as Python does: family `x` (a `_total` suffix
// is dropped), sample `x_total`.
import type { Family } from '../collect/exposition.js';
import { Metric, Series, type IncreaseDataWithExemplar, type MetricConfiguration, type MetricObjectWithValues, type MetricValue, type CollectFunction } from './metric.js';
import { invalidNumber, type LabelValues } from './validation.js';
import { checkExemplarLabels, exemplarNumbers, type Exemplar } from './exemplar.js';

export interface CounterConfiguration<T extends string> extends MetricConfiguration<T> {
  collect?: CollectFunction<Counter<T>>;
}

const EMPTY = {};

export declare namespace Counter {
  /** What `labels(...)` returns (prom-client's name for it). */
  interface Internal {
    inc(value?: number): void;
  }
}

/** A counter series' latest exemplar, with `enableExemplars`. */
export interface CounterExemplar {
  /** prom-client's object; undefined until the first one. */
  exemplar: Exemplar | undefined;
  /** Its record in the exemplar file; -1 until the first exemplar in multiprocess mode. */
  record: number;
  /** The series' `.db` key (the exemplar file names samples by it). */
  readonly key: string;
}

export class CounterSeries extends Series {
  /** `exemplar`: only with `enableExemplars` (one field, not three, on every series). */
  constructor(labels: Record<string, string>, private readonly slot: number, readonly exemplar: CounterExemplar | null) {
    super(labels);
  }

  inc(value?: number): void {
    if (value === undefined || value === null) {
      this.values[this.slot] += 1;
      return;
    }
    if (typeof value !== 'number' || !(value >= 0 && value !== Infinity)) throw badIncrement(value);
    this.values[this.slot] += value;
  }

  get(): number {
    return this.values[this.slot];
  }

  zero(): void {
    this.values[this.slot] = 0;
  }
}

function badIncrement(value: unknown): Error {
  if (typeof value === 'number' && value < 0) return new Error('It is not possible to decrease a counter');
  return invalidNumber(value);
}

export class Counter<T extends string = string> extends Metric<T, CounterSeries> {
  readonly type = 'counter' as const;
  private readonly familyName: string;
  protected readonly firstSample: { readonly family: string; readonly sample: string };

  constructor(config: CounterConfiguration<T>) {
    super(config, 'counter');
    this.familyName = this.name.endsWith('_total') ? this.name.slice(0, -6) : this.name;
    this.firstSample = { family: this.familyName, sample: `${this.familyName}_total` };
    this.initialize();
  }

  protected createSeries(labels: Record<string, string>, pairs: Array<[string, string]>, firstSlot: number): CounterSeries {
    // The key only where exemplars need it: it is in the file already, and ~200 bytes a series.
    const exemplar = this.enableExemplars ? { exemplar: undefined, record: -1, key: this.key(this.firstSample.sample, pairs, this.familyName) } : null;
    return new CounterSeries(labels, firstSlot, exemplar);
  }

  /**
   * `inc()`, `inc(value)`, `inc(labels)` or `inc(labels, value)`; with `enableExemplars`,
   * prom-client's `inc({ labels, value, exemplarLabels })`.
   */
  inc(labels: LabelValues<T>, value?: number): void;
  inc(value?: number): void;
  inc(incData: IncreaseDataWithExemplar<T>): void;
  inc(labels?: LabelValues<T> | IncreaseDataWithExemplar<T> | number, value?: number): void {
    if (this.enableExemplars) {
      const data = (labels ?? EMPTY) as IncreaseDataWithExemplar<T>;
      const exemplarLabels = data.exemplarLabels;
      // Checked before the increment: a refused exemplar changes nothing.
      if (exemplarLabels !== undefined) checkExemplarLabels(exemplarLabels);
      const series = this.seriesFor(data.labels ?? EMPTY);
      const by = data.value === undefined ? 1 : data.value;
      series.inc(by);
      // As prom-client: an exemplar whenever exemplarLabels is given ({} too), its value the increment.
      if (exemplarLabels !== undefined) {
        exemplarNumbers[0] = by ? by : 1;
        const kept = series.exemplar!;
        kept.record = this.keepExemplar(kept, kept.key, kept.record, exemplarLabels);
      }
      return;
    }
    if (labels === undefined || typeof labels !== 'object' || labels === null) {
      this.seriesFor(undefined).inc(labels as number | undefined);
    } else {
      this.seriesFor(labels as LabelValues<T>).inc(value);
    }
  }

  async get(): Promise<MetricObjectWithValues<MetricValue<T>>> {
    await this.runCollect();
    if (!this.enableExemplars) return this.metricObject(this.singleValues((s) => s.get()));
    // prom-client's value objects carry `exemplar` once one was recorded.
    return this.metricObject([...this.allSeries()].map((s) => (s.exemplar?.exemplar
      ? { value: s.get(), labels: s.given as LabelValues<T>, exemplar: s.exemplar.exemplar }
      : { value: s.get(), labels: s.given as LabelValues<T> })));
  }

  async family(): Promise<Family> {
    await this.runCollect();
    return this.singleValueFamily('counter', this.familyName, `${this.familyName}_total`, (s) => s.get());
  }
}

// Counter with prom-client's API. Stored as Python does: family `x` (a `_total` suffix
// is dropped), sample `x_total`.
import type { Family } from '../collect/exposition.js';
import { Metric, Series, type MetricConfiguration, type MetricObjectWithValues } from './metric.js';
import { invalidNumber, type LabelValues } from './validation.js';

export type CounterConfiguration<T extends string> = MetricConfiguration<T>;

export class CounterSeries extends Series {
  constructor(labels: Record<string, string>, private readonly slot: number) {
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

  constructor(config: CounterConfiguration<T>) {
    super(config, 'counter');
    this.familyName = this.name.endsWith('_total') ? this.name.slice(0, -6) : this.name;
    this.initialize();
  }

  protected createSeries(labels: Record<string, string>, pairs: Array<[string, string]>): CounterSeries {
    const key = this.key(`${this.familyName}_total`, pairs, this.familyName);
    return new CounterSeries(labels, this.store.slotFor(key));
  }

  /** `inc()`, `inc(value)`, `inc(labels)` or `inc(labels, value)`. */
  inc(labels?: LabelValues<T> | number, value?: number): void {
    if (labels === undefined || typeof labels !== 'object' || labels === null) {
      this.seriesFor(undefined).inc(labels as number | undefined);
    } else {
      this.seriesFor(labels).inc(value);
    }
  }

  async get(): Promise<MetricObjectWithValues<T>> {
    await this.runCollect();
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: this.singleValues((s) => s.get()) };
  }

  async family(): Promise<Family> {
    await this.runCollect();
    return this.singleValueFamily('counter', this.familyName, `${this.familyName}_total`, (s) => s.get());
  }
}

// Gauge with prom-client's API and Python's multiprocess modes.
import type { Family } from '../collect/exposition.js';
import { isGaugeMode, type GaugeMode } from '../format/names.js';
import { clock } from './clock.js';
import { Metric, Series, labeledTimer, seriesTimer, type MetricConfiguration, type MetricObjectWithValues, type MetricValue, type CollectFunction } from './metric.js';
import { invalidNumber, type LabelValues } from './validation.js';

export interface GaugeConfiguration<T extends string> extends MetricConfiguration<T> {
  /**
   * How the collector merges this gauge across processes (Python's multiprocess_mode).
   * Default `livesum`: the sum over live processes, which is what prom-client's
   * AggregatorRegistry reports by default, without the per-pid series of Python's `all`.
   */
  multiprocessMode?: GaugeMode;
  collect?: CollectFunction<Gauge<T>>;
}

export declare namespace Gauge {
  /** What `labels(...)` returns (prom-client's name for it). */
  interface Internal<T extends string> {
    inc(value?: number): void;
    dec(value?: number): void;
    set(value: number): void;
    setToCurrentTime(): void;
    startTimer(): (labels?: LabelValues<T>) => number;
  }
}

export const DEFAULT_GAUGE_MODE: GaugeMode = 'livesum';

export class GaugeSeries extends Series {
  constructor(
    labels: Record<string, string>,
    private readonly slot: number,
    private readonly gauge: { readonly name: string; readonly stampsTime: boolean },
  ) {
    super(labels);
  }

  set(value: number): void {
    if (typeof value !== 'number') throw invalidNumber(value);
    this.values[this.slot] = value;
    if (this.gauge.stampsTime) this.values[this.slot + 1] = clock.now();
  }

  inc(value?: number): void {
    this.add(value === undefined ? 1 : value);
  }

  dec(value?: number): void {
    this.add(value === undefined ? -1 : -value);
  }

  setToCurrentTime(): void {
    this.set(Date.now() / 1000);
  }

  /** Starts a timer; the returned function sets the gauge to the elapsed seconds. */
  startTimer(): () => number {
    return seriesTimer((seconds) => this.set(seconds));
  }

  get(): number {
    return this.values[this.slot];
  }

  zero(): void {
    this.values[this.slot] = 0;
    this.values[this.slot + 1] = 0;
  }

  private add(delta: number): void {
    if (typeof delta !== 'number' || Number.isNaN(delta)) throw invalidNumber(delta, 'Delta');
    if (this.gauge.stampsTime) {
      throw new Error(`Gauge ${this.gauge.name} is in a mostrecent mode: only set() is allowed, not inc() or dec()`);
    }
    this.values[this.slot] += delta;
  }
}

export class Gauge<T extends string = string> extends Metric<T, GaugeSeries> {
  readonly type = 'gauge' as const;
  readonly multiprocessMode: GaugeMode;
  readonly stampsTime: boolean;
  protected readonly firstSample: { readonly family: string; readonly sample: string };

  constructor(config: GaugeConfiguration<T>) {
    const mode = config?.multiprocessMode ?? DEFAULT_GAUGE_MODE;
    if (!isGaugeMode(mode)) {
      throw new Error(`Invalid multiprocessMode "${String(mode)}" for gauge ${config.name}: use one of all, liveall, min, livemin, max, livemax, sum, livesum, mostrecent, livemostrecent`);
    }
    super(config, 'gauge', mode);
    this.multiprocessMode = mode;
    this.firstSample = { family: this.name, sample: this.name };
    this.stampsTime = mode === 'mostrecent' || mode === 'livemostrecent';
    this.initialize();
  }

  protected createSeries(labels: Record<string, string>, _pairs: Array<[string, string]>, firstSlot: number): GaugeSeries {
    return new GaugeSeries(labels, firstSlot, this);
  }

  set(labels: LabelValues<T> | number, value?: number): void {
    if (typeof labels === 'object' && labels !== null) this.seriesFor(labels).set(value as number);
    else this.seriesFor(undefined).set(labels);
  }

  inc(labels?: LabelValues<T> | number, value?: number): void {
    if (typeof labels === 'object' && labels !== null) this.seriesFor(labels).inc(value);
    else this.seriesFor(undefined).inc(labels);
  }

  dec(labels?: LabelValues<T> | number, value?: number): void {
    if (typeof labels === 'object' && labels !== null) this.seriesFor(labels).dec(value);
    else this.seriesFor(undefined).dec(labels);
  }

  setToCurrentTime(labels?: LabelValues<T>): void {
    this.seriesFor(labels).setToCurrentTime();
  }

  /** Starts a timer; the returned function sets the gauge (with extra labels, if given) to the elapsed seconds. */
  startTimer(labels?: LabelValues<T>): (endLabels?: LabelValues<T>) => number {
    return labeledTimer(labels, (all, seconds) => this.set(all, seconds));
  }

  async get(): Promise<MetricObjectWithValues<MetricValue<T>>> {
    await this.runCollect();
    return this.metricObject(this.singleValues((s) => s.get()));
  }

  async family(): Promise<Family> {
    await this.runCollect();
    return this.singleValueFamily('gauge', this.name, this.name, (s) => s.get());
  }
}

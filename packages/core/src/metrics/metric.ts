// The base every metric type shares: configuration checks, registration, and the
// series cache. A label set is resolved to its child once; later calls walk a tree
// keyed by the raw label values (label-tree.ts), so a labeled update builds no hash string.
import { encodeKey, sortLabelPairs } from '../format/key.js';
import { scratchKey } from '../format/key-encoder.js';
import { LabelTree } from './label-tree.js';
import type { SeriesStore, ValueHolder } from '../format/mapped-file.js';
import type { GaugeMode, MetricType as StoredType } from '../format/names.js';
import { currentStorage, type Storage } from '../storage/storage.js';
import type { ExemplarFile } from '../format/exemplar-file.js';
import { exemplarNumbers, updateExemplar, type Exemplar } from './exemplar.js';
import { collectOnRefresh } from '../refresh/collect-callbacks.js';
import { OPENMETRICS_CONTENT_TYPE, unexposableLabels, type Family } from '../collect/exposition.js';
import { globalRegistry, type OpenMetricsContentType, type PrometheusContentType, type Registry, type RegistryContentType } from './registry.js';
import {
  labelsFromArgs, unknownLabelError, validateLabel, validateLabelName, validateMetricName,
  type LabelValue, type LabelValues,
} from './validation.js';

const EMPTY_LABELS: Record<string, LabelValue> & LabelValues<never> = Object.freeze({});

export type Aggregator = 'omit' | 'sum' | 'first' | 'min' | 'max' | 'average';

/**
 * prom-client's declaration of metric types, kept for code typed against it. As in
 * prom-client it has no value at run time: `get()` returns the type as a string
 * ('counter', 'gauge', 'histogram', 'summary').
 */
export declare enum MetricType {
  Counter,
  Gauge,
  Histogram,
  Summary,
}

/** A `collect` callback: runs before the metric is read, with `this` the metric. */
export type CollectFunction<T> = (this: T) => void | Promise<void>;

export interface MetricConfiguration<T extends string> {
  name: string;
  help: string;
  labelNames?: T[] | readonly T[];
  registers?: Array<Registry<PrometheusContentType> | Registry<OpenMetricsContentType>>;
  aggregator?: Aggregator;
  collect?: CollectFunction<any>;
  /**
   * prom-client's exemplar call forms (`inc({ labels, value, exemplarLabels })`); the latest
   * exemplar per counter series or histogram bucket is kept (and, in multiprocess mode,
   * written to this process's exemplar file). Only on OpenMetrics registries.
   */
  enableExemplars?: boolean;
}

export interface IncreaseDataWithExemplar<T extends string> {
  value?: number;
  labels?: LabelValues<T>;
  exemplarLabels?: LabelValues<T>;
}

export interface ObserveDataWithExemplar<T extends string> {
  value: number;
  labels?: LabelValues<T>;
  exemplarLabels?: LabelValues<T>;
}

export type MetricValue<T extends string> = {
  value: number;
  labels: LabelValues<T>;
};

export type MetricValueWithName<T extends string> = MetricValue<T> & {
  metricName?: string;
};

/** A metric as `get()` describes it (prom-client's shape). */
export interface MetricObject {
  name: string;
  help: string;
  type: MetricType;
  aggregator: Aggregator;
  collect: CollectFunction<any>;
}

export interface MetricObjectWithValues<T extends MetricValue<string>> extends MetricObject {
  values: T[];
}

/** A series: the slots it owns in the store, and its canonical labels. */
export abstract class Series implements ValueHolder {
  values!: Float64Array;
  /**
   * The labels as the call that created the series gave them (names in the caller's order,
   * values as given: a number stays a number), then the process labels: what `get()`
   * returns and prom-client's text shows.
   */
  given: Record<string, LabelValue> = EMPTY_LABELS;
  constructor(readonly labels: Record<string, string>) {}
  /** Sets every value this series owns to zero. */
  abstract zero(): void;
}

export abstract class Metric<T extends string, Child extends Series> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly T[];
  readonly aggregator: Aggregator;
  readonly collect?: (this: any) => void | Promise<void>;
  abstract readonly type: StoredType;

  protected readonly store: SeriesStore;
  /** Values in memory (no directory): a metric object owns them, as in prom-client. */
  protected readonly inMemory: boolean;
  private readonly sortedLabelNames: T[];
  private readonly knownLabel: Record<string, true> = Object.create(null);
  /** The storage's process labels that this metric does not declare itself (added to every series). */
  private readonly processLabels: ReadonlyArray<readonly [string, string]>;
  /** Every series, in creation order. */
  private readonly series: Child[] = [];
  /**
   * Label values, level by level in `labelNames` order -> series: the raw values of every
   * call that reached a series (200 and '200' both), and its canonical values (strings),
   * by which a new label set finds a series it shares with another (no label-set string kept).
   */
  private tree = new LabelTree<Child>();
  private bare: Child | undefined;
  /** The first sample of each series (its family and sample name in the key): its slot is the series' identity. */
  protected abstract readonly firstSample: { readonly family: string; readonly sample: string };

  constructor(config: MetricConfiguration<T>, type: StoredType, mode?: GaugeMode) {
    if (config === null || typeof config !== 'object') throw new TypeError('constructor expected a config object');
    if (!config.help) throw new Error('Missing mandatory help parameter');
    if (!config.name) throw new Error('Missing mandatory name parameter');
    if (!validateMetricName(config.name)) throw new Error(`Invalid metric name: "${config.name}"`);
    const labelNames = config.labelNames ?? [];
    if (!Array.isArray(labelNames) || !validateLabelName(labelNames)) {
      throw new Error(`Invalid label name: ${JSON.stringify(labelNames)}`);
    }
    if (new Set(labelNames).size !== labelNames.length) throw new Error(`Duplicate label name in ${JSON.stringify(labelNames)}`);
    // With UTF-8 names, `a-b` and `a_b` are both `a_b` in the exposition: such a series could never be scraped.
    const unexposable = unexposableLabels(labelNames.map((n) => [n, '']));
    if (unexposable !== null) throw new Error(`Invalid label names for ${config.name}: ${unexposable}`);
    if (config.collect !== undefined && typeof config.collect !== 'function') {
      throw new Error('Optional "collect" parameter must be a function');
    }
    this.name = config.name;
    // A lone surrogate cannot be encoded as UTF-8 (Python's collector raises on it): U+FFFD, as Node's encoder writes it.
    this.help = String(config.help).toWellFormed();
    this.labelNames = [...labelNames];
    this.aggregator = config.aggregator ?? 'sum';
    this.collect = config.collect;
    this.sortedLabelNames = sortLabelPairs(this.labelNames.map((n) => [n, ''] as [T, string])).map((p) => p[0]);
    for (const label of this.labelNames) this.knownLabel[label] = true;
    const storage = currentStorage();
    this.storage = storage;
    this.store = storage.storeFor(type, mode);
    this.inMemory = storage.directory === undefined;
    this.processLabels = storage.labels.filter(([name]) => this.knownLabel[name] !== true);
    const withProcess = unexposableLabels([...this.labelNames.map((n) => [n, ''] as const), ...this.processLabels]);
    if (withProcess !== null) throw new Error(`Invalid label names for ${config.name} with the process labels: ${withProcess}`);
    this.registers = config.registers ?? [globalRegistry];
    this.enableExemplars = config.enableExemplars === true;
    this.store.attach(this.seriesMemory);
    if (this.enableExemplars && this.registers.some((r) => r.contentType !== OPENMETRICS_CONTENT_TYPE)) {
      throw new TypeError('Exemplars are supported only on OpenMetrics registries');
    }
  }

  /** prom-client's exemplar call forms are accepted and the latest exemplars kept. */
  readonly enableExemplars: boolean;

  private readonly storage: Storage;
  /** This process's exemplar file, once an exemplar was written in multiprocess mode. */
  private exemplarOut: ExemplarFile | undefined;

  /**
   * Keeps `labelSet`, with the value in `exemplarNumbers[0]`, as the latest exemplar of one
   * sample (`key`, its `.db` key): in `kept.exemplar` (prom-client's object, reused) and,
   * in multiprocess mode, in the sample's record of the exemplar file (`record`, -1 until
   * allocated). Returns the record.
   */
  protected keepExemplar(kept: { exemplar: Exemplar | null | undefined }, key: string, record: number, labelSet: LabelValues<string>): number {
    kept.exemplar = updateExemplar(kept.exemplar, labelSet);
    if (this.inMemory) return -1;
    if (record < 0) {
      this.exemplarOut ??= this.storage.exemplarFile();
      record = this.exemplarOut!.recordFor(key);
    }
    this.exemplarOut!.write(record, labelSet, exemplarNumbers);
    return record;
  }

  private readonly registers: Array<Registry<RegistryContentType>>;

  /** Subclasses call this last in their constructor, when their own fields are set. */
  protected initialize(): void {
    if (this.labelNames.length === 0) this.bare = this.seriesFor(EMPTY_LABELS);
    for (const registry of this.registers) registry.registerMetric(this as unknown as AnyMetric);
    // Nobody scrapes a worker's registry in multiprocess mode: its callback runs on refresh.
    if (this.collect) collectOnRefresh(this);
  }

  /**
   * Allocates a new series for canonical labels (`pairs` sorted by name); `firstSlot` is
   * the slot of its first sample (`firstSample`), already in the store.
   */
  protected abstract createSeries(labels: Record<string, string>, pairs: Array<[string, string]>, firstSlot: number): Child;

  /** Encodes one sample's key in the Python format, as a string (for side files and exemplars). */
  protected key(sampleName: string, pairs: Array<readonly [string, string]>, familyName = this.name): string {
    return encodeKey(familyName, sampleName, pairs, this.help);
  }

  /**
   * The slot of one sample of a series, its entry appended the first time. The key is
   * encoded as bytes in a reused buffer (`scratchKey`, whose text a caller may read right
   * after); `extraName`/`extraValue` is one more label (a bucket's `le`).
   */
  protected slot(sampleName: string, pairs: Array<readonly [string, string]>, familyName = this.name, extraName?: string, extraValue?: string): number {
    return this.store.slotOf(scratchKey.encode(familyName, sampleName, pairs, this.help, extraName, extraValue));
  }

  /** The series for a label object; the hot path of every labeled call. */
  protected seriesFor(labels: LabelValues<T> | undefined): Child {
    if (labels === undefined) return this.bare ?? this.resolve(EMPTY_LABELS);
    for (const name in labels) {
      if (this.knownLabel[name] !== true) throw unknownLabelError(name, this.labelNames);
    }
    const names = this.labelNames;
    if (names.length === 0) return this.bare ?? this.resolve(labels);
    return this.tree.find(labels, names) ?? this.resolve(labels);
  }

  /** The canonical pairs of a label set (own labels and process labels, sorted by name). */
  private canonicalPairs(labels: LabelValues<T>): Array<[string, string]> {
    const pairs: Array<[string, string]> = [];
    for (const name of this.sortedLabelNames) {
      const value = labels[name];
      if (value === undefined) continue;
      if (typeof value !== 'string' && typeof value !== 'number') {
        throw new TypeError(`Label "${name}" of ${this.name} must be a string or a number, got ${typeof value}`);
      }
      const text = String(value);
      // A lone surrogate ('\ud800', say from a decoded URL) has no UTF-8 form: written as is,
      // Python's collector fails on the whole directory. Replaced by U+FFFD, which is what
      // the exposition would show anyway; checked here, once per new label set, never per update.
      pairs.push([name, text.isWellFormed() ? text : text.toWellFormed()]);
    }
    if (this.processLabels.length > 0) {
      for (const pair of this.processLabels) pairs.push([pair[0], pair[1]]);
      sortLabelPairs(pairs);
    }
    return pairs;
  }

  /** Finds or creates the series of a label set and caches it in the tree. */
  private resolve(labels: LabelValues<T>): Child {
    const names = this.labelNames;
    const pairs = this.canonicalPairs(labels);
    // Built from the sorted pairs, so its key order is the exposition's.
    const canonical: Record<string, string> = Object.fromEntries(pairs);
    let series = (names.length > 0 ? this.tree.find(canonical, names) : this.bare) as Child | undefined;
    if (!series) {
      series = this.createSeries(canonical, pairs, this.slot(this.firstSample.sample, pairs, this.firstSample.family));
      series.given = this.givenLabels(labels, series.labels);
      // After createSeries: the store may have grown (and moved) while it made the entries.
      series.values = this.store.values;
      this.series.push(series);
      if (names.length > 0) this.tree.add(series.labels, names, series);
      else this.bare = series;
    }
    if (names.length > 0) {
      let raw = false;
      for (let i = 0; i < names.length && !raw; i++) raw = labels[names[i]] !== series.labels[names[i]];
      if (raw) this.tree.add(labels, names, series);
    }
    return series;
  }

  /** The tree of the canonical values of every series (after a series is forgotten). */
  private rebuildTree(): void {
    this.tree = new LabelTree<Child>();
    if (this.labelNames.length > 0) for (const series of this.series) this.tree.add(series.labels, this.labelNames, series);
  }

  /** The store's holder for this metric's series (one per metric, not one per series). */
  private readonly seriesMemory = new SeriesMemory(this.series);

  /** The labels as given; the canonical object itself when they are the same (one object less per series). */
  private givenLabels(labels: LabelValues<T>, canonical: Record<string, string>): Record<string, LabelValue> {
    if (this.processLabels.length === 0 && this.givenInKeyOrder(labels, canonical)) return canonical;
    const given: Record<string, LabelValue> = { ...labels } as Record<string, LabelValue>;
    for (const [name, value] of this.processLabels) given[name] ??= value;
    return sameLabels(given, canonical) ? canonical : given;
  }

  /** Whether `labels` name the canonical labels in key order with the same strings (checked with no garbage). */
  private givenInKeyOrder(labels: LabelValues<T>, canonical: Record<string, string>): boolean {
    const names = this.sortedLabelNames;
    let next = 0;
    for (const name in labels) {
      const value = labels[name as T];
      if (value === undefined) return false;
      while (next < names.length && labels[names[next]] === undefined) next++;
      if (names[next] !== name || canonical[name] !== value) return false;
      next++;
    }
    while (next < names.length && labels[names[next]] === undefined) next++;
    return next === names.length;
  }

  /** Initialises a series at zero without changing it (prom-client's `zero`). */
  zero(labels?: LabelValues<T>): void {
    this.seriesFor(labels);
  }

  /**
   * Drops a series from this process's view. In multiprocess mode its entry stays in
   * the file with its last value: the format has no way to delete an entry.
   */
  remove(...args: Array<LabelValue | LabelValues<T>>): void {
    const labels = labelsFromArgs(this.labelNames, args);
    validateLabel(this.labelNames, labels);
    const canonical = Object.fromEntries(this.canonicalPairs(labels));
    const series = (this.labelNames.length > 0 ? this.tree.find(canonical, this.labelNames) : this.bare) as Child | undefined;
    if (!series) return;
    this.series.splice(this.series.indexOf(series), 1);
    // In memory the series is gone, as in prom-client: created again, it starts at zero.
    // In a file its entry keeps its value: a counter there never goes backwards.
    if (this.inMemory) series.zero();
    this.rebuildTree();
    if (series === this.bare) this.bare = undefined;
  }

  /**
   * Sets every series to zero and forgets them, as prom-client does; an unlabeled metric
   * gets its zero series back unless `keepBare` is false (prom-client's histogram).
   */
  reset(keepBare = true): void {
    for (const series of this.series) series.zero();
    this.series.length = 0;
    this.rebuildTree();
    this.bare = undefined;
    if (this.labelNames.length === 0 && keepBare) this.bare = this.seriesFor(EMPTY_LABELS);
  }

  protected allSeries(): IterableIterator<Child> {
    return this.series.values();
  }

  /** The series of a label set, given as one object or one value per label name; cached. */
  labels(...values: Array<LabelValue | LabelValues<T>>): Child {
    return this.seriesFor(labelsFromArgs(this.labelNames, values));
  }

  /** prom-client's `get()` values for types with one value per series (counter, gauge). */
  protected singleValues(read: (series: Child) => number): Array<MetricValue<T>> {
    return [...this.series.values()].map((s) => ({ value: read(s), labels: s.given as LabelValues<T> }));
  }

  /** A family with one sample per series (counter, gauge). */
  protected singleValueFamily(type: 'counter' | 'gauge', familyName: string, sampleName: string, read: (series: Child) => number): Family {
    const samples = [...this.series.values()].map((s) => ({ name: sampleName, labels: Object.entries(s.labels), value: read(s) }));
    return { name: familyName, help: this.help, type, samples };
  }

  protected async runCollect(): Promise<void> {
    if (this.collect) await this.collect();
  }

  abstract get(): Promise<MetricObjectWithValues<MetricValueWithName<T>>>;

  /** The object `get()` returns, as prom-client builds it (its `type` is the string). */
  protected metricObject<V extends MetricValue<T>>(values: V[]): MetricObjectWithValues<V> {
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator } as unknown as MetricObjectWithValues<V>;
  }

  /** This process's values as an exposition family. */
  abstract family(): Promise<Family>;
}

/** Keeps every series' `values` on the store's memory when it moves (growth). */
class SeriesMemory implements ValueHolder {
  private current: Float64Array = new Float64Array(0);
  constructor(private readonly series: readonly ValueHolder[]) {}

  get values(): Float64Array {
    return this.current;
  }

  set values(values: Float64Array) {
    this.current = values;
    for (const s of this.series) s.values = values;
  }
}

/** Same names in the same order with the same string values. */
function sameLabels(given: Record<string, LabelValue>, canonical: Record<string, string>): boolean {
  const a = Object.keys(given);
  const b = Object.keys(canonical);
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i] || given[a[i]] !== canonical[b[i]]) return false;
  return true;
}

/** Any metric, whatever its label names and series type. */
export type AnyMetric = Metric<string, Series>;

/** Seconds since a `process.hrtime.bigint()` start. */
export function secondsSince(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/**
 * prom-client's `startTimer(labels)`: the returned function records the elapsed seconds
 * under the start labels merged with the end labels, and returns them.
 */
export function labeledTimer<T extends string>(
  labels: LabelValues<T> | undefined,
  record: (labels: LabelValues<T>, seconds: number) => void,
): (endLabels?: LabelValues<T>) => number {
  const start = process.hrtime.bigint();
  return (endLabels) => {
    const seconds = secondsSince(start);
    record({ ...labels, ...endLabels } as LabelValues<T>, seconds);
    return seconds;
  };
}

/** A series' `startTimer()`: the returned function records the elapsed seconds. */
export function seriesTimer(record: (seconds: number) => void): () => number {
  const start = process.hrtime.bigint();
  return () => {
    const seconds = secondsSince(start);
    record(seconds);
    return seconds;
  };
}

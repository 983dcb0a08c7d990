// Writes prom-client metric snapshots into this process's files, in the Python format,
// so the collector merges them with no special case. Every write is an absolute store
// of the series' current value (the files mirror prom-client; they do not accumulate).
//
//   prom-client              file entries (this process)            merged as
//   counter x                counter  `x_total`                     sum
//   gauge x                  gauge_<mode> `x`, mode from aggregator  by the mode
//   histogram x (cumulative) histogram `x_sum`, `x_bucket{le}` NON-cumulative, +Inf last
//   summary x                summary  `x_count`, `x_sum` (quantiles cannot be merged)
//   exemplars (counter, bucket)  the exemplar file (format/exemplar-file.ts)   newest wins
//
// Counters, histograms and summaries must never go backwards in the merge. prom-client
// can reset them (`reset()`, `resetMetrics()`, `remove()` then re-use); a value lower
// than the last one mirrored is taken as a reset, the way Prometheus' rate() does: what
// was counted before it is kept as a base and the new count is added on top.
import { encodeKey, sortLabelPairs } from '../format/key.js';
import type { SeriesStore } from '../format/mapped-file.js';
import type { GaugeMode } from '../format/names.js';
import { floatToGoString } from '../format/number.js';
import { clock } from '../metrics/clock.js';
import type { Storage } from '../storage/storage.js';
import { checkExemplarLabels } from '../metrics/exemplar.js';
import { gaugeModeForAggregator } from './aggregator-modes.js';
import {
  labelSetKey, type ExemplarSnapshot, type HistogramSeriesSnapshot, type MetricSnapshot, type SummarySeriesSnapshot, type ValueSeries,
} from './snapshot.js';

export interface SnapshotWriterOptions {
  /** Gauge modes by prom-client metric name, overriding the one chosen from the aggregator. */
  gaugeModes?: Record<string, GaugeMode>;
}

const pairsOf = (labels: Record<string, string>, extra?: [string, string]): Array<[string, string]> => {
  const pairs = Object.entries(labels);
  if (extra) pairs.push(extra);
  return sortLabelPairs(pairs);
};

/**
 * Slots whose values only grow, written from raw values that may restart from zero.
 * The first `checked` values decide whether a reset happened (all of them only grow
 * between resets); the rest (a histogram's or summary's sum, which may shrink with
 * negative observations) follow the decision.
 */
class MonotonicSlots {
  private readonly last: number[];
  private readonly base: number[];

  constructor(private readonly store: SeriesStore, private readonly slots: number[], private readonly checked: number) {
    this.last = slots.map(() => 0);
    this.base = slots.map(() => 0);
  }

  write(raw: number[]): void {
    let reset = false;
    for (let i = 0; i < this.checked; i++) if (raw[i] < this.last[i]) reset = true;
    const values = this.store.values;
    for (let i = 0; i < this.slots.length; i++) {
      if (reset) this.base[i] += this.last[i];
      this.last[i] = raw[i];
      values[this.slots[i]] = this.base[i] + raw[i];
    }
  }
}

/**
 * Mirrors prom-client's exemplars into this process's exemplar file: a sample's record is
 * rewritten only when prom-client's exemplar changed (its timestamp). One prom-client
 * would refuse to render is left out, never thrown: the bridge must not fail a worker.
 */
class ExemplarMirror {
  private readonly written = new Map<string, { record: number; timestamp: number }>();
  constructor(private readonly storage: Storage) {}

  write(key: string, exemplar: ExemplarSnapshot | undefined): void {
    if (!exemplar) return;
    const known = this.written.get(key);
    if (known && known.timestamp === exemplar.timestamp) return;
    try {
      checkExemplarLabels(exemplar.labelSet);
    } catch {
      return;
    }
    const file = this.storage.exemplarFile();
    if (!file) return;
    const record = known?.record ?? file.recordFor(key);
    file.write(record, exemplar.labelSet, Float64Array.of(exemplar.value, exemplar.timestamp));
    this.written.set(key, { record, timestamp: exemplar.timestamp });
  }
}

interface Mirror<S> {
  write(series: S[]): void;
}

class CounterMirror implements Mirror<ValueSeries> {
  private readonly family: string;
  private readonly series = new Map<string, { slots: MonotonicSlots; key: string }>();
  constructor(private readonly store: SeriesStore, name: string, private readonly help: string, private readonly exemplars: ExemplarMirror) {
    this.family = name.endsWith('_total') ? name.slice(0, -6) : name;
  }

  write(all: ValueSeries[]): void {
    for (const s of all) {
      if (!(s.value >= 0)) continue; // NaN or negative: not a counter value
      const id = labelSetKey(s.labels);
      let series = this.series.get(id);
      if (!series) {
        const key = encodeKey(this.family, `${this.family}_total`, pairsOf(s.labels), this.help);
        this.series.set(id, (series = { slots: new MonotonicSlots(this.store, [this.store.slotFor(key)], 1), key }));
      }
      series.slots.write([s.value]);
      this.exemplars.write(series.key, s.exemplar);
    }
  }
}

class GaugeMirror implements Mirror<ValueSeries> {
  private readonly series = new Map<string, { slot: number; last: number | undefined }>();
  private readonly stampsTime: boolean;
  private readonly additive: boolean;
  constructor(private readonly store: SeriesStore, private readonly name: string, private readonly help: string, mode: GaugeMode) {
    this.stampsTime = mode === 'mostrecent' || mode === 'livemostrecent';
    this.additive = mode === 'sum' || mode === 'livesum' || mode === 'all' || mode === 'liveall';
  }

  write(all: ValueSeries[]): void {
    const seen = new Set<string>();
    for (const s of all) {
      const id = labelSetKey(s.labels);
      seen.add(id);
      let state = this.series.get(id);
      if (!state) {
        const slot = this.store.slotFor(encodeKey(this.name, this.name, pairsOf(s.labels), this.help));
        this.series.set(id, (state = { slot, last: undefined }));
      }
      const values = this.store.values;
      values[state.slot] = s.value;
      // "Most recent" means most recently changed: re-stamping an unchanged value at
      // every mirror would make the merged value flip between workers.
      if (this.stampsTime && !Object.is(state.last, s.value)) values[state.slot + 1] = clock.now();
      state.last = s.value;
    }
    // A series prom-client dropped (reset(), remove(): its handle-type gauges do it on
    // every collect) cannot be deleted from the file. In a sum it must stop counting, so
    // it goes to 0; in a min, max or most-recent merge 0 would be a value of its own, so
    // the last value stays there.
    if (!this.additive) return;
    for (const [id, state] of this.series) {
      if (seen.has(id) || state.last === 0) continue;
      this.store.values[state.slot] = 0;
      state.last = 0;
    }
  }
}

class HistogramMirror implements Mirror<HistogramSeriesSnapshot> {
  private readonly series = new Map<string, MonotonicSlots>();
  constructor(private readonly store: SeriesStore, private readonly name: string, private readonly help: string, private readonly exemplars: ExemplarMirror) {}

  write(all: HistogramSeriesSnapshot[]): void {
    for (const s of all) {
      const bounds = s.buckets.map((b) => b[0]);
      const id = `${labelSetKey(s.labels)}|${bounds.join(',')}`;
      let slots = this.series.get(id);
      if (!slots) {
        // Python's layout: the sum, then one bucket entry per bound, +Inf last.
        const key = (sample: string, extra?: [string, string]) => this.store.slotFor(encodeKey(this.name, sample, pairsOf(s.labels, extra), this.help));
        const sumSlot = key(`${this.name}_sum`);
        const bucketSlots = [...bounds.map(floatToGoString), '+Inf'].map((le) => key(`${this.name}_bucket`, ['le', le]));
        this.series.set(id, (slots = new MonotonicSlots(this.store, [...bucketSlots, sumSlot], bucketSlots.length)));
      }
      // prom-client's buckets are cumulative; the file holds each bucket's own count.
      const own: number[] = [];
      let below = 0;
      for (const [, cumulative] of s.buckets) {
        own.push(cumulative - below);
        below = cumulative;
      }
      own.push(s.count - below);
      slots.write([...own, s.sum]);
      if (s.exemplars) {
        for (const [le, exemplar] of s.exemplars) {
          this.exemplars.write(encodeKey(this.name, `${this.name}_bucket`, pairsOf(s.labels, ['le', le]), this.help), exemplar);
        }
      }
    }
  }
}

class SummaryMirror implements Mirror<SummarySeriesSnapshot> {
  private readonly series = new Map<string, MonotonicSlots>();
  constructor(private readonly store: SeriesStore, private readonly name: string, private readonly help: string) {}

  write(all: SummarySeriesSnapshot[]): void {
    for (const s of all) {
      const id = labelSetKey(s.labels);
      let slots = this.series.get(id);
      if (!slots) {
        const count = this.store.slotFor(encodeKey(this.name, `${this.name}_count`, pairsOf(s.labels), this.help));
        const sum = this.store.slotFor(encodeKey(this.name, `${this.name}_sum`, pairsOf(s.labels), this.help));
        this.series.set(id, (slots = new MonotonicSlots(this.store, [count, sum], 1)));
      }
      slots.write([s.count, s.sum]);
    }
  }
}

/** Writes snapshots of prom-client metrics into one process's storage; keeps per-series state. */
export class SnapshotWriter {
  private readonly mirrors = new Map<string, Mirror<unknown>>();
  private readonly exemplars: ExemplarMirror;

  constructor(private readonly storage: Storage, private readonly options: SnapshotWriterOptions = {}) {
    this.exemplars = new ExemplarMirror(storage);
  }

  /** The gauge mode a prom-client gauge is written with; null when it is not mirrored (`omit`). */
  gaugeMode(name: string, aggregator: string): GaugeMode | null {
    return this.options.gaugeModes?.[name] ?? gaugeModeForAggregator(aggregator);
  }

  write(snapshot: MetricSnapshot): void {
    const mode = snapshot.type === 'gauge' ? this.gaugeMode(snapshot.name, snapshot.aggregator) : undefined;
    if (mode === null) return;
    const id = `${snapshot.type}:${mode ?? ''}:${snapshot.name}:${snapshot.help}`;
    let mirror = this.mirrors.get(id);
    if (!mirror) {
      const store = this.storage.storeFor(snapshot.type, mode);
      const { name, help } = snapshot;
      if (snapshot.type === 'counter') mirror = new CounterMirror(store, name, help, this.exemplars);
      else if (snapshot.type === 'gauge') mirror = new GaugeMirror(store, name, help, mode!);
      else if (snapshot.type === 'histogram') mirror = new HistogramMirror(store, name, help, this.exemplars);
      else mirror = new SummaryMirror(store, name, help);
      this.mirrors.set(id, mirror as Mirror<unknown>);
    }
    mirror.write(this.withProcessLabels<{ labels: Record<string, string> }>(snapshot.series));
  }

  /** Adds the storage's process labels (PM2 app and instance, ...) a series lacks, as native metrics do. */
  private withProcessLabels<S extends { labels: Record<string, string> }>(series: S[]): S[] {
    const extra = this.storage.labels;
    if (extra.length === 0) return series;
    return series.map((s) => {
      const labels = { ...s.labels };
      for (const [name, value] of extra) if (!(name in labels)) labels[name] = value;
      return { ...s, labels };
    });
  }
}

// A prom-client metric's values at one moment, in the shape the bridge writes: one entry
// per series with its labels as strings, histograms with cumulative finite buckets.
// Exemplars ride along where prom-client keeps them (`enableExemplars`).
// Taken from prom-client's public `getMetricsAsJSON()`, or, at process exit where
// nothing asynchronous can run, from the metric objects themselves.

import { floatToGoString } from '../format/number.js';

export type SnapshotType = 'counter' | 'gauge' | 'histogram' | 'summary';

/** A prom-client exemplar as its values carry it (`{ labelSet, value, timestamp }`). */
export interface ExemplarSnapshot {
  labelSet: Record<string, string | number>;
  value: number;
  timestamp: number;
}

export interface ValueSeries {
  labels: Record<string, string>;
  value: number;
  /** A counter's latest exemplar, if prom-client keeps one (`enableExemplars`). */
  exemplar?: ExemplarSnapshot;
}

export interface HistogramSeriesSnapshot {
  labels: Record<string, string>;
  /** Finite upper bounds, ascending, each with its cumulative count. */
  buckets: Array<[bound: number, cumulative: number]>;
  count: number;
  sum: number;
  /** Latest exemplar per bucket, by its `le` as the file writes it (`0.1`, `1.0`, `+Inf`). */
  exemplars?: Map<string, ExemplarSnapshot>;
}

export interface SummarySeriesSnapshot {
  labels: Record<string, string>;
  count: number;
  sum: number;
}

export type MetricSnapshot =
  | { type: 'counter' | 'gauge'; name: string; help: string; aggregator: string; series: ValueSeries[] }
  | { type: 'histogram'; name: string; help: string; aggregator: string; series: HistogramSeriesSnapshot[] }
  | { type: 'summary'; name: string; help: string; aggregator: string; series: SummarySeriesSnapshot[] };

/** One metric of prom-client's `registry.getMetricsAsJSON()`. */
export interface PromClientMetricJson {
  name: string;
  help: string;
  type: string;
  aggregator?: string;
  values?: Array<{ value: number; labels?: Record<string, unknown>; metricName?: string; exemplar?: unknown }>;
}

/** What the bridge needs of a prom-client `Registry` (structural: prom-client is not a dependency). */
export interface PromClientRegistryLike {
  getMetricsAsJSON(): Promise<PromClientMetricJson[]>;
  getMetricsAsArray(): unknown[];
}

function stringLabels(labels: Record<string, unknown> | undefined, drop?: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!labels) return out;
  for (const [name, value] of Object.entries(labels)) {
    if (name !== drop && value !== undefined) out[name] = String(value);
  }
  return out;
}

/** A stable key for a label set, whatever order its names came in. */
export function labelSetKey(labels: Record<string, string>): string {
  return JSON.stringify(Object.entries(labels).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)));
}

/** A prom-client exemplar object, or undefined for anything else (none kept, or not prom-client's shape). */
export function exemplarOf(value: unknown): ExemplarSnapshot | undefined {
  const e = value as ExemplarSnapshot | null | undefined;
  if (!e || typeof e !== 'object' || typeof e.timestamp !== 'number' || typeof e.value !== 'number' || !e.labelSet || typeof e.labelSet !== 'object') return undefined;
  return e;
}

/** A bucket's `le` as the writer puts it in keys. */
function leKey(le: unknown): string {
  return isInfinite(le) || le === -1 || le === '-1' ? '+Inf' : floatToGoString(Number(le));
}

function isInfinite(le: unknown): boolean {
  return le === '+Inf' || le === Infinity || le === 'Infinity';
}

/** Converts prom-client's JSON for one metric; undefined for a type the format cannot hold. */
export function snapshotFromJson(metric: PromClientMetricJson): MetricSnapshot | undefined {
  const base = { name: metric.name, help: metric.help, aggregator: metric.aggregator ?? 'sum' };
  const values = metric.values ?? [];
  switch (metric.type) {
    case 'counter':
    case 'gauge':
      return {
        ...base,
        type: metric.type,
        series: values.map((v) => {
          const exemplar = metric.type === 'counter' ? exemplarOf(v.exemplar) : undefined;
          return exemplar ? { labels: stringLabels(v.labels), value: v.value, exemplar } : { labels: stringLabels(v.labels), value: v.value };
        }),
      };
    case 'histogram': {
      const byLabels = new Map<string, HistogramSeriesSnapshot>();
      for (const v of values) {
        const labels = stringLabels(v.labels, 'le');
        const key = labelSetKey(labels);
        let series = byLabels.get(key);
        if (!series) byLabels.set(key, (series = { labels, buckets: [], count: 0, sum: 0 }));
        const le = v.labels?.le;
        if (v.metricName?.endsWith('_sum')) series.sum = v.value;
        else if (v.metricName?.endsWith('_count')) series.count = v.value;
        else if (le !== undefined && !isInfinite(le)) series.buckets.push([Number(le), v.value]);
        const exemplar = le !== undefined ? exemplarOf(v.exemplar) : undefined;
        if (exemplar) (series.exemplars ??= new Map()).set(leKey(le), exemplar);
      }
      for (const series of byLabels.values()) series.buckets.sort((a, b) => a[0] - b[0]);
      return { ...base, type: 'histogram', series: [...byLabels.values()] };
    }
    case 'summary': {
      const byLabels = new Map<string, SummarySeriesSnapshot>();
      for (const v of values) {
        if (!v.metricName) continue; // a quantile: the format cannot merge those
        const labels = stringLabels(v.labels);
        const key = labelSetKey(labels);
        let series = byLabels.get(key);
        if (!series) byLabels.set(key, (series = { labels, count: 0, sum: 0 }));
        if (v.metricName.endsWith('_sum')) series.sum = v.value;
        else if (v.metricName.endsWith('_count')) series.count = v.value;
      }
      return { ...base, type: 'summary', series: [...byLabels.values()] };
    }
    default:
      return undefined;
  }
}

/** The parts of a prom-client 15 metric object that hold its values. */
interface PromClientMetricInternals {
  name: string;
  help: string;
  type: string;
  aggregator?: string;
  upperBounds?: number[];
  hashMap?: Record<string, {
    labels?: Record<string, unknown>; value?: number; bucketValues?: Record<string, number>; count?: number; sum?: number;
    exemplar?: unknown; bucketExemplars?: Record<string, unknown>;
  }>;
}

/**
 * Reads a prom-client 15 metric's values synchronously, for the exit flush, where
 * `get()` (a Promise) can no longer be awaited. `collect` callbacks are not run: the
 * values are those last collected. Undefined for anything that does not look like
 * prom-client 15 (the last periodic mirror then stands).
 */
export function snapshotFromInternals(metric: unknown, defaultLabels: Record<string, unknown> = {}): MetricSnapshot | undefined {
  const m = metric as PromClientMetricInternals;
  if (!m || typeof m !== 'object' || typeof m.name !== 'string' || !m.hashMap || typeof m.hashMap !== 'object') return undefined;
  const base = { name: m.name, help: m.help, aggregator: m.aggregator ?? 'sum' };
  // Default labels fill labels a series lacks, as getMetricsAsJSON does.
  const withDefaults = (labels: Record<string, unknown> | undefined) => {
    const out = stringLabels(labels);
    for (const [k, v] of Object.entries(defaultLabels)) if (!out[k]) out[k] = String(v);
    return out;
  };
  const entries = Object.values(m.hashMap).filter((e) => e && typeof e === 'object');
  switch (m.type) {
    case 'counter':
    case 'gauge':
      if (!entries.every((e) => typeof e.value === 'number')) return undefined;
      return {
        ...base,
        type: m.type,
        series: entries.map((e) => {
          const exemplar = m.type === 'counter' ? exemplarOf(e.exemplar) : undefined;
          return exemplar ? { labels: withDefaults(e.labels), value: e.value as number, exemplar } : { labels: withDefaults(e.labels), value: e.value as number };
        }),
      };
    case 'histogram': {
      const bounds = m.upperBounds;
      if (!Array.isArray(bounds) || !entries.every((e) => e.bucketValues && typeof e.count === 'number')) return undefined;
      return {
        ...base,
        type: 'histogram',
        series: entries.map((e) => {
          let running = 0;
          const buckets: Array<[number, number]> = [];
          for (const bound of bounds) {
            running += e.bucketValues![bound] ?? 0;
            if (bound !== Infinity) buckets.push([bound, running]);
          }
          let exemplars: Map<string, ExemplarSnapshot> | undefined;
          // prom-client keys a bucket's exemplar by its bound, +Inf's by -1.
          for (const [bound, value] of Object.entries(e.bucketExemplars ?? {})) {
            const exemplar = exemplarOf(value);
            if (exemplar) (exemplars ??= new Map()).set(leKey(bound), exemplar);
          }
          return { labels: withDefaults(e.labels), buckets, count: e.count as number, sum: e.sum ?? 0, ...(exemplars ? { exemplars } : {}) };
        }),
      };
    }
    case 'summary':
      if (!entries.every((e) => typeof e.count === 'number')) return undefined;
      return { ...base, type: 'summary', series: entries.map((e) => ({ labels: withDefaults(e.labels), count: e.count as number, sum: e.sum ?? 0 })) };
    default:
      return undefined;
  }
}

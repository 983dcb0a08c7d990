// A prom-client metric's values at one moment, in the shape the bridge writes: one entry
// per series with its labels as strings, histograms with cumulative finite buckets.
// Taken from prom-client's public `getMetricsAsJSON()`, or, at process exit where
// nothing asynchronous can run, from the metric objects themselves.

export type SnapshotType = 'counter' | 'gauge' | 'histogram' | 'summary';

export interface ValueSeries {
  labels: Record<string, string>;
  value: number;
}

export interface HistogramSeriesSnapshot {
  labels: Record<string, string>;
  /** Finite upper bounds, ascending, each with its cumulative count. */
  buckets: Array<[bound: number, cumulative: number]>;
  count: number;
  sum: number;
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
  values?: Array<{ value: number; labels?: Record<string, unknown>; metricName?: string }>;
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
      return { ...base, type: metric.type, series: values.map((v) => ({ labels: stringLabels(v.labels), value: v.value })) };
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
  hashMap?: Record<string, { labels?: Record<string, unknown>; value?: number; bucketValues?: Record<string, number>; count?: number; sum?: number }>;
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
      return { ...base, type: m.type, series: entries.map((e) => ({ labels: withDefaults(e.labels), value: e.value as number })) };
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
          return { labels: withDefaults(e.labels), buckets, count: e.count as number, sum: e.sum ?? 0 };
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

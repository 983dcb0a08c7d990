// A set of metrics with prom-client's Registry API. It renders this process's own values
// the way prom-client does; the merged view of all processes is the collector's job.
// Besides our metrics it holds anything prom-client's registry holds: prom-client's own
// metric objects and custom collectors (`{ name, get() }`).
import {
  OPENMETRICS_CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE, sortedPairs, type Family,
} from '../collect/exposition.js';
import { familyFromMetricObject } from './family-from-json.js';
import type { Counter } from './counter.js';
import type { Gauge } from './gauge.js';
import type { Histogram } from './histogram.js';
import type { MetricObject, MetricObjectWithValues, MetricValue } from './metric.js';
import type { Summary } from './summary.js';
import { processState } from '../process-state.js';
import { renderMetricObject, renderRegistry, renderableOf, type CollectableMetric, type RenderableMetric } from './prom-client-text.js';

export type PrometheusContentType = typeof PROMETHEUS_CONTENT_TYPE;
export type OpenMetricsContentType = typeof OPENMETRICS_CONTENT_TYPE;
export type RegistryContentType = PrometheusContentType | OpenMetricsContentType;

/** prom-client's `Metric`: any of the four metric classes. */
export type Metric<T extends string = string> = Counter<T> | Gauge<T> | Histogram<T> | Summary<T>;

const isContentType = (type: unknown): type is RegistryContentType =>
  type === PROMETHEUS_CONTENT_TYPE || type === OPENMETRICS_CONTENT_TYPE;

/** Our metrics render their own families for the collector; others are converted from `get()`. */
interface FamilySource {
  family(): Promise<Family>;
}
const hasFamily = (metric: unknown): metric is FamilySource =>
  typeof (metric as Partial<FamilySource>).family === 'function';

export class Registry<BoundContentType extends RegistryContentType = PrometheusContentType> {
  static readonly PROMETHEUS_CONTENT_TYPE: PrometheusContentType = PROMETHEUS_CONTENT_TYPE;
  static readonly OPENMETRICS_CONTENT_TYPE: OpenMetricsContentType = OPENMETRICS_CONTENT_TYPE;

  private metricsByName = new Map<string, CollectableMetric>();
  private defaultLabels: Record<string, unknown> = {};
  private type: BoundContentType;

  constructor(contentType: BoundContentType = PROMETHEUS_CONTENT_TYPE as BoundContentType) {
    if (!isContentType(contentType)) throw new TypeError(`Content type ${String(contentType)} is unsupported`);
    this.type = contentType;
  }

  get contentType(): BoundContentType {
    return this.type;
  }

  setContentType(contentType: BoundContentType): void {
    if (!isContentType(contentType)) throw new Error(`Content type ${String(contentType)} is unsupported`);
    this.type = contentType;
  }

  /** Adds a metric: ours, a prom-client metric, or any object with a `name` and a `get()`. */
  registerMetric<T extends string>(metric: Metric<T> | CollectableMetric): void {
    // As in prom-client, a collector may leave out its name (it is then registered under `undefined`).
    if (metric === null || typeof metric !== 'object' || typeof metric.get !== 'function') throw new TypeError('registerMetric expects a metric: an object with a get() method');
    const existing = this.metricsByName.get(metric.name);
    if (existing !== undefined && existing !== metric) throw new Error(`A metric with the name ${metric.name} has already been registered.`);
    this.metricsByName.set(metric.name, metric);
  }

  getMetricsAsArray(): MetricObject[] {
    return [...this.metricsByName.values()] as unknown as MetricObject[];
  }

  getSingleMetric<T extends string>(name: string): Metric<T> | undefined {
    return this.metricsByName.get(name) as Metric<T> | undefined;
  }

  private collectables(): CollectableMetric[] {
    return [...this.metricsByName.values()];
  }

  removeSingleMetric(name: string): void {
    this.metricsByName.delete(name);
  }

  clear(): void {
    this.metricsByName = new Map();
    this.defaultLabels = {};
  }

  resetMetrics(): void {
    for (const metric of this.metricsByName.values()) metric.reset?.();
  }

  setDefaultLabels(labels: object): void {
    this.defaultLabels = labels as Record<string, unknown>;
  }

  /**
   * This registry's metrics as exposition families (for a collector serving a registry in
   * memory), with default labels added where a series lacks them.
   */
  async families(): Promise<Family[]> {
    const families = await Promise.all(this.collectables().map(async (m) =>
      hasFamily(m) ? m.family() : familyFromMetricObject((await m.get()) as RenderableMetric)));
    const defaults = Object.entries(this.defaultLabels).map(([k, v]) => [k, String(v)] as const);
    if (defaults.length === 0) return families;
    for (const family of families) {
      for (const sample of family.samples) {
        const labels = Object.fromEntries(sample.labels);
        for (const [k, v] of defaults) if (!(k in labels)) labels[k] = v;
        sample.labels = sortedPairs(labels);
      }
    }
    return families;
  }

  /** The exposition of this process's values, as prom-client writes it, in this registry's content type. */
  async metrics(): Promise<string> {
    return renderRegistry(this.collectables(), this.defaultLabels, this.type === OPENMETRICS_CONTENT_TYPE);
  }

  /** One metric's lines, without the trailing newline (as prom-client). */
  async getSingleMetricAsString(name: string): Promise<string> {
    const metric = this.metricsByName.get(name);
    if (!metric) throw new Error(`No metric named ${name} in this registry`);
    return renderMetricObject(await renderableOf(metric), this.defaultLabels, this.type === OPENMETRICS_CONTENT_TYPE);
  }

  async getMetricsAsJSON(): Promise<Array<MetricObjectWithValues<MetricValue<string>>>> {
    const all = await Promise.all(this.collectables().map((m) => m.get())) as unknown as Array<MetricObjectWithValues<MetricValue<string>>>;
    const defaultNames = Object.keys(this.defaultLabels);
    if (defaultNames.length === 0) return all;
    for (const item of all) {
      for (const value of item.values ?? []) {
        const labels: Record<string, unknown> = { ...value.labels };
        for (const name of defaultNames) labels[name] ??= this.defaultLabels[name];
        value.labels = labels as typeof value.labels;
      }
    }
    return all;
  }

  static merge(registries: Array<Registry<RegistryContentType>>): Registry<any> {
    const type = registries[0].contentType;
    if (registries.some((r) => r.contentType !== type)) {
      throw new Error('Registers can only be merged if they have the same content type');
    }
    const merged = new Registry(type);
    for (const registry of registries) for (const metric of registry.collectables()) merged.registerMetric(metric);
    return merged;
  }
}

// One global registry per process, even with both builds of this package loaded.
// Typed as prom-client types its `register`; its content type can still be changed.
export const globalRegistry: Registry = processState('globalRegistry', () => new Registry());
export const settableGlobalRegistry = globalRegistry as unknown as Registry<RegistryContentType>;

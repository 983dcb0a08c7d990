// A set of metrics with prom-client's Registry API. It renders this process's own values;
// the merged view of all processes is the collector's job.
import {
  OPENMETRICS_CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE, renderOpenMetrics, renderText, sortedPairs, type Family,
} from '../collect/exposition.js';
import type { AnyMetric, MetricObjectWithValues } from './metric.js';

export type RegistryContentType = typeof PROMETHEUS_CONTENT_TYPE | typeof OPENMETRICS_CONTENT_TYPE;

export class Registry {
  static readonly PROMETHEUS_CONTENT_TYPE = PROMETHEUS_CONTENT_TYPE;
  static readonly OPENMETRICS_CONTENT_TYPE = OPENMETRICS_CONTENT_TYPE;

  private metricsByName = new Map<string, AnyMetric>();
  private defaultLabels: Record<string, string> = {};
  private type: RegistryContentType;

  constructor(contentType: RegistryContentType = PROMETHEUS_CONTENT_TYPE) {
    if (contentType !== PROMETHEUS_CONTENT_TYPE && contentType !== OPENMETRICS_CONTENT_TYPE) {
      throw new TypeError(`Content type ${String(contentType)} is unsupported`);
    }
    this.type = contentType;
  }

  get contentType(): RegistryContentType {
    return this.type;
  }

  setContentType(contentType: RegistryContentType): void {
    if (contentType !== PROMETHEUS_CONTENT_TYPE && contentType !== OPENMETRICS_CONTENT_TYPE) {
      throw new Error(`Content type ${String(contentType)} is unsupported`);
    }
    this.type = contentType;
  }

  registerMetric(metric: AnyMetric): void {
    const existing = this.metricsByName.get(metric.name);
    if (existing && existing !== metric) throw new Error(`A metric with the name ${metric.name} has already been registered.`);
    this.metricsByName.set(metric.name, metric);
  }

  getMetricsAsArray(): AnyMetric[] {
    return [...this.metricsByName.values()];
  }

  getSingleMetric(name: string): AnyMetric | undefined {
    return this.metricsByName.get(name);
  }

  removeSingleMetric(name: string): void {
    this.metricsByName.delete(name);
  }

  clear(): void {
    this.metricsByName.clear();
    this.defaultLabels = {};
  }

  resetMetrics(): void {
    for (const metric of this.metricsByName.values()) metric.reset();
  }

  setDefaultLabels(labels: Record<string, string | number>): void {
    this.defaultLabels = Object.fromEntries(Object.entries(labels).map(([k, v]) => [k, String(v)]));
  }

  /** This registry's metrics as families, with default labels added where a series lacks them. */
  async families(): Promise<Family[]> {
    const families = await Promise.all(this.getMetricsAsArray().map((m) => m.family()));
    const defaults = Object.entries(this.defaultLabels);
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

  async metrics(): Promise<string> {
    const families = await this.families();
    return this.type === OPENMETRICS_CONTENT_TYPE ? renderOpenMetrics(families) : renderText(families);
  }

  async getSingleMetricAsString(name: string): Promise<string> {
    const metric = this.metricsByName.get(name);
    if (!metric) throw new Error(`No metric named ${name} in this registry`);
    return renderText([await metric.family()]);
  }

  async getMetricsAsJSON(): Promise<Array<MetricObjectWithValues<string>>> {
    const all = await Promise.all(this.getMetricsAsArray().map((m) => m.get()));
    const defaults = Object.entries(this.defaultLabels);
    if (defaults.length > 0) {
      for (const item of all) {
        for (const value of item.values) {
          value.labels = { ...value.labels };
          for (const [k, v] of defaults) value.labels[k] ??= v;
        }
      }
    }
    return all;
  }

  static merge(registries: Registry[]): Registry {
    const type = registries[0]?.contentType ?? PROMETHEUS_CONTENT_TYPE;
    if (registries.some((r) => r.contentType !== type)) {
      throw new Error('Registers can only be merged if they have the same content type');
    }
    const merged = new Registry(type);
    for (const registry of registries) for (const metric of registry.getMetricsAsArray()) merged.registerMetric(metric);
    return merged;
  }
}

export const globalRegistry = new Registry();

// prom-client's `aggregators` and `AggregatorRegistry.aggregate()`: combine the
// `getMetricsAsJSON()` outputs of several registries (one per process) by each metric's
// aggregator. Kept for code that collects those outputs itself (custom IPC, the older
// PM2 modules); prom-multiproc's own path merges files instead and never needs it.
import type { MetricObjectWithValues, MetricValueWithName } from '../metrics/metric.js';
import { Registry, type RegistryContentType } from '../metrics/registry.js';

type Value = MetricValueWithName<string>;
// As the inputs come (getMetricsAsJSON() of several registries): no `collect`.
type Json = Omit<MetricObjectWithValues<Value>, 'collect'>;

/** Builds an aggregator from a function of the values one series has in the inputs. */
export function AggregatorFactory(combine: (values: Value[]) => number): (metrics: Json[]) => Json | undefined {
  return (metrics) => {
    if (metrics.length === 0) return undefined;
    const { name, help, type, aggregator } = metrics[0];
    const bySeries = new Map<string, Value[]>();
    for (const metric of metrics) {
      for (const value of metric.values) {
        const key = `${value.metricName}_${JSON.stringify(Object.entries(value.labels).map(([k, v]) => [k, String(v)]).sort())}`;
        const group = bySeries.get(key);
        if (group) group.push(value);
        else bySeries.set(key, [value]);
      }
    }
    const values: Value[] = [];
    for (const group of bySeries.values()) {
      const out: Value = { value: combine(group), labels: group[0].labels };
      if (group[0].metricName) out.metricName = group[0].metricName;
      values.push(out);
    }
    return { name, help, type, aggregator, values };
  };
}

export const aggregators: Record<string, (metrics: Json[]) => Json | undefined> = {
  sum: AggregatorFactory((v) => v.reduce((acc, x) => acc + x.value, 0)),
  first: AggregatorFactory((v) => v[0].value),
  omit: () => undefined,
  average: AggregatorFactory((v) => v.reduce((acc, x) => acc + x.value, 0) / v.length),
  min: AggregatorFactory((v) => v.reduce((acc, x) => Math.min(acc, x.value), Infinity)),
  max: AggregatorFactory((v) => v.reduce((acc, x) => Math.max(acc, x.value), -Infinity)),
};

/**
 * prom-client's `AggregatorRegistry.aggregate`: a Registry with every metric of
 * `metricsArr` (a list of `getMetricsAsJSON()` results) combined by its aggregator.
 */
export function aggregate<T extends RegistryContentType>(metricsArr: Json[][], registryType?: T): Registry<T> {
  const registry = new Registry<T>(registryType);
  const byName = new Map<string, Json[]>();
  for (const metrics of metricsArr) {
    for (const metric of metrics) {
      const group = byName.get(metric.name);
      if (group) group.push(metric);
      else byName.set(metric.name, [metric]);
    }
  }
  for (const metrics of byName.values()) {
    const name = metrics[0].aggregator ?? 'sum';
    const combine = aggregators[name];
    if (typeof combine !== 'function') throw new Error(`'${name}' is not a defined aggregator.`);
    const combined = combine(metrics);
    // As prom-client: the aggregated object itself, with a synchronous get() returning it.
    if (combined) registry.registerMetric(Object.assign({ get: () => combined }, combined));
  }
  return registry;
}

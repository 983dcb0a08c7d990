// What every default-metric group gets: where to register, a name prefix, and labels
// added to every series (prom-client's `collectDefaultMetrics` options).
import type { Registry, RegistryContentType } from '../../metrics/registry.js';

export interface DefaultMetricsConfiguration<T extends RegistryContentType = RegistryContentType> {
  register?: Registry<T>;
  prefix?: string;
  labels?: object;
  gcDurationBuckets?: number[];
  eventLoopMonitoringPrecision?: number;
}

export interface GroupContext {
  registers: Array<Registry<any>> | undefined;
  prefix: string;
  labels: Record<string, string | number>;
  labelNames: string[];
  config: DefaultMetricsConfiguration;
}

export function groupContext(config: DefaultMetricsConfiguration): GroupContext {
  const labels = (config.labels ?? {}) as Record<string, string | number>;
  return {
    registers: config.register ? [config.register] : undefined,
    prefix: config.prefix ?? '',
    labels,
    labelNames: Object.keys(labels),
    config,
  };
}

/** Counts of things by name, for the `{type}` gauges of handles, requests and resources. */
export function countByName(names: Iterable<string>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const name of names) counts.set(name, (counts.get(name) ?? 0) + 1);
  return counts;
}

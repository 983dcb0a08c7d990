// prom-client's collectDefaultMetrics, built on prom-multiproc's classes: every worker
// writes its own values, and each metric is merged across workers by the rule that makes
// sense for it (prom-client's AggregatorRegistry sums almost everything, which gives a
// "max fds" of 4 × the limit and averages away one stuck event loop):
//
//   summed   (counters; livesum gauges)  CPU seconds, resident/virtual/heap memory, V8 heap
//                                         and heap spaces, active handles/requests/resources,
//                                         GC duration histogram
//   max      (livemax)                    event loop lag and its mean, stddev, p50/p90/p99,
//                                         max; open fds; start time (the newest worker);
//                                         version info
//   min      (livemin)                    event loop lag min; max fds
//
// `live` modes drop a dead worker's gauges at once; counters keep its counts (archives).
// In a process writing to a multiprocess directory the `collect` callbacks that read
// these values run on the refresh timer and before predicted scrapes (refresh/).
import { eventLoopLag, activeHandles, activeRequests, activeResources, gc, heapSizeAndUsed, heapSpaces, version } from './nodejs.js';
import { processCpu, processFileDescriptors, processMemory, processStartTime } from './process.js';
import type { RegistryContentType } from '../../metrics/registry.js';
import { groupContext, type DefaultMetricsConfiguration, type GroupContext } from './shared.js';

export type { DefaultMetricsConfiguration } from './shared.js';

/** The groups, under prom-client's names, in prom-client's order. */
const GROUPS: Record<string, (ctx: GroupContext) => void> = {
  processCpuTotal: processCpu,
  processStartTime,
  osMemoryHeap: processMemory,
  processOpenFileDescriptors: processFileDescriptors,
  processMaxFileDescriptors: () => {}, // created with the open-fds gauge, which reads the same limits
  eventLoopLag,
  ...(typeof process.getActiveResourcesInfo === 'function' ? { processResources: activeResources } : {}),
  processHandles: activeHandles,
  processRequests: activeRequests,
  heapSizeAndUsed,
  heapSpacesSizeAndUsed: heapSpaces,
  version,
  gc,
};

/**
 * Registers Node.js and process metrics (prom-client 15's names) in `config.register`
 * (default: the global registry).
 */
export const collectDefaultMetrics = Object.assign(
  <T extends RegistryContentType>(config?: DefaultMetricsConfiguration<T> | null): void => {
    if (config !== null && config !== undefined && (typeof config !== 'object' || Array.isArray(config))) {
      throw new TypeError('config must be null, undefined, or an object');
    }
    const ctx = groupContext(config ?? {});
    for (const group of Object.values(GROUPS)) group(ctx);
  },
  { metricsList: Object.keys(GROUPS) },
);

// Default metrics about the Node.js runtime: event loop lag, libuv handles, requests and
// resources, V8 heap, version, GC. Names, help texts and units are prom-client 15's; the
// merge mode is ours (see index.ts).
import { constants as perfConstants, monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import v8 from 'node:v8';
import { Gauge } from '../../metrics/gauge.js';
import { Histogram } from '../../metrics/histogram.js';
import { countByName, type GroupContext } from './shared.js';

export function eventLoopLag(ctx: GroupContext): void {
  const { registers, labelNames, labels, prefix } = ctx;
  const delay = monitorEventLoopDelay({ resolution: ctx.config.eventLoopMonitoringPrecision ?? 10 });
  delay.enable();
  // A slow worker must stay visible in the merge: the lag statistics take the worst
  // live process (prom-client averages them, which hides one stuck worker among many).
  const stat = (name: string, help: string, mode: 'livemin' | 'livemax') =>
    new Gauge({ name: `${prefix}${name}`, help, registers, labelNames, multiprocessMode: mode });
  const lag = new Gauge({
    name: `${prefix}nodejs_eventloop_lag_seconds`,
    help: 'Lag of event loop in seconds.',
    registers,
    labelNames,
    multiprocessMode: 'livemax',
    // One callback sets every lag metric; the delay histogram restarts after each reading.
    collect() {
      const start = process.hrtime.bigint();
      setImmediate(() => lag.set(labels, Number(process.hrtime.bigint() - start) / 1e9));
      min.set(labels, delay.min / 1e9);
      max.set(labels, delay.max / 1e9);
      mean.set(labels, delay.mean / 1e9);
      stddev.set(labels, delay.stddev / 1e9);
      p50.set(labels, delay.percentile(50) / 1e9);
      p90.set(labels, delay.percentile(90) / 1e9);
      p99.set(labels, delay.percentile(99) / 1e9);
      delay.reset();
    },
  });
  const min = stat('nodejs_eventloop_lag_min_seconds', 'The minimum recorded event loop delay.', 'livemin');
  const max = stat('nodejs_eventloop_lag_max_seconds', 'The maximum recorded event loop delay.', 'livemax');
  const mean = stat('nodejs_eventloop_lag_mean_seconds', 'The mean of the recorded event loop delays.', 'livemax');
  const stddev = stat('nodejs_eventloop_lag_stddev_seconds', 'The standard deviation of the recorded event loop delays.', 'livemax');
  const p50 = stat('nodejs_eventloop_lag_p50_seconds', 'The 50th percentile of the recorded event loop delays.', 'livemax');
  const p90 = stat('nodejs_eventloop_lag_p90_seconds', 'The 90th percentile of the recorded event loop delays.', 'livemax');
  const p99 = stat('nodejs_eventloop_lag_p99_seconds', 'The 99th percentile of the recorded event loop delays.', 'livemax');
}

/** A `{type}` gauge and its `_total`, both summed over processes (each counts its own). */
function countsByType(ctx: GroupContext, name: string, help: string, totalHelp: string, read: () => string[]): void {
  const { registers, labelNames, labels, prefix } = ctx;
  new Gauge({
    name: `${prefix}${name}`,
    help,
    registers,
    labelNames: ['type', ...labelNames],
    collect(this: Gauge) {
      // Types that are gone must not keep their last count.
      this.reset();
      for (const [type, count] of countByName(read())) this.set({ type, ...labels }, count);
    },
  });
  new Gauge({
    name: `${prefix}${name}_total`,
    help: totalHelp,
    registers,
    labelNames,
    collect(this: Gauge) {
      this.set(labels, read().length);
    },
  });
}

type ProcessInternals = { _getActiveHandles?: () => object[]; _getActiveRequests?: () => object[] };
const constructorNames = (list: object[]) => list.filter((x) => x && x.constructor).map((x) => x.constructor.name);

export function activeResources(ctx: GroupContext): void {
  if (typeof process.getActiveResourcesInfo !== 'function') return;
  countsByType(ctx, 'nodejs_active_resources',
    'Number of active resources that are currently keeping the event loop alive, grouped by async resource type.',
    'Total number of active resources.', () => process.getActiveResourcesInfo());
}

export function activeHandles(ctx: GroupContext): void {
  const internals = process as unknown as ProcessInternals;
  if (typeof internals._getActiveHandles !== 'function') return;
  countsByType(ctx, 'nodejs_active_handles',
    'Number of active libuv handles grouped by handle type. Every handle type is C++ class name.',
    'Total number of active handles.', () => constructorNames(internals._getActiveHandles!()));
}

export function activeRequests(ctx: GroupContext): void {
  const internals = process as unknown as ProcessInternals;
  if (typeof internals._getActiveRequests !== 'function') return;
  countsByType(ctx, 'nodejs_active_requests',
    'Number of active libuv requests grouped by request type. Every request type is C++ class name.',
    'Total number of active requests.', () => constructorNames(internals._getActiveRequests!()));
}

export function heapSizeAndUsed(ctx: GroupContext): void {
  const { registers, labelNames, labels, prefix } = ctx;
  new Gauge({
    name: `${prefix}nodejs_heap_size_total_bytes`,
    help: 'Process heap size from Node.js in bytes.',
    registers,
    labelNames,
    collect(this: Gauge) {
      let usage: NodeJS.MemoryUsage;
      try {
        usage = process.memoryUsage();
      } catch {
        return; // it can throw on some platforms (prom-client #67): keep the last values
      }
      this.set(labels, usage.heapTotal);
      used.set(labels, usage.heapUsed);
      external.set(labels, usage.external);
    },
  });
  const used = new Gauge({ name: `${prefix}nodejs_heap_size_used_bytes`, help: 'Process heap size used from Node.js in bytes.', registers, labelNames });
  const external = new Gauge({ name: `${prefix}nodejs_external_memory_bytes`, help: 'Node.js external memory size in bytes.', registers, labelNames });
}

export function heapSpaces(ctx: GroupContext): void {
  const { registers, labels, prefix } = ctx;
  const labelNames = ['space', ...ctx.labelNames];
  const config = (kind: string) =>
    ({ name: `${prefix}nodejs_heap_space_size_${kind}_bytes`, help: `Process heap space size ${kind} from Node.js in bytes.`, registers, labelNames });
  new Gauge({
    ...config('total'),
    // One callback sets the three gauges from one reading.
    collect(this: Gauge) {
      for (const space of v8.getHeapSpaceStatistics()) {
        const name = space.space_name.slice(0, space.space_name.indexOf('_space'));
        this.set({ space: name, ...labels }, space.space_size);
        used.set({ space: name, ...labels }, space.space_used_size);
        available.set({ space: name, ...labels }, space.space_available_size);
      }
    },
  });
  const used = new Gauge(config('used'));
  const available = new Gauge(config('available'));
}

const versionParts = process.version.slice(1).split('.').map(Number);

export function version(ctx: GroupContext): void {
  const { labels } = ctx;
  new Gauge({
    name: `${ctx.prefix}nodejs_version_info`,
    help: 'Node.js version info.',
    registers: ctx.registers,
    labelNames: ['version', 'major', 'minor', 'patch', ...ctx.labelNames],
    // 1 for every version some live process runs (two during a rolling upgrade).
    multiprocessMode: 'livemax',
    collect(this: Gauge) {
      this.set({ version: process.version, major: versionParts[0], minor: versionParts[1], patch: versionParts[2], ...labels }, 1);
    },
  });
}

const GC_KINDS: Record<number, string> = {
  [perfConstants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [perfConstants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [perfConstants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [perfConstants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

export function gc(ctx: GroupContext): void {
  const { labels } = ctx;
  const histogram = new Histogram({
    name: `${ctx.prefix}nodejs_gc_duration_seconds`,
    help: 'Garbage collection duration by kind, one of major, minor, incremental or weakcb.',
    registers: ctx.registers,
    labelNames: ['kind', ...ctx.labelNames],
    buckets: ctx.config.gcDurationBuckets ?? [0.001, 0.01, 0.1, 1, 2, 5],
  });
  // Observed as collections happen, so it is written to the file at once: no refresh needed.
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = GC_KINDS[(entry as { detail?: { kind?: number } }).detail?.kind ?? -1];
      if (kind) histogram.observe({ kind, ...labels }, entry.duration / 1000);
    }
  });
  observer.observe({ entryTypes: ['gc'] });
}

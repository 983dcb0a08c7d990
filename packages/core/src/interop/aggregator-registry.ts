// prom-client's AggregatorRegistry with prom-multiproc underneath. prom-client's asks
// every worker over IPC at each scrape (one busy worker fails the scrape, a dead one takes
// its counts along); this one reads the directory every process writes to.
//
//   new AggregatorRegistry()   in the cluster primary: chooses the directory before any
//                              worker is forked (PROMETHEUS_MULTIPROC_DIR, else a private
//                              temporary one) and folds the files of workers that exit;
//                              in a worker: nothing to set up, metrics already write files
//   clusterMetrics()           the merged directory as text, in any process; never waits
//                              on a worker
//   AggregatorRegistry.setRegistries(regs)
//                              in a worker: prom-client registries among `regs` are
//                              mirrored into the files (the bridge)
//   AggregatorRegistry.aggregate(jsons)
//                              prom-client's pure aggregation, unchanged
import cluster from 'node:cluster';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Collector } from '../collect/collector.js';
import { Compactor } from '../collect/compactor.js';
import { Registry, type PrometheusContentType, type RegistryContentType } from '../metrics/registry.js';
import type { MetricObjectWithValues, MetricValueWithName } from '../metrics/metric.js';
import { OPENMETRICS_CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE } from '../collect/exposition.js';
import { RefreshScheduler } from '../refresh/schedule.js';
import { checkWritableDirectory, multiprocessDirFromEnv } from '../storage/storage.js';
import { aggregate } from './aggregate.js';
import { processState } from '../process-state.js';
import { bridgePromClient } from './prom-client-bridge.js';
import type { PromClientRegistryLike } from './snapshot.js';

/** The one collector of this process for AggregatorRegistry instances (the primary's compacts). */
interface DirectoryCollector {
  directory: string;
  collector: Promise<Collector>;
  close(): Promise<void>;
}

// One per process, even with both builds of this package loaded: never two compactors.
const state = processState('aggregatorRegistry', () => ({ shared: undefined as DirectoryCollector | undefined }));

function primaryCollector(log: (m: string) => void): DirectoryCollector {
  const configured = multiprocessDirFromEnv();
  const directory = configured ? path.resolve(configured) : fs.mkdtempSync(path.join(os.tmpdir(), 'prom-multiproc-'));
  checkWritableDirectory(directory);
  // Workers forked from now on inherit it: this must happen before the first fork,
  // which is where prom-client's documentation creates the AggregatorRegistry.
  process.env.PROMETHEUS_MULTIPROC_DIR = directory;
  const removePrivate = () => {
    if (!configured) fs.rmSync(directory, { recursive: true, force: true });
  };
  if (!configured) process.once('exit', removePrivate);
  const refresh = new RefreshScheduler(directory);
  const compactor = Compactor.start(directory, { log });
  // A compactor that cannot start fails clusterMetrics() (which awaits it), not the process.
  const onExit = () => void compactor.then((c) => c.sweep(), () => {});
  cluster.on('exit', onExit);
  const collector = compactor.then((c) => new Collector({ directory, log, compactor: c, onScrape: () => refresh.noteScrape() }));
  collector.catch(() => {});
  return {
    directory,
    collector,
    async close() {
      cluster.off('exit', onExit);
      refresh.stop();
      await collector.then((c) => c.close(), () => {});
      await compactor.then((c) => c.close(), () => {});
      process.off('exit', removePrivate);
      removePrivate();
    },
  };
}

function readOnlyCollector(directory: string, log: (m: string) => void): DirectoryCollector {
  const collector = new Collector({ directory, log });
  return { directory, collector: Promise.resolve(collector), close: async () => collector.close() };
}

/** Whether any process has written a file in the directory (a missing directory is the collector's to report). */
function hasMetricFiles(directory: string): boolean {
  try {
    return fs.readdirSync(directory).some((name) => name.endsWith('.db'));
  } catch {
    return true;
  }
}

export class AggregatorRegistry<T extends RegistryContentType = RegistryContentType> extends Registry<T> {
  constructor(contentType?: T) {
    super(contentType);
    if (cluster.isPrimary && !state.shared) state.shared = primaryCollector((m) => console.warn(m));
  }

  /** The merged metrics of every process writing to the directory, in this registry's content type. */
  async clusterMetrics(): Promise<string> {
    if (!state.shared) {
      const directory = multiprocessDirFromEnv();
      if (!directory) return ''; // no directory, no workers writing: what prom-client returns without workers
      state.shared = readOnlyCollector(path.resolve(directory), (m) => console.warn(m));
    }
    // No process has written anything yet: prom-client without workers returns '' too.
    if (!hasMetricFiles(state.shared.directory)) return '';
    const collector = await state.shared.collector;
    const format = (this.contentType as RegistryContentType) === OPENMETRICS_CONTENT_TYPE ? 'openmetrics' : 'text';
    return collector.scrapeWith(format, (exposition) => exposition.bytes.toString('utf8'));
  }

  /** Stops the primary's compaction and removes a private directory (prom-client has no such call; for tests and clean shutdowns). */
  static async close(): Promise<void> {
    const current = state.shared;
    state.shared = undefined;
    await current?.close();
  }

  static aggregate<T extends RegistryContentType = PrometheusContentType>(metricsArr: Array<object>, registryType?: T): Registry<T> {
    return aggregate(metricsArr as Array<Array<MetricObjectWithValues<MetricValueWithName<string>>>>, registryType ?? (PROMETHEUS_CONTENT_TYPE as T));
  }

  /**
   * In a worker: mirrors the prom-client registries among `regs` into this process's
   * files. prom-multiproc's own registries need nothing: their metrics write files.
   */
  static setRegistries(regs: unknown): void {
    const list = Array.isArray(regs) ? regs : [regs];
    for (const reg of list) {
      if (reg instanceof Registry) continue;
      const foreign = reg as PromClientRegistryLike;
      if (!foreign || typeof foreign.getMetricsAsJSON !== 'function') throw new TypeError(`Expected Registry, got ${typeof reg}`);
      bridgePromClient(foreign);
    }
  }
}

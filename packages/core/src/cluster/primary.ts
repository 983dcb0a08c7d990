// node:cluster integration: in the primary, one call starts the collector and its
// server, gives the workers a directory, and cleans up after workers that exit.
import cluster from 'node:cluster';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Collector } from '../collect/collector.js';
import { Compactor, type StartupPolicy } from '../collect/compactor.js';
import { globalRegistry, type Registry } from '../metrics/registry.js';
import { RefreshScheduler } from '../refresh/schedule.js';
import { startMetricsServer } from '../serve/server.js';
import { loadWebConfig } from '../serve/web-config.js';
import { checkWritableDirectory, multiprocessDirFromEnv } from '../storage/storage.js';

export interface ClusterCollectorOptions {
  /** Port of the metrics server (default 9464; 0 picks a free one). */
  port?: number;
  host?: string;
  /** Default: PROMETHEUS_MULTIPROC_DIR, else a private temporary directory. */
  directory?: string;
  /**
   * Files a previous run left in a configured directory: `fold` (default) folds those of
   * dead processes into the archives, `clear` deletes them all.
   */
  startup?: StartupPolicy;
  /** Liveness sweep period in ms, for processes that die unseen (default 10 s; 0: off). */
  sweepIntervalMs?: number;
  /** The primary's own metrics, served with the merged ones (default: the global registry). */
  registry?: Registry;
  log?: (message: string) => void;
  /**
   * exporter-toolkit web config file (TLS, client certificates, basic auth, headers;
   * docs/security.md). A bad file makes this call throw a WebConfigError naming the field.
   */
  webConfigFile?: string;
}

export interface ClusterCollector {
  directory: string;
  url: string;
  collector: Collector;
  close(): Promise<void>;
}

export async function startClusterCollector(options: ClusterCollectorOptions = {}): Promise<ClusterCollector> {
  if (!cluster.isPrimary) throw new Error('prom-multiproc: startClusterCollector() belongs in the cluster primary, not in a worker');
  // A bad web config fails the call before anything is created or locked.
  if (options.webConfigFile !== undefined) loadWebConfig(options.webConfigFile);
  const log = options.log ?? ((m: string) => console.warn(m));
  const configured = options.directory ?? multiprocessDirFromEnv();
  const directory = configured ? path.resolve(configured) : fs.mkdtempSync(path.join(os.tmpdir(), 'prom-multiproc-'));
  checkWritableDirectory(directory);
  const compactor = await Compactor.start(directory, { startup: options.startup, sweepIntervalMs: options.sweepIntervalMs, log });
  // Workers forked from now on inherit the directory through their environment.
  process.env.PROMETHEUS_MULTIPROC_DIR = directory;

  // A worker that exits is gone (reaped) by the time 'exit' fires: the sweep folds its
  // counters into the archives and deletes its files, live gauges included.
  const onExit = () => void compactor.sweep();
  cluster.on('exit', onExit);

  // Workers that mirror prom-client or run `collect` callbacks refresh just before a
  // predicted scrape; the scrape itself still reads files only.
  const refresh = new RefreshScheduler(directory);
  const collector = new Collector({
    directory, registry: options.registry ?? globalRegistry, log, compactor, onScrape: () => refresh.noteScrape(),
  });
  let server;
  try {
    server = await startMetricsServer({ collector, port: options.port ?? 9464, host: options.host, log, webConfigFile: options.webConfigFile });
  } catch (err) {
    cluster.off('exit', onExit);
    refresh.stop();
    await compactor.close();
    if (!configured) fs.rmSync(directory, { recursive: true, force: true });
    throw err;
  }
  return {
    directory,
    url: server.url,
    collector,
    async close() {
      cluster.off('exit', onExit);
      refresh.stop();
      await server.close();
      collector.close();
      await compactor.close();
      if (!configured) fs.rmSync(directory, { recursive: true, force: true });
    },
  };
}

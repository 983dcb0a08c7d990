// node:cluster integration: in the primary, one call starts the collector and its
// server, gives the workers a directory, and cleans up after workers that exit.
import cluster, { type Worker } from 'node:cluster';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Collector } from '../collect/collector.js';
import { clearDirectory, markProcessDead } from '../collect/lifecycle.js';
import { globalRegistry, type Registry } from '../metrics/registry.js';
import { startMetricsServer } from '../serve/server.js';
import { checkWritableDirectory, multiprocessDirFromEnv } from '../storage/storage.js';

export interface ClusterCollectorOptions {
  /** Port of the metrics server (default 9464; 0 picks a free one). */
  port?: number;
  host?: string;
  /** Default: PROMETHEUS_MULTIPROC_DIR, else a private temporary directory. */
  directory?: string;
  /** Delete the metrics files a previous run left in the directory (default true). */
  clearOnStart?: boolean;
  /** The primary's own metrics, served with the merged ones (default: the global registry). */
  registry?: Registry;
  log?: (message: string) => void;
}

export interface ClusterCollector {
  directory: string;
  url: string;
  collector: Collector;
  close(): Promise<void>;
}

export async function startClusterCollector(options: ClusterCollectorOptions = {}): Promise<ClusterCollector> {
  if (!cluster.isPrimary) throw new Error('prom-multiproc: startClusterCollector() belongs in the cluster primary, not in a worker');
  const log = options.log ?? ((m: string) => console.warn(m));
  const configured = options.directory ?? multiprocessDirFromEnv();
  const directory = configured ? path.resolve(configured) : fs.mkdtempSync(path.join(os.tmpdir(), 'prom-multiproc-'));
  checkWritableDirectory(directory);
  if (configured && options.clearOnStart !== false) {
    const removed = clearDirectory(directory);
    if (removed > 0) log(`prom-multiproc: cleared ${removed} files a previous run left in ${directory}`);
  }
  // Workers forked from now on inherit the directory through their environment.
  process.env.PROMETHEUS_MULTIPROC_DIR = directory;

  const onExit = (worker: Worker) => {
    const pid = worker.process.pid;
    if (pid !== undefined) markProcessDead(directory, pid);
  };
  cluster.on('exit', onExit);

  const collector = new Collector({ directory, registry: options.registry ?? globalRegistry, log });
  const server = await startMetricsServer({ collector, port: options.port ?? 9464, host: options.host, log });
  return {
    directory,
    url: server.url,
    collector,
    async close() {
      cluster.off('exit', onExit);
      await server.close();
      if (!configured) fs.rmSync(directory, { recursive: true, force: true });
    },
  };
}

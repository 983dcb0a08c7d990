// The module's work: the core collector over the apps' directory, driven by PM2's bus.
//
//   PM2 bus process:event (exit, stop, delete, restart, reload)
//     -> sweep now: fold every process whose pid is gone (the event has no pid, and a
//        reload's old worker reads pm_id '_old_<id>')
//     -> the pids that pm_id had (pm_id -> pid map from pm2.list()) that are still alive
//        are watched until they are gone, then swept
//   every sweep_seconds: the liveness sweep, the safety net for anything the bus missed
//   every refresh_seconds (and after events): pm2.list() -> the map and the PM2 stats
//
// Scrapes read files and the cached stats only: they never wait on PM2 or on a worker.
import fs from 'node:fs';
import {
  Collector, Compactor, DIRECTORY_MODE, RefreshScheduler, Registry, WebConfigError, isProcessAlive, loadWebConfig, startMetricsServer,
  type Family, type MetricsServer,
} from '@prom-multiproc/core';
import { MODULE_NAME, type ModuleConfig } from './config.js';
import type { Bus, Pm2Client, ProcessEventPacket } from './pm2.js';
import { ProcessTable } from './processes.js';

/** Events after which a process of the app may be gone. */
const LIFECYCLE_EVENTS = new Set(['exit', 'stop', 'delete', 'restart', 'reload', 'restart overlimit']);
/** Events after which the map is out of date (a new pid). */
const START_EVENTS = new Set(['online', 'start']);
/** How long a pid named by an event is watched for its death. */
const WATCH_MS = 30_000;
const WATCH_POLL_MS = 100;
const LISTEN_RETRY_MS = 5_000;
const CONNECT_RETRY_MS = 5_000;

/** Serves the PM2 stats of the last refresh with the merged metrics. */
class Pm2StatsRegistry extends Registry {
  constructor(private readonly table: ProcessTable) {
    super();
  }

  override async families(): Promise<Family[]> {
    return this.table.statsFamilies();
  }
}

export interface Pm2CollectorOptions {
  config: ModuleConfig;
  pm2: Pm2Client;
  log: (message: string) => void;
}

export interface Pm2Collector {
  directory: string;
  collector: Collector;
  compactor: Compactor;
  table: ProcessTable;
  /** Resolves with the URL once the server listens (it retries while the port is taken). */
  listening: Promise<string>;
  close(): Promise<void>;
}

export async function startPm2Collector({ config, pm2, log }: Pm2CollectorOptions): Promise<Pm2Collector> {
  const { directory } = config;
  // A bad web config stops the start, naming the field, before anything is locked.
  if (config.webConfigFile) loadWebConfig(config.webConfigFile);
  fs.mkdirSync(directory, { recursive: true, mode: DIRECTORY_MODE });
  const compactor = await Compactor.start(directory, { startup: config.startup, sweepIntervalMs: config.sweepSeconds * 1000, log });
  const table = new ProcessTable();
  // Workers that bridge prom-client registries refresh just before a predicted scrape.
  const scrapeSignal = new RefreshScheduler(directory);
  const collector = new Collector({
    directory, compactor, log, registry: config.pm2Stats ? new Pm2StatsRegistry(table) : undefined, onScrape: () => scrapeSignal.noteScrape(),
  });

  let closed = false;
  const timers = new Set<NodeJS.Timeout>();
  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      if (!closed) fn();
    }, ms);
    timers.add(t);
  };
  const said = new Set<string>();
  const logOnce = (message: string) => {
    if (!said.has(message)) log(message);
    said.add(message);
  };

  // --- folding dead processes -------------------------------------------------------
  const sweep = async (why: string) => {
    for (const id of await compactor.sweep()) {
      const pid = Number(id);
      const owner = Number.isInteger(pid) ? table.owner(pid) : undefined;
      log(`${MODULE_NAME}: folded process ${id}${owner ? ` (${owner.app}, instance ${owner.instance}, pm_id ${owner.pmId})` : ''} after ${why}`);
      if (owner) table.forget(pid);
    }
  };
  const watched = new Set<number>();
  const watch = (pid: number, why: string, since = Date.now()) => {
    if (closed) return;
    if (isProcessAlive(String(pid)) === false) {
      watched.delete(pid);
      void sweep(why);
      return;
    }
    // Alive and still the current pid of an online process: it was not this one that went.
    const owner = table.owner(pid);
    const current = owner ? table.get(owner.pmId) : undefined;
    const stillServing = current?.pid === pid && current.status === 'online' && Date.now() - since > 2_000;
    if (stillServing || Date.now() - since > WATCH_MS) {
      watched.delete(pid);
      return;
    }
    watched.add(pid);
    later(WATCH_POLL_MS, () => watch(pid, why, since));
  };

  // --- the pm_id -> pid map ---------------------------------------------------------
  let refreshing: Promise<void> | undefined;
  let refreshAgain = false;
  const refresh = (): Promise<void> => {
    if (refreshing) {
      refreshAgain = true;
      return refreshing;
    }
    refreshing = (async () => {
      try {
        do {
          refreshAgain = false;
          table.update(await pm2.list());
        } while (refreshAgain && !closed);
      } catch (err) {
        logOnce(`${MODULE_NAME}: pm2.list() failed (${err instanceof Error ? err.message : String(err)}); PM2 stats and the pid map are stale`);
      } finally {
        refreshing = undefined;
      }
    })();
    return refreshing;
  };

  const onEvent = (packet: ProcessEventPacket) => {
    if (closed || !packet || typeof packet.event !== 'string') return;
    const proc = packet.process ?? {};
    if (proc.name === MODULE_NAME) return;
    if (START_EVENTS.has(packet.event)) {
      void refresh();
      return;
    }
    if (!LIFECYCLE_EVENTS.has(packet.event)) return;
    const why = `PM2 ${packet.event} of ${proc.name ?? '?'} pm_id ${String(proc.pm_id)}`;
    void sweep(why);
    for (const pid of table.pidsOf(proc.pm_id, false)) if (!watched.has(pid)) watch(pid, why);
    void refresh();
  };

  let bus: Bus | undefined;
  let refreshTimer: NodeJS.Timeout | undefined;
  const connect = async (): Promise<void> => {
    try {
      await pm2.connect();
      await refresh();
      bus = await pm2.launchBus();
      if (closed) return;
      bus.on('process:event', onEvent);
      refreshTimer ??= setInterval(() => void refresh(), config.refreshSeconds * 1000);
      log(`${MODULE_NAME}: following PM2's process events`);
    } catch (err) {
      logOnce(`${MODULE_NAME}: cannot connect to PM2 (${err instanceof Error ? err.message : String(err)}); retrying, the liveness sweep folds dead processes meanwhile`);
      later(CONNECT_RETRY_MS, () => void connect());
    }
  };
  // --- the server -------------------------------------------------------------------
  let server: MetricsServer | undefined;
  const listening = new Promise<string>((resolve) => {
    const listen = async () => {
      try {
        server = await startMetricsServer({ collector, port: config.port, host: config.host, path: config.path, log, webConfigFile: config.webConfigFile });
        if (closed) {
          await server.close();
          return;
        }
        log(`${MODULE_NAME}: serving ${directory} on ${server.url}`);
        resolve(server.url);
      } catch (err) {
        const hint = err instanceof WebConfigError ? 'fix the file' : `pm2 set ${MODULE_NAME}:port <port> to change it`;
        logOnce(`${err instanceof Error ? err.message : String(err)}; retrying every ${LISTEN_RETRY_MS / 1000} s (${hint})`);
        later(LISTEN_RETRY_MS, () => void listen());
      }
    };
    void listen();
  });
  // Serving does not wait for PM2: the directory is served even while PM2 does not answer.
  const connected = connect();

  return {
    directory,
    collector,
    compactor,
    table,
    listening,
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(refreshTimer);
      scrapeSignal.stop();
      for (const t of timers) clearTimeout(t);
      timers.clear();
      await server?.close();
      collector.close(); // its files' mappings
      await compactor.close(); // releases the compaction lock for the next collector
      await Promise.race([connected, new Promise((r) => setTimeout(r, 200))]);
      await pm2.disconnect();
    },
  };
}

// What the module knows about PM2's processes, from `pm2.list()`: pm_id -> pid and app,
// the pids a pm_id had before (the bus's exit events carry no pid), and per-process stats.
import { PM2_APP_LABEL, PM2_INSTANCE_LABEL, type Family } from '@prom-multiproc/core';
import type { Pm2ListEntry } from './pm2.js';

export interface Pm2Process {
  pmId: number;
  pid: number;
  app: string;
  /** NODE_APP_INSTANCE (or the app's instance_var), as the workers label their series. */
  instance: string;
  status: string;
  cpu: number;
  memory: number;
  restarts: number;
  /** When the process (re)started, ms since the epoch. */
  startedAt: number | undefined;
  isModule: boolean;
}

export function fromListEntry(entry: Pm2ListEntry): Pm2Process | undefined {
  const env = entry.pm2_env ?? {};
  const pmId = typeof entry.pm_id === 'number' ? entry.pm_id : Number(env.pm_id);
  if (!Number.isInteger(pmId)) return undefined; // an '_old_<id>' slot of a reload in progress
  const instanceVar = typeof env.instance_var === 'string' && env.instance_var ? env.instance_var : 'NODE_APP_INSTANCE';
  const instance = env[instanceVar];
  return {
    pmId,
    pid: typeof entry.pid === 'number' ? entry.pid : 0,
    app: entry.name ?? String(env.name ?? ''),
    instance: instance === undefined || instance === null ? '' : String(instance),
    status: String(env.status ?? 'unknown'),
    cpu: entry.monit?.cpu ?? 0,
    memory: entry.monit?.memory ?? 0,
    restarts: Number(env.restart_time ?? 0) || 0,
    startedAt: typeof env.pm_uptime === 'number' ? env.pm_uptime : undefined,
    isModule: env.pmx_module === true,
  };
}

/** Who a pid was, for the log line when its files are folded. */
export interface PidOwner {
  pmId: number;
  app: string;
  instance: string;
}

const HISTORY_PER_ID = 8;

export class ProcessTable {
  private byId = new Map<number, Pm2Process>();
  /** pm_id -> pids it had (newest last), including the current one. */
  private readonly pidsById = new Map<number, number[]>();
  private readonly owners = new Map<number, PidOwner>();
  private refreshedAt = 0;

  /** Replaces the table with a fresh `pm2.list()`. */
  update(list: Pm2ListEntry[], now = Date.now()): void {
    const byId = new Map<number, Pm2Process>();
    for (const entry of list) {
      const proc = fromListEntry(entry);
      if (!proc) continue;
      byId.set(proc.pmId, proc);
      if (proc.pid > 0) this.remember(proc);
    }
    this.byId = byId;
    this.refreshedAt = now;
  }

  /** Processes of apps (not modules), by pm_id. */
  apps(): Pm2Process[] {
    return [...this.byId.values()].filter((p) => !p.isModule).sort((a, b) => a.pmId - b.pmId);
  }

  get(pmId: number): Pm2Process | undefined {
    return this.byId.get(pmId);
  }

  /**
   * The pids a process event's pm_id may refer to: every pid that pm_id had, except its
   * current one when `exceptCurrent`. During `pm2 reload` the old worker's pm_id reads
   * `_old_<id>`: it is the same slot.
   */
  pidsOf(pmId: number | string | undefined, exceptCurrent: boolean): number[] {
    const id = Number(String(pmId ?? '').replace(/^_old_/, ''));
    if (!Number.isInteger(id)) return [];
    const current = this.byId.get(id)?.pid;
    return (this.pidsById.get(id) ?? []).filter((pid) => !(exceptCurrent && pid === current));
  }

  owner(pid: number): PidOwner | undefined {
    return this.owners.get(pid);
  }

  /** Forgets a pid whose files are folded. */
  forget(pid: number): void {
    const owner = this.owners.get(pid);
    this.owners.delete(pid);
    if (!owner) return;
    const pids = this.pidsById.get(owner.pmId)?.filter((p) => p !== pid);
    if (pids && pids.length > 0) this.pidsById.set(owner.pmId, pids);
    else this.pidsById.delete(owner.pmId);
  }

  private remember(proc: Pm2Process): void {
    const pids = (this.pidsById.get(proc.pmId) ?? []).filter((pid) => pid !== proc.pid);
    pids.push(proc.pid);
    while (pids.length > HISTORY_PER_ID) this.owners.delete(pids.shift()!);
    this.pidsById.set(proc.pmId, pids);
    this.owners.set(proc.pid, { pmId: proc.pmId, app: proc.app, instance: proc.instance });
  }

  /** Per-process PM2 stats as of the last refresh (apps only; modules are left out). */
  statsFamilies(now = Date.now()): Family[] {
    const apps = this.apps();
    // The workers' own labels (so stats and app series join on them), plus PM2's id.
    const labels = (p: Pm2Process): Array<[string, string]> => [[PM2_APP_LABEL, p.app], [PM2_INSTANCE_LABEL, p.instance], ['pm_id', String(p.pmId)]];
    const family = (name: string, help: string, type: 'gauge' | 'counter', value: (p: Pm2Process) => number): Family => ({
      name,
      help,
      type,
      samples: apps.map((p) => ({ name: type === 'counter' ? `${name}_total` : name, labels: labels(p), value: value(p) })),
    });
    const online = (p: Pm2Process) => p.status === 'online';
    return [
      family('pm2_up', 'Whether PM2 reports the process online (1) or not (0).', 'gauge', (p) => (online(p) ? 1 : 0)),
      family('pm2_cpu_percent', 'CPU use of the process in percent, as PM2 measures it.', 'gauge', (p) => p.cpu),
      family('pm2_memory_bytes', 'Resident memory of the process in bytes, as PM2 measures it.', 'gauge', (p) => p.memory),
      family('pm2_restarts', 'Restarts of the process since it was started (PM2 restart_time; `pm2 reset` and delete start it over).', 'counter', (p) => p.restarts),
      family('pm2_uptime_seconds', 'Seconds since the process was (re)started; 0 when not online.', 'gauge',
        (p) => (online(p) && p.startedAt ? Math.max(0, (now - p.startedAt) / 1000) : 0)),
      {
        name: 'pm2_stats_age_seconds',
        help: 'Age of the PM2 stats above: seconds since the last successful pm2.list().',
        type: 'gauge',
        samples: [{ name: 'pm2_stats_age_seconds', labels: [], value: this.refreshedAt ? Math.max(0, (now - this.refreshedAt) / 1000) : -1 }],
      },
    ];
  }
}

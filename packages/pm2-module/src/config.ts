// The module's settings: defaults from package.json `config`, overridden by what the user
// set with `pm2 set pm2-prom-multiproc:<key> <value>`. PM2 hands a module its whole
// configuration as JSON in the environment variable named after the module, on every
// start and restart (`pm2 set` restarts the module), so no PM2 API is needed to read it.
import os from 'node:os';
import path from 'node:path';
import type { StartupPolicy } from '@prom-multiproc/core';

export const MODULE_NAME = 'pm2-prom-multiproc';

export interface ModuleConfig {
  /** Port of the /metrics server. */
  port: number;
  /** Address to listen on: 127.0.0.1 (default) or 0.0.0.0 to be scraped from other hosts. */
  host: string;
  /** The multiprocess directory the apps write to (their PROMETHEUS_MULTIPROC_DIR). */
  directory: string;
  /** HTTP path of the metrics. */
  path: string;
  /** Files a previous run left: fold those of dead processes (default) or clear them all. */
  startup: StartupPolicy;
  /** Liveness sweep period, the safety net behind PM2's exit events (0: off). */
  sweepSeconds: number;
  /** How often the pm_id → pid/app map and the PM2 stats are refreshed from `pm2.list()`. */
  refreshSeconds: number;
  /** Serve per-process PM2 stats (pm2_up, pm2_cpu_percent, pm2_memory_bytes, ...). */
  pm2Stats: boolean;
  /** exporter-toolkit web config file (TLS, client certificates, basic auth); undefined: plain HTTP. */
  webConfigFile?: string;
}

/** Where the directory goes when neither `directory` nor PROMETHEUS_MULTIPROC_DIR names one. */
export function defaultDirectory(env: NodeJS.ProcessEnv): string {
  return path.join(env.PM2_HOME || path.join(os.homedir(), '.pm2'), 'prom-multiproc');
}

function number(value: unknown, min: number, max: number): number | undefined {
  const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
  return Number.isFinite(n) && n >= min && n <= max ? n : undefined;
}

function boolean(value: unknown): boolean | undefined {
  if (typeof value === 'boolean') return value;
  if (typeof value !== 'string') return undefined;
  const v = value.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off'].includes(v)) return false;
  return undefined;
}

/**
 * The settings in force: `defaults` (package.json `config`), then the user's values from
 * `env[MODULE_NAME]`. A value that does not parse keeps the default and is reported in
 * `problems`: a typo in `pm2 set` must not put the module in a restart loop.
 */
export function readConfig(defaults: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): { config: ModuleConfig; problems: string[] } {
  let user: Record<string, unknown> = {};
  const problems: string[] = [];
  const raw = env[MODULE_NAME];
  if (raw) {
    try {
      const parsed: unknown = JSON.parse(raw);
      if (parsed && typeof parsed === 'object') user = parsed as Record<string, unknown>;
    } catch {
      problems.push(`the module configuration in $${MODULE_NAME} is not JSON; using the defaults`);
    }
  }
  const pick = <T>(key: string, parse: (v: unknown) => T | undefined, fallback: T): T => {
    for (const [source, values] of [['pm2 set', user], ['package.json config', defaults]] as const) {
      if (!(key in values) || values[key] === '' || values[key] === null) continue;
      const parsed = parse(values[key]);
      if (parsed !== undefined) return parsed;
      problems.push(`${MODULE_NAME}:${key} = ${JSON.stringify(values[key])} (${source}) is not valid; ignored`);
    }
    return fallback;
  };
  const text = (v: unknown) => (typeof v === 'string' || typeof v === 'number' ? String(v).trim() : undefined);
  const startup = pick<StartupPolicy>('startup', (v) => (v === 'fold' || v === 'clear' ? v : undefined), 'fold');
  const metricsPath = pick('path', (v) => (typeof v === 'string' && v.startsWith('/') ? v : undefined), '/metrics');
  const directory = pick('directory', text, '') || env.PROMETHEUS_MULTIPROC_DIR || env.prometheus_multiproc_dir || defaultDirectory(env);
  return {
    config: {
      port: pick('port', (v) => number(v, 0, 65535), 9464),
      host: pick('host', text, '127.0.0.1'),
      directory: path.resolve(directory),
      path: metricsPath,
      startup,
      sweepSeconds: pick('sweep_seconds', (v) => number(v, 0, 86400), 10),
      refreshSeconds: pick('refresh_seconds', (v) => number(v, 0.1, 3600), 5),
      pm2Stats: pick('pm2_stats', boolean, true),
      webConfigFile: pick('web_config_file', (v) => (typeof v === 'string' ? path.resolve(v.trim()) : undefined), undefined),
    },
    problems,
  };
}

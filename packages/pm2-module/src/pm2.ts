// The PM2 programmatic API, taken from the PM2 installation that runs this module, so the
// module ships no copy of PM2 (its tarball has no dependencies at all) and always speaks
// the protocol of the daemon it talks to.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

/** One entry of `pm2.list()` (the fields this module reads). */
export interface Pm2ListEntry {
  name?: string;
  pid?: number;
  pm_id?: number;
  monit?: { cpu?: number; memory?: number };
  pm2_env?: Record<string, unknown> & {
    status?: string;
    restart_time?: number;
    pm_uptime?: number;
    pmx_module?: boolean;
    exec_mode?: string;
    instance_var?: string;
  };
}

/** A `process:event` packet from the PM2 bus. It carries no OS pid. */
export interface ProcessEventPacket {
  event: string;
  manually?: boolean;
  at?: number;
  process?: { name?: string; pm_id?: number | string; status?: string; exit_code?: number; pmx_module?: boolean };
}

export interface Bus {
  on(event: 'process:event', listener: (packet: ProcessEventPacket) => void): void;
  off?(event: string, listener: (...args: unknown[]) => void): void;
}

type Callback<T> = (err: Error | null | undefined, value: T) => void;

/** The callback API of the `pm2` package (the parts used here). */
export interface Pm2Api {
  connect(cb: Callback<unknown>): void;
  disconnect(cb?: Callback<unknown>): void;
  list(cb: Callback<Pm2ListEntry[]>): void;
  launchBus(cb: Callback<Bus>): void;
  disconnectBus(cb?: Callback<unknown>): void;
}

/** Promise wrapper around the PM2 API. */
export class Pm2Client {
  constructor(private readonly api: Pm2Api) {}

  connect(): Promise<void> {
    return new Promise((resolve, reject) => this.api.connect((err) => (err ? reject(err) : resolve())));
  }

  list(): Promise<Pm2ListEntry[]> {
    return new Promise((resolve, reject) => this.api.list((err, list) => (err ? reject(err) : resolve(list ?? []))));
  }

  launchBus(): Promise<Bus> {
    return new Promise((resolve, reject) => this.api.launchBus((err, bus) => (err ? reject(err) : resolve(bus))));
  }

  /** Closes the bus and the RPC connection; never throws, gives up after `timeoutMs`. */
  async disconnect(timeoutMs = 2000): Promise<void> {
    const step = (call: (cb: Callback<unknown>) => void) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        try {
          call(() => {
            clearTimeout(timer);
            resolve();
          });
        } catch {
          clearTimeout(timer);
          resolve();
        }
      });
    await step((cb) => this.api.disconnectBus(cb));
    await step((cb) => this.api.disconnect(cb));
  }
}

/** The root of the `pm2` package that contains `file`, if any. */
function pm2RootAbove(file: string | undefined): string | undefined {
  if (!file) return undefined;
  let dir = path.dirname(path.resolve(file));
  for (;;) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string };
      if (pkg.name === 'pm2') return dir;
    } catch { /* no package.json here */ }
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/**
 * Loads `pm2`: from PM2_PROM_MULTIPROC_PM2 if set (a path to the package), else from the
 * PM2 that started this process (PM2 runs a module as `node <pm2>/lib/ProcessContainerFork.js`),
 * else by ordinary resolution from the module's folder.
 */
export function loadPm2(env: NodeJS.ProcessEnv = process.env, argv: string[] = process.argv): { api: Pm2Api; from: string } {
  const require = createRequire(import.meta.url);
  const candidates = [env.PM2_PROM_MULTIPROC_PM2, pm2RootAbove(argv[1]), 'pm2'].filter((c): c is string => !!c);
  const failures: string[] = [];
  for (const candidate of candidates) {
    try {
      return { api: require(candidate) as Pm2Api, from: candidate === 'pm2' ? require.resolve('pm2') : candidate };
    } catch (err) {
      failures.push(`${candidate}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
    }
  }
  throw new Error(`${'pm2-prom-multiproc'}: cannot load the pm2 package (${failures.join('; ')}); run the module with \`pm2 install\`, or set PM2_PROM_MULTIPROC_PM2 to pm2's folder`);
}

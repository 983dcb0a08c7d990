// A real PM2 daemon in a temporary PM2_HOME, driven through pm2's own CLI, and the packed
// pm2-prom-multiproc module. Nothing here touches ~/.pm2.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..');
const PM2_CLI = path.join(ROOT, 'node_modules', 'pm2', 'bin', 'pm2');
const MODULE_DIR = path.join(ROOT, 'packages', 'pm2-module');

export interface Pm2Process {
  name: string;
  pid: number;
  pm_id: number;
  pm2_env: { status: string; restart_time: number; pmx_module?: boolean; NODE_APP_INSTANCE?: number | string; [key: string]: unknown };
}

function run(file: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd: options.cwd, env: options.env, timeout: options.timeoutMs ?? 60_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${path.basename(file)} ${args.join(' ')} failed: ${err.message}\n${stdout}\n${stderr}`));
      else resolve(`${stdout}${stderr}`);
    });
  });
}

/** `pnpm pack` of packages/pm2-module (built by `pnpm build`) into `destination`; the tarball's path. */
export async function packModule(destination: string): Promise<string> {
  if (!fs.existsSync(path.join(MODULE_DIR, 'dist', 'module.js'))) {
    throw new Error('packages/pm2-module/dist/module.js is missing: run `pnpm build` first');
  }
  await run('pnpm', ['pack', '--pack-destination', destination], { cwd: MODULE_DIR, env: process.env });
  const tarball = fs.readdirSync(destination).find((f) => /^pm2-prom-multiproc-\d+\.\d+\.\d+\.tgz$/.test(f));
  if (!tarball) throw new Error(`pnpm pack wrote no tarball into ${destination}`);
  return path.join(destination, tarball);
}

export class Pm2Daemon {
  readonly home = fs.mkdtempSync(path.join(os.tmpdir(), 'pmp-pm2-home-'));
  /** Every pid seen in a process list, for the last-resort cleanup. */
  private readonly seenPids = new Set<number>();
  private readonly env: NodeJS.ProcessEnv;

  constructor() {
    // No traffic off this machine: the first pm2 command in a PM2_HOME without a `touch`
    // file asks version.pm2.io for updates, and the daemon asks again every day.
    fs.writeFileSync(path.join(this.home, 'touch'), String(Date.now()));
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PM2_HOME: this.home,
      PM2_DISABLE_VERSION_CHECK: 'true',
      FORCE_COLOR: '0',
      // `pm2 install` runs npm on the tarball: it must need no registry at all.
      npm_config_offline: 'true',
      npm_config_audit: 'false',
      npm_config_fund: 'false',
      npm_config_update_notifier: 'false',
    };
    // Apps get the CLI's environment: they must not inherit a directory from the test run.
    for (const key of ['PROMETHEUS_MULTIPROC_DIR', 'prometheus_multiproc_dir', 'pm_id', 'name', 'pm_exec_path']) delete env[key];
    this.env = env;
  }

  /** Runs `pm2 <args>` against this daemon (starting it if needed); resolves with its output. */
  cli(args: string[], extraEnv: NodeJS.ProcessEnv = {}, timeoutMs = 60_000): Promise<string> {
    return run(process.execPath, [PM2_CLI, ...args], { cwd: ROOT, env: { ...this.env, ...extraEnv }, timeoutMs });
  }

  async list(): Promise<Pm2Process[]> {
    const out = await this.cli(['jlist']);
    const list = JSON.parse(out.slice(out.indexOf('['))) as Pm2Process[];
    for (const p of list) if (p.pid > 0) this.seenPids.add(p.pid);
    return list;
  }

  daemonPid(): number | undefined {
    try {
      return Number(fs.readFileSync(path.join(this.home, 'pm2.pid'), 'utf8').trim()) || undefined;
    } catch {
      return undefined;
    }
  }

  log(name: string): string {
    try {
      return fs.readFileSync(path.join(this.home, 'logs', `${name}-out.log`), 'utf8') + fs.readFileSync(path.join(this.home, 'logs', `${name}-error.log`), 'utf8');
    } catch {
      return '';
    }
  }

  /** The daemon's own log (starts, stops, the signal each process died of, kill_timeout SIGKILLs). */
  daemonLog(): string {
    try {
      return fs.readFileSync(path.join(this.home, 'pm2.log'), 'utf8');
    } catch {
      return '';
    }
  }

  /** `pm2 kill`, then SIGKILL whatever of the daemon and its processes is left; removes PM2_HOME. */
  async kill(): Promise<void> {
    const daemon = this.daemonPid();
    if (daemon) this.seenPids.add(daemon);
    await this.list().catch(() => []);
    await this.cli(['kill'], {}, 20_000).catch(() => {});
    for (const pid of this.seenPids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch { /* gone */ }
    }
    fs.rmSync(this.home, { recursive: true, force: true });
  }
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Sends `n` GETs to the app on `port`, `concurrency` at a time, each on a new connection. */
export async function drive(port: number, n: number, concurrency = 4): Promise<{ ok: number; failed: number }> {
  let next = 0;
  let ok = 0;
  let failed = 0;
  const one = () =>
    new Promise<void>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/work', agent: false }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode === 200) ok++;
          else failed++;
          resolve();
        });
        res.on('error', () => {
          failed++;
          resolve();
        });
      });
      req.on('error', () => {
        failed++;
        resolve();
      });
      req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    });
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        next++;
        await one();
      }
    }),
  );
  return { ok, failed };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns a value that is not undefined/false, up to `timeoutMs`. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 15_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}${last ? `: ${last instanceof Error ? last.message : String(last)}` : ''}`);
    await sleep(100);
  }
}

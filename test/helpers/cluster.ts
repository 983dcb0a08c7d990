// Starts test/apps/cluster-app.mjs as a real process tree and talks to it over IPC.
import { fork, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import zlib from 'node:zlib';

export interface AppMessage {
  event: string;
  pid: number;
  [key: string]: unknown;
}

export class ClusterApp {
  readonly messages: AppMessage[] = [];
  url = '';
  directory = '';
  private waiters: Array<() => void> = [];

  private constructor(readonly child: ChildProcess) {
    child.on('message', (msg: AppMessage) => {
      this.messages.push(msg);
      for (const wake of this.waiters.splice(0)) wake();
    });
  }

  /** Starts `app` (a file in test/apps) with `workers` workers and waits until each is online. */
  static async start(workers = 3, env: NodeJS.ProcessEnv = {}, app = 'cluster-app.mjs'): Promise<ClusterApp> {
    const child = fork(path.join(__dirname, '..', 'apps', app), [], {
      env: { ...process.env, WORKERS: String(workers), PROMETHEUS_MULTIPROC_DIR: '', ...env },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv: [],
    });
    const started = new ClusterApp(child);
    const ready = await started.waitFor((m) => m.event === 'ready');
    started.url = ready.url as string;
    started.directory = ready.directory as string;
    await started.waitFor(() => started.messages.filter((m) => m.event === 'online').length >= workers);
    return started;
  }

  /** Waits for a message matching `match` (already received or future), up to 20 s. */
  waitFor(match: (m: AppMessage) => boolean, timeoutMs = 20_000): Promise<AppMessage> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timed out waiting for the cluster app')), timeoutMs);
      const check = () => {
        const found = this.messages.find(match);
        if (found) {
          clearTimeout(timer);
          resolve(found);
        } else this.waiters.push(check);
      };
      check();
    });
  }

  send(msg: Record<string, unknown>): void {
    this.child.send(msg);
  }

  livePids(): number[] {
    const online = this.messages.filter((m) => m.event === 'online').map((m) => m.pid);
    const exited = new Set(this.messages.filter((m) => m.event === 'exit').map((m) => m.pid));
    return online.filter((pid) => !exited.has(pid));
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.send({ cmd: 'stop' });
    const timer = setTimeout(() => this.kill(), 5000);
    await exited;
    clearTimeout(timer);
  }

  /** Last resort: SIGKILL the primary and every worker it reported, by pid. */
  kill(): void {
    for (const pid of this.livePids()) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
    }
    this.child.kill('SIGKILL');
  }
}

export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export function httpGet(url: string, headers: Record<string, string> = {}, method = 'GET'): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        let body = Buffer.concat(chunks);
        if (res.headers['content-encoding'] === 'gzip') body = zlib.gunzipSync(body);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: body.toString('utf8') });
      });
    });
    req.on('error', reject);
    req.setTimeout(15_000, () => req.destroy(new Error(`GET ${url} timed out`)));
    req.end();
  });
}

/** The value of one sample line (`name{labels}`) in a text exposition, or undefined. */
export function sampleValue(body: string, series: string): number | undefined {
  for (const line of body.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

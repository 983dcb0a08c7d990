// A real headless Chromium (Debian package `chromium`) driven over the DevTools protocol
// on a pipe (--remote-debugging-pipe: JSON messages separated by NUL on fds 3 and 4), so
// no port is bound and no npm package is needed. Started and killed (by pid) by the test.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';

interface Pending {
  resolve: (value: Record<string, unknown>) => void;
  reject: (err: Error) => void;
}

export class Chromium {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners: Array<(message: { method: string; params: Record<string, unknown>; sessionId?: string }) => void> = [];
  private stderr = '';

  private constructor(private readonly child: ChildProcess, private readonly profile: string) {
    let buffered = Buffer.alloc(0);
    (child.stdio[4] as Readable).on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      for (let end = buffered.indexOf(0); end >= 0; end = buffered.indexOf(0)) {
        const message = JSON.parse(buffered.subarray(0, end).toString('utf8'));
        buffered = buffered.subarray(end + 1);
        if (message.id !== undefined) {
          const waiter = this.pending.get(message.id);
          this.pending.delete(message.id);
          if (message.error) waiter?.reject(new Error(`${message.error.message} (${JSON.stringify(message.error)})`));
          else waiter?.resolve(message.result);
        } else for (const listen of this.listeners) listen(message);
      }
    });
    child.stderr!.on('data', (d) => (this.stderr += d));
    child.on('exit', () => {
      for (const waiter of this.pending.values()) waiter.reject(new Error(`chromium exited: ${this.stderr.slice(-2000)}`));
      this.pending.clear();
    });
  }

  static async start(): Promise<Chromium> {
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'pmp-chromium-'));
    const child = spawn('chromium', [
      '--headless', '--remote-debugging-pipe', '--no-sandbox', '--disable-gpu', '--no-first-run',
      '--disable-extensions', '--disable-background-networking', '--disable-sync', '--hide-scrollbars',
      `--user-data-dir=${profile}`, 'about:blank',
    ], { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'], detached: true }); // its own process group: close() ends the helpers too
    const browser = new Chromium(child, profile);
    await browser.send('Browser.getVersion');
    return browser;
  }

  send(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`chromium: ${method} got no answer in 30 s`));
      }, 30_000);
      this.pending.set(id, {
        resolve: (v) => { clearTimeout(timer); resolve(v); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      });
      (this.child.stdio[3] as Writable).write(`${JSON.stringify({ id, method, params, sessionId })}\0`);
    });
  }

  /** Opens `url` in a new tab of `width` × `height` and waits for its load event; returns the tab's session. */
  async open(url: string, width = 1200, height = 900): Promise<Tab> {
    const { targetId } = await this.send('Target.createTarget', { url: 'about:blank' }) as { targetId: string };
    const { sessionId } = await this.send('Target.attachToTarget', { targetId, flatten: true }) as { sessionId: string };
    await this.send('Page.enable', {}, sessionId);
    await this.send('Emulation.setDeviceMetricsOverride', { width, height, deviceScaleFactor: 1, mobile: false }, sessionId);
    const loaded = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`chromium: ${url} did not load in 30 s`)), 30_000);
      this.listeners.push((m) => {
        if (m.method === 'Page.loadEventFired' && m.sessionId === sessionId) { clearTimeout(timer); resolve(); }
      });
    });
    const navigation = await this.send('Page.navigate', { url }, sessionId) as { errorText?: string };
    if (navigation.errorText) throw new Error(`chromium could not open ${url}: ${navigation.errorText}`);
    await loaded;
    return new Tab(this, sessionId);
  }

  /** Asks the browser to quit, then kills its process group (renderers, zygote) by its pid. */
  async close(): Promise<void> {
    const pid = this.child.pid;
    if (this.child.exitCode === null && this.child.signalCode === null && pid) {
      const exited = new Promise((r) => this.child.once('exit', r));
      await Promise.race([this.send('Browser.close').catch(() => undefined), new Promise((r) => setTimeout(r, 5000))]);
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    }
    if (pid) try { process.kill(-pid, 'SIGKILL'); } catch { /* the group is gone */ }
    for (const stream of this.child.stdio) stream?.destroy();
    fs.rmSync(this.profile, { recursive: true, force: true });
  }
}

export class Tab {
  constructor(private readonly browser: Chromium, readonly sessionId: string) {}

  /** Evaluates `expression` in the page; returns its value (JSON-serialisable). */
  async evaluate<T>(expression: string): Promise<T> {
    const { result, exceptionDetails } = await this.browser.send('Runtime.evaluate', { expression, returnByValue: true }, this.sessionId) as {
      result: { value: T }; exceptionDetails?: unknown;
    };
    if (exceptionDetails) throw new Error(`evaluate failed: ${JSON.stringify(exceptionDetails)}`);
    return result.value;
  }

  /** A PNG of the whole page. */
  async screenshot(): Promise<Buffer> {
    const { data } = await this.browser.send('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true }, this.sessionId) as { data: string };
    return Buffer.from(data, 'base64');
  }
}

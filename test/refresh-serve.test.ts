// `prom-multiproc serve` and a worker it did not start (no cluster, no IPC between them):
// steady scrapes make the collector signal through the directory, and the worker's
// bridged prom-client counts are fresh although its own mirror period is a minute.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { httpGet, sampleValue } from './helpers/cluster.js';

const ROOT = path.resolve(__dirname, '..');
const children: ChildProcess[] = [];
let dir: string | undefined;

afterEach(() => {
  for (const child of children.splice(0)) {
    if (child.exitCode !== null || child.signalCode !== null || !child.pid) continue;
    try {
      process.kill(child.spawnargs[0] === 'pnpm' ? -child.pid : child.pid, 'SIGKILL');
    } catch { /* already gone */ }
  }
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it('serve signals a steady scraper\'s next scrape; a standalone worker refreshes in time', async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pmp-refresh-'));
  const serve = spawn('pnpm', ['exec', 'prom-multiproc', 'serve', '--dir', dir, '--port', '0'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  children.push(serve);
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    serve.stdout!.on('data', (d) => {
      out += d;
      const m = out.match(/serving .* on (http:\S+)/);
      if (m) resolve(m[1]);
    });
    serve.once('exit', (code) => reject(new Error(`serve exited ${code}`)));
  });
  const worker = fork(path.join(ROOT, 'test/apps/bridged-worker.mjs'), [], { cwd: ROOT, env: { ...process.env, PROMETHEUS_MULTIPROC_DIR: dir }, execArgv: [] });
  children.push(worker);
  const replies: unknown[] = [];
  worker.on('message', (m) => replies.push(m));
  const until = async (n: number) => {
    const deadline = Date.now() + 10_000;
    while (replies.length < n && Date.now() < deadline) await sleep(10);
    expect(replies.length).toBe(n);
  };
  await until(1);
  worker.send({ inc: 5 });
  await until(2);
  const counts: Array<number | undefined> = [];
  for (let i = 0; i < 7; i++) {
    counts.push(sampleValue((await httpGet(url)).body, 'worker_jobs_total'));
    await sleep(400);
  }
  // The bridge mirrored once at start (0); then nothing until the third scrape gives the
  // collector a period: the worker's own timer would take a minute. From then on a signal
  // precedes each scrape (one may land late on a loaded machine: the scrape never waits).
  expect(counts.slice(0, 3)).toEqual([0, 0, 0]);
  expect([0, 5]).toContain(counts[3]);
  expect(counts.slice(4)).toEqual([5, 5, 5]);
  expect(fs.existsSync(path.join(dir, '.prom-multiproc-refresh'))).toBe(true);
});

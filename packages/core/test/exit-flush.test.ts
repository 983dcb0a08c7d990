// Bridged prom-client values reach the files at every stop PM2 or node:cluster performs,
// with a mirror period far longer than the test: SIGINT (PM2's stop, reload and scale
// down), SIGTERM, SIGHUP, process.exit() from the app's own handler, and a cluster
// worker's disconnect. The app's own way of ending is unchanged: without a handler it dies
// of the signal, with one it exits (or keeps running) as its handler says.
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DirectoryMerger, renderText } from '../src/index.js';
import { tempDir } from './helpers/fixtures.js';

const APP = path.join(__dirname, 'helpers', 'bridged-exit.mjs');
const dirs: string[] = [];
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function merged(dir: string): string {
  const result = new DirectoryMerger(dir).merge();
  expect(result.problems).toEqual([]);
  return renderText(result.families);
}

function value(body: string, series: string): number | undefined {
  const line = body.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** Starts the app, makes it count `n`, and resolves once it has answered. */
async function started(mode: string, n: number): Promise<{ child: ChildProcess; dir: string; messages: unknown[] }> {
  const dir = tempDir();
  dirs.push(dir);
  const child = fork(APP, [mode], { env: { ...process.env, PROMETHEUS_MULTIPROC_DIR: dir }, execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.push(child);
  const messages: unknown[] = [];
  child.on('message', (m) => messages.push(m));
  await new Promise<void>((resolve, reject) => {
    child.once('exit', () => reject(new Error('the app exited early')));
    child.on('message', (m: { ready?: boolean; done?: number }) => {
      if (m.ready) child.send({ inc: n });
      if (m.done !== undefined) resolve();
    });
  });
  return { child, dir, messages };
}

const ended = (child: ChildProcess) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve({ code: child.exitCode, signal: child.signalCode });
    else child.once('exit', (code, signal) => resolve({ code, signal }));
  });

const expectCounted = (dir: string, n: number) => {
  const body = merged(dir);
  expect(value(body, 'exit_native_jobs_total')).toBe(n);
  expect(value(body, 'exit_jobs_total{kind="a"}')).toBe(n);
  expect(value(body, 'exit_job_seconds_count')).toBe(n);
  expect(value(body, 'exit_job_seconds_bucket{le="0.5"}')).toBe(Math.ceil(n / 2));
};

describe('bridged values at exit', () => {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    it(`${signal} to an app without a handler: it still dies of ${signal}, and its counts are in the files`, async () => {
      const { child, dir } = await started('plain', 1234);
      child.kill(signal);
      expect(await ended(child)).toEqual({ code: null, signal });
      expectCounted(dir, 1234);
    });
  }

  it('an app with its own handler exits as its handler says (process.exit(3)), counts in the files', async () => {
    const { child, dir } = await started('handler-exit', 777);
    child.kill('SIGINT');
    expect(await ended(child)).toEqual({ code: 3, signal: null });
    expectCounted(dir, 777);
  });

  it('an app whose handler does not exit keeps running', async () => {
    const { child, dir, messages } = await started('handler-stay', 5);
    child.kill('SIGINT');
    const deadline = Date.now() + 10_000;
    while (!messages.some((m) => (m as { signalled?: boolean }).signalled) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(messages).toContainEqual({ signalled: true });
    expect(child.exitCode).toBeNull();
    expect(child.signalCode).toBeNull();
    child.kill('SIGTERM'); // no SIGTERM handler: dies of it, counts written
    expect(await ended(child)).toEqual({ code: null, signal: 'SIGTERM' });
    expectCounted(dir, 5);
  });

  it('a node:cluster worker disconnected by its primary', () => {
    const dir = tempDir();
    dirs.push(dir);
    const r = spawnSync(process.execPath, [APP, 'cluster', '4321'], { env: { ...process.env, PROMETHEUS_MULTIPROC_DIR: dir }, encoding: 'utf8', timeout: 30_000 });
    // The fallback storage's one notice line is expected; nothing else.
    expect(r.stderr.split('\n').filter((l) => l && !l.startsWith('prom-multiproc: storage mode fallback'))).toEqual([]);
    expect(r.stdout).toBe('worker exit 0 null\n');
    expectCounted(dir, 4321);
  });
});

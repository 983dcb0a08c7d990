// `pnpm exec prom-multiproc serve` at the repository root: the collector for any process
// manager, over a directory that Python and Node processes share.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { httpGet, sampleValue } from './helpers/cluster.js';
import { freePort } from './helpers/prometheus.js';

const ROOT = path.resolve(__dirname, '..');
const PYTHON_FIXTURE = path.join(ROOT, 'packages/core/test/fixtures/python/counter_basic');
const running: ChildProcess[] = [];
const dirs: string[] = [];

afterEach(() => {
  for (const child of running.splice(0)) {
    if (child.exitCode !== null || child.signalCode !== null || !child.pid) continue;
    try {
      process.kill(-child.pid, 'SIGKILL'); // the whole group: pnpm and the node it started
    } catch { /* already gone */ }
  }
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function startServe(args: string[]): Promise<{ child: ChildProcess; url: string }> {
  // pnpm exec runs the bin through a shell shim: start it in its own process group so
  // the whole group can be killed by pid.
  const child = spawn('pnpm', ['exec', 'prom-multiproc', 'serve', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  running.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const m = out.match(/serving .* on (http:\S+)/);
      if (m) resolve({ child, url: m[1] });
    });
    child.stderr!.on('data', (d) => (err += d));
    child.once('exit', (code) => reject(Object.assign(new Error(`serve exited ${code}: ${err}`), { code, stderr: err })));
  });
}

function stopGroup(child: ChildProcess): Promise<unknown> {
  const exited = new Promise((r) => child.once('exit', r));
  process.kill(-child.pid!, 'SIGTERM');
  return exited;
}

describe('prom-multiproc serve', () => {
  it('serves a directory shared by Python-written and Node-written files, merged', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pmp-serve-'));
    dirs.push(dir);
    for (const f of fs.readdirSync(PYTHON_FIXTURE).filter((f) => f.endsWith('.db'))) fs.copyFileSync(path.join(PYTHON_FIXTURE, f), path.join(dir, f));
    // A Node process adds to the same series the Python processes wrote.
    const node = spawnSync(process.execPath, ['--input-type=module', '-e', `
      import { Counter } from '@prom-multiproc/core';
      new Counter({ name: 'http_requests_total', help: 'Total HTTP requests.', labelNames: ['method', 'code'] }).inc({ method: 'GET', code: '200' }, 10);
    `], { cwd: ROOT, env: { ...process.env, PROMETHEUS_MULTIPROC_DIR: dir }, encoding: 'utf8' });
    expect(node.stderr).toBe('');
    const port = await freePort();
    const { child, url } = await startServe(['--dir', dir, '--port', String(port), '--host', '127.0.0.1']);
    expect(url).toBe(`http://127.0.0.1:${port}/metrics`);
    const body = (await httpGet(url)).body;
    expect(sampleValue(body, 'http_requests_total{code="200",method="GET"}')).toBe(17); // 3 + 4 from Python, 10 from Node
    expect(sampleValue(body, 'jobs_total')).toBe(4);
    await stopGroup(child);
  });

  it('says clearly when the port is taken, the directory is missing or a flag is unknown', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pmp-serve-'));
    dirs.push(dir);
    const port = await freePort();
    const first = await startServe(['--dir', dir, '--port', String(port)]);
    await expect(startServe(['--dir', dir, '--port', String(port)])).rejects.toMatchObject({
      code: 1, stderr: expect.stringMatching(new RegExp(`port ${port} on 127.0.0.1 is already in use`)),
    });
    await stopGroup(first.child);
    await expect(startServe(['--dir', path.join(dir, 'nope'), '--port', '0'])).rejects.toMatchObject({
      code: 2, stderr: expect.stringMatching(/directory .*nope does not exist/),
    });
    await expect(startServe(['--dir', dir, '--port', '0', '--bogus'])).rejects.toMatchObject({
      code: 2, stderr: expect.stringMatching(/Unknown option '--bogus'/),
    });
    await expect(startServe(['--dir', dir, '--port', 'http'])).rejects.toMatchObject({
      code: 2, stderr: expect.stringMatching(/--port must be a whole number/),
    });
  });
});

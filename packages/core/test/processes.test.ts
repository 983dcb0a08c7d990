// Real processes writing one directory: exact totals, SIGKILLed writers, permissions.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readDbFile } from '../src/index.js';
import { tempDir } from './helpers/fixtures.js';

const WRITER = path.join(__dirname, 'helpers', 'writer-process.mjs');
const children: ChildProcess[] = [];
let dir: string;

function startWriter(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  const child = spawn(process.execPath, [WRITER, ...args], {
    env: { ...process.env, PROMETHEUS_MULTIPROC_DIR: dir, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  return child;
}

function waitForLine(child: ChildProcess, pattern: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    child.stdout!.on('data', (d) => {
      out += d;
      const match = out.match(pattern);
      if (match) resolve(match[0]);
    });
    child.once('exit', (code) => reject(new Error(`writer exited (${code}) before printing ${pattern}: ${err}`)));
  });
}

/** Sums every series over all files of the directory, read in a separate process. */
function totalsFromAnotherProcess(): Record<string, number> {
  const script = `
    import('@prom-multiproc/core').then(({ readDbFile }) => {
      const fs = require('node:fs'), path = require('node:path');
      const totals = {};
      for (const f of fs.readdirSync(process.argv[1]).filter((f) => f.endsWith('.db'))) {
        for (const e of readDbFile(path.join(process.argv[1], f))) {
          const k = e.sampleName + JSON.stringify(e.labels);
          totals[k] = (totals[k] ?? 0) + e.value;
        }
      }
      console.log(JSON.stringify(totals));
    });`;
  const result = spawnSync(process.execPath, ['-e', script, dir], { cwd: __dirname, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(result.stderr);
  return JSON.parse(result.stdout) as Record<string, number>;
}

beforeEach(() => {
  dir = tempDir();
});

afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('real processes', () => {
  it('several processes increment the same series concurrently; another process reads exact totals', async () => {
    const writers = Array.from({ length: 4 }, () => startWriter(['increment', '200000', 'exit']));
    await Promise.all(writers.map((w) => waitForLine(w, /done \d+/)));
    await Promise.all(writers.map((w) => new Promise((r) => (w.exitCode !== null ? r(null) : w.once('exit', r)))));
    expect(fs.readdirSync(dir).filter((f) => f.startsWith('counter_')).length).toBe(4);
    const totals = totalsFromAnotherProcess();
    expect(totals['requests_total{"route":"/a"}']).toBe(800000);
    expect(totals['requests_total{"route":"/b"}']).toBe(1600000);
    // Files hold non-cumulative buckets: 0 -> le 0.1; 0.5 and 1.0 -> le 1.0.
    expect(totals['latency_seconds_bucket{"le":"0.1"}']).toBe(4 * 66667);
    expect(totals['latency_seconds_bucket{"le":"1.0"}']).toBe(4 * 133333);
    expect(totals['latency_seconds_bucket{"le":"+Inf"}']).toBe(0);
    expect(totals['latency_seconds_sum{}']).toBeCloseTo(4 * (66667 * 0.5 + 66666 * 1.0), 6);
  });

  it('a SIGKILLed writer\'s last values stay readable', async () => {
    const writer = startWriter(['increment', '12345']);
    await waitForLine(writer, /done 12345/);
    writer.kill('SIGKILL');
    await new Promise((r) => writer.once('exit', r));
    expect(writer.signalCode).toBe('SIGKILL');
    const entries = readDbFile(path.join(dir, `counter_${writer.pid}.db`));
    expect(entries.find((e) => e.labels.route === '/a')!.value).toBe(12345);
    expect(entries.find((e) => e.labels.route === '/b')!.value).toBe(24690);
  });

  it('a writer SIGKILLed in the middle of appending entries leaves a readable file', async () => {
    for (let round = 0; round < 3; round++) {
      const writer = startWriter(['append-forever']);
      await waitForLine(writer, /started/);
      await new Promise((r) => setTimeout(r, 150 + round * 100));
      writer.kill('SIGKILL');
      await new Promise((r) => writer.once('exit', r));
      const entries = readDbFile(path.join(dir, `counter_${writer.pid}.db`));
      expect(entries.length).toBeGreaterThan(100);
      // Every complete entry reads back; the series created last may be 0 or 1.
      expect(entries.slice(0, -1).every((e) => e.value === 1)).toBe(true);
    }
  });

  it('a directory this process cannot write is a clear error', () => {
    fs.chmodSync(dir, 0o755); // owned by root: not writable for nobody
    const result = spawnSync(process.execPath, [WRITER, 'increment', '1', 'exit'], {
      env: { ...process.env, PROMETHEUS_MULTIPROC_DIR: dir },
      uid: 65534,
      gid: 65534,
      encoding: 'utf8',
    });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/multiprocess directory .* is not writable by this process \(EACCES\)/);
  });

  it('a missing directory named by the environment is a clear error', () => {
    const result = spawnSync(process.execPath, [WRITER, 'increment', '1', 'exit'], {
      env: { ...process.env, PROMETHEUS_MULTIPROC_DIR: path.join(dir, 'missing') },
      encoding: 'utf8',
    });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/multiprocess directory .*missing does not exist \(ENOENT\)/);
  });

  it('an mmap addon that cannot be loaded is an error saying what to install and rebuild', () => {
    const result = spawnSync(process.execPath, ['-r', path.join(__dirname, 'helpers', 'break-mmap-addon.cjs'), WRITER, 'increment', '1', 'exit'], {
      env: { ...process.env, PROMETHEUS_MULTIPROC_DIR: dir },
      encoding: 'utf8',
    });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/the mmap addon @riaskov\/mmap-io could not be loaded \(Cannot find module 'mmap_io.node'/);
    expect(result.stderr).toMatch(/apt-get install python3 make g\+\+/);
    expect(result.stderr).toMatch(/pnpm rebuild @riaskov\/mmap-io/);
  });

  it('honours the deprecated lower-case prometheus_multiproc_dir', async () => {
    const writer = startWriter(['increment', '3', 'exit'], { PROMETHEUS_MULTIPROC_DIR: '', prometheus_multiproc_dir: dir });
    await waitForLine(writer, /done 3/);
    expect(totalsFromAnotherProcess()['requests_total{"route":"/a"}']).toBe(3);
  });
});

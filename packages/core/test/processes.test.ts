// Real processes writing one directory: exact totals, SIGKILLed writers, permissions.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readDbFile } from '../src/index.js';
import { waitForLine } from './helpers/child-output.js';
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
      // Past 100 entries (polled, not a fixed sleep: a loaded machine may be slow), then a moment more.
      const file = path.join(dir, `counter_${writer.pid}.db`);
      for (const deadline = Date.now() + 20_000; ;) {
        let n = 0;
        try { n = readDbFile(file).length; } catch { /* not there yet */ }
        if (n > 100) break;
        if (Date.now() > deadline) throw new Error('the writer never appended 100 entries');
        await new Promise((r) => setTimeout(r, 20));
      }
      await new Promise((r) => setTimeout(r, 50 + round * 50));
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

  it('where no mmap binary loads, the fallback writes the same files: one notice, exact totals, a marker', () => {
    const broken = ['-r', path.join(__dirname, 'helpers', 'break-mmap-addon.cjs'), WRITER, 'increment', '1000', 'exit'];
    const result = spawnSync(process.execPath, broken, {
      env: { ...process.env, PROMETHEUS_MULTIPROC_DIR: dir, PROM_MULTIPROC_STORAGE: '' },
      encoding: 'utf8',
    });
    expect(result.status).toBe(0);
    const notices = result.stderr.split('\n').filter((line) => line.includes('prom-multiproc'));
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatch(/storage mode fallback in process \d+ \(no mmap binary loads on linux-x64: No native build was found/);
    expect(notices[0]).toMatch(/written to .* every 100 ms and at exit; a SIGKILL or a crash loses the updates of the last period/);
    // (Its liveness socket, docs/lifecycle.md, may outlive a process.exit(): left out here.)
    expect(fs.readdirSync(dir).filter((n) => !n.endsWith('.sock')).sort()).toEqual([`.prom-multiproc-fallback-${result.pid}`, `counter_${result.pid}.db`, `histogram_${result.pid}.db`]);
    const totals = totalsFromAnotherProcess();
    expect(totals['requests_total{"route":"/a"}']).toBe(1000);
    expect(totals['requests_total{"route":"/b"}']).toBe(2000);

    // Asked for mmap where it cannot load: an error that says so, not a silent fallback.
    const strict = spawnSync(process.execPath, broken, {
      env: { ...process.env, PROMETHEUS_MULTIPROC_DIR: dir, PROM_MULTIPROC_STORAGE: 'mmap' },
      encoding: 'utf8',
    });
    expect(strict.status).not.toBe(0);
    expect(strict.stderr).toMatch(/PROM_MULTIPROC_STORAGE=mmap, but no mmap binary loads on linux-x64: No native build was found/);
  });

  it('in fallback mode a SIGKILL loses at most the updates of the last period and leaves every file readable', async () => {
    const writer = startWriter(['count-forever'], { PROM_MULTIPROC_STORAGE: 'fallback' });
    const progress: Array<{ at: number; n: number }> = [];
    let buffered = '';
    writer.stdout!.on('data', (d) => {
      buffered += d;
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        const m = /^at (\S+) (\d+)$/.exec(line);
        if (m) progress.push({ at: Number(m[1]), n: Number(m[2]) });
      }
    });
    // Run for a second of the writer's own time, however loaded the machine is.
    await new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (progress.length > 0 && progress[progress.length - 1].at - progress[0].at > 1000) {
          clearInterval(check);
          resolve();
        }
      }, 20);
    });
    writer.kill('SIGKILL');
    await new Promise((r) => (writer.exitCode !== null || writer.signalCode !== null ? r(null) : writer.once('exit', r)));
    await new Promise((r) => setImmediate(r)); // the pipe's last lines
    const last = progress[progress.length - 1];
    // Two periods before the last line the writer printed, a write-back had run since.
    const safe = [...progress].reverse().find((p) => p.at <= last.at - 200)!;
    const entries = readDbFile(path.join(dir, `counter_${writer.pid}.db`)); // throws if corrupt
    const value = entries.find((e) => e.labels.route === '/n')!.value;
    expect(value).toBeGreaterThanOrEqual(safe.n);
    expect(value).toBeLessThanOrEqual(last.n + 500);
    // Every appended series is whole: one per batch, in order, each with its 1.
    const added = entries.filter((e) => e.labels.route.startsWith('/new-'));
    expect(added.length).toBeGreaterThanOrEqual(safe.n / 500);
    expect(added.map((e) => e.labels.route)).toEqual(added.map((_, k) => `/new-${(k + 1) * 500}`));
    expect(added.every((e) => e.value === 1)).toBe(true);
    expect(fs.readdirSync(dir)).toContain(`.prom-multiproc-fallback-${writer.pid}`);
  });

  it('in fallback mode a SIGTERM writes the updates made until it is handled, then ends the process by that signal', async () => {
    const writer = startWriter(['count-forever'], { PROM_MULTIPROC_STORAGE: 'fallback' });
    let out = '';
    writer.stdout!.on('data', (d) => (out += d));
    await new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if ((out.match(/\n/g) ?? []).length > 200) {
          clearInterval(check);
          resolve();
        }
      }, 10);
    });
    writer.kill('SIGTERM');
    await new Promise((r) => (writer.exitCode !== null || writer.signalCode !== null ? r(null) : writer.once('exit', r)));
    await new Promise((r) => setImmediate(r));
    expect(writer.signalCode).toBe('SIGTERM');
    const printed = [...out.matchAll(/^at \S+ (\d+)$/gm)].map((m) => Number(m[1]));
    const last = printed[printed.length - 1];
    const value = readDbFile(path.join(dir, `counter_${writer.pid}.db`)).find((e) => e.labels.route === '/n')!.value;
    // Written when the signal is handled, not just at the last write-back (up to 100 ms,
    // many batches, behind): another signal-exit (proper-lockfile's v3) may let one more
    // turn of the event loop, one batch, run before the process ends.
    expect(value).toBeGreaterThanOrEqual(last - 1000);
    expect(value).toBeLessThanOrEqual(last + 500);
  });

  it('honours the deprecated lower-case prometheus_multiproc_dir', async () => {
    const writer = startWriter(['increment', '3', 'exit'], { PROMETHEUS_MULTIPROC_DIR: '', prometheus_multiproc_dir: dir });
    await waitForLine(writer, /done 3/);
    expect(totalsFromAnotherProcess()['requests_total{"route":"/a"}']).toBe(3);
  });
});

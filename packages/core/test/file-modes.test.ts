// The files and directories prom-multiproc creates are never writable by group or others,
// whatever the umask: real processes with umask 000 write metrics, exit, and a collector
// folds them (archives, journal), takes the compaction lock and signals a refresh.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function runWithUmask0(dir: string, code: string): string {
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', `process.umask(0);\n${code}`], {
    cwd: path.join(__dirname, '..'), env: { ...process.env, PROMETHEUS_MULTIPROC_DIR: dir }, encoding: 'utf8', timeout: 30_000,
  });
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
  return run.stdout;
}

describe('file modes', () => {
  it('metrics files, archives (written like the journal), the lock and the refresh signal are 0644 / 0755 under umask 000', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pmp-modes-'));
    dirs.push(dir);
    // A worker writes a counter, a histogram and a live gauge, and exits.
    runWithUmask0(dir, `
      import { Counter, Gauge, Histogram } from '@prom-multiproc/core';
      new Counter({ name: 'jobs_total', help: 'Jobs.' }).inc(3);
      new Histogram({ name: 'size', help: 'Size.', buckets: [1] }).observe(2);
      new Gauge({ name: 'up', help: 'Up.', multiprocessMode: 'livesum' }).set(1);
    `);
    const written = fs.readdirSync(dir);
    expect(written.filter((f) => f.endsWith('.db')).length).toBeGreaterThanOrEqual(3);
    // A collector folds the dead worker (archive and journal written, then renamed), holds the
    // lock and signals a refresh; it lists the modes while the lock is held.
    const listed = JSON.parse(runWithUmask0(dir, `
      import fs from 'node:fs';
      import path from 'node:path';
      import { Compactor, sendRefreshSignal } from '@prom-multiproc/core';
      const dir = process.env.PROMETHEUS_MULTIPROC_DIR;
      const compactor = await Compactor.start(dir, { startup: 'fold', sweepIntervalMs: 0, log: () => {} });
      sendRefreshSignal(dir);
      await new Promise((r) => setTimeout(r, 200)); // the lock's chmod is asynchronous
      const modes = {};
      for (const name of fs.readdirSync(dir)) {
        const stat = fs.statSync(path.join(dir, name));
        modes[name] = (stat.isDirectory() ? 'dir ' : 'file ') + (stat.mode & 0o7777).toString(8);
      }
      await compactor.close();
      console.log(JSON.stringify(modes));
    `)) as Record<string, string>;
    const names = Object.keys(listed);
    expect(names).toContain('.prom-multiproc-refresh');
    expect(names.some((n) => /^counter_archive\.db$/.test(n))).toBe(true);
    expect(names.some((n) => /lock/.test(n))).toBe(true);
    for (const [name, mode] of Object.entries(listed)) {
      expect(`${name}: ${mode}`).toBe(`${name}: ${mode.startsWith('dir') ? 'dir 755' : 'file 644'}`);
    }
  });
});

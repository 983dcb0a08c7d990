// Faults around the collector: its directory removed, a file it may not read, a second
// collector on the same directory.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Collector, Compactor } from '@prom-multiproc/core';
import { httpGet, sampleValue } from './helpers/cluster.js';
import { freePort } from './helpers/prometheus.js';

const ROOT = path.resolve(__dirname, '..');
const CLI = path.join(ROOT, 'packages/core/bin/prom-multiproc.js');
const FIXTURES = path.join(ROOT, 'packages/core/test/fixtures/python');
const dirs: string[] = [];
const children: ChildProcess[] = [];

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function fixtureCopy(fixture: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pmp-faults-'));
  dirs.push(dir);
  for (const f of fs.readdirSync(path.join(FIXTURES, fixture)).filter((f) => f.endsWith('.db'))) fs.copyFileSync(path.join(FIXTURES, fixture, f), path.join(dir, f));
  return dir;
}

describe('faults', () => {
  it('a directory removed under the collector: scrapes go on, say why, and count it', async () => {
    const dir = fixtureCopy('counter_basic');
    const logs: string[] = [];
    const compactor = await Compactor.start(dir, { sweepIntervalMs: 0, log: (m) => logs.push(m) });
    const collector = new Collector({ directory: dir, log: (m) => logs.push(m), compactor });
    expect((await collector.scrape()).body).toMatch(/^jobs_total 4\.0$/m);
    fs.rmSync(dir, { recursive: true, force: true });
    const { body } = await collector.scrape();
    await collector.scrape();
    expect(body).not.toMatch(/jobs_total/);
    expect(sampleValue((await collector.scrape()).body, 'prom_multiproc_directory_errors_total')).toBe(3);
    expect(logs.filter((m) => /cannot list metrics directory .* \(ENOENT\)/.test(m))).toHaveLength(1);
    expect(await compactor.sweep()).toEqual([]);
    expect(sampleValue(compactor.selfMetrics().map((f) => f.samples.map((s) => `${s.name} ${s.value}`).join('\n')).join('\n'), 'prom_multiproc_compaction_errors_total')).toBe(1);
    await compactor.close();
  });

  it('a file the collector may not read is skipped and named; the rest is served', () => {
    const dir = fixtureCopy('counter_basic');
    fs.chmodSync(dir, 0o755);
    fs.chmodSync(path.join(dir, 'counter_102.db'), 0o600); // root's; the collector runs as nobody
    const dump = spawnSync(process.execPath, [CLI, 'dump', '--dir', dir], { uid: 65534, gid: 65534, encoding: 'utf8' });
    expect(dump.status).toBe(0);
    expect(dump.stderr).toMatch(/skipped counter_102\.db \(unreadable\): cannot open \(EACCES\)/);
    expect(dump.stdout).toMatch(/^http_requests_total\{code="200",method="GET"\} 3\.0$/m); // 101's only
  });

  it('a second collector on the same directory serves read-only, says so, and takes over when the first stops', async () => {
    const dir = fixtureCopy('counter_basic');
    const serve = async () => {
      const port = await freePort();
      const child = spawn(process.execPath, [CLI, 'serve', '--dir', dir, '--port', String(port), '--sweep-seconds', '0.5'], { stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(child);
      let stderr = '';
      child.stderr!.on('data', (d) => (stderr += d));
      await new Promise<void>((resolve, reject) => {
        child.stdout!.on('data', (d) => /serving/.test(String(d)) && resolve());
        child.once('exit', (code) => reject(new Error(`serve exited ${code}: ${stderr}`)));
      });
      return { child, url: `http://127.0.0.1:${port}/metrics`, stderr: () => stderr };
    };
    const first = await serve();
    const second = await serve();
    expect(sampleValue((await httpGet(first.url)).body, 'prom_multiproc_compactor')).toBe(1);
    const readOnly = (await httpGet(second.url)).body;
    expect(sampleValue(readOnly, 'prom_multiproc_compactor')).toBe(0);
    expect(readOnly).toMatch(/^jobs_total 4\.0$/m); // read-only still serves everything
    expect(second.stderr()).toMatch(/another collector compacts .*; this one serves read-only/);
    first.child.kill('SIGTERM');
    await new Promise((r) => first.child.once('exit', r));
    const deadline = Date.now() + 10_000;
    while (sampleValue((await httpGet(second.url)).body, 'prom_multiproc_compactor') !== 1 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(sampleValue((await httpGet(second.url)).body, 'prom_multiproc_compactor')).toBe(1);
    expect(second.stderr()).toMatch(/took over compaction of/);
  });

  it('startup fold keeps a previous run\'s totals, startup clear starts from zero', async () => {
    const dir = fixtureCopy('counter_basic'); // pids 101 and 102: dead here
    const folded = await Compactor.start(dir, { sweepIntervalMs: 0, log: () => {} });
    expect(fs.readdirSync(dir).filter((f) => !f.startsWith('.'))).toEqual(['counter_archive.db']);
    expect((await new Collector({ directory: dir }).scrape()).body).toMatch(/^jobs_total 4\.0$/m);
    await folded.close();
    const cleared = await Compactor.start(dir, { startup: 'clear', sweepIntervalMs: 0, log: () => {} });
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.db'))).toEqual([]);
    await cleared.close();
  });
});

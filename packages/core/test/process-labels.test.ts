// Process labels: constant labels a process writes into every series key (PM2's app and
// slot), kept apart per app in the merge and through the fold into the archives.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import {
  DirectoryMerger, compactDeadProcesses, configureStorage, Counter, Gauge, Histogram, pm2ProcessLabels, readDbFile, renderText,
} from '../src/index.js';
import { dbFiles, flushWrites, stderrBesidesFallbackNotice, tempDir } from './helpers/fixtures.js';

const dirs: string[] = [];
afterEach(() => {
  configureStorage();
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

const merged = (dir: string) => {
  const result = new DirectoryMerger(dir).merge();
  expect(result.problems).toEqual([]);
  return renderText(result.families);
};

/**
 * Runs a process with the environment `env` (PM2's variables) that writes under `processId`,
 * or, without one, as a PM2 worker does: storage and labels chosen from its environment.
 */
function writer(dir: string, processId: string | undefined, env: Record<string, string>, code: string): void {
  const setup = processId ? `configureStorage({ directory: process.argv[1], processId: '${processId}', labels: pm2ProcessLabels() });` : '';
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', `
    import { configureStorage, Counter, pm2ProcessLabels } from '@prom-multiproc/core';
    ${setup}
    ${code}
  `, dir], { cwd: __dirname, encoding: 'utf8', env: { ...process.env, ...env, PROMETHEUS_MULTIPROC_DIR: processId ? '' : dir } });
  expect(stderrBesidesFallbackNotice(r.stderr)).toBe('');
  expect(r.status).toBe(0);
}

const pm2Env = (name: string, instance: number) => ({
  pm_id: String(instance + 10), name, pm_exec_path: `/srv/${name}.js`, NODE_APP_INSTANCE: String(instance), instance_var: 'NODE_APP_INSTANCE',
});

describe('process labels', () => {
  it('are written into every key, sorted with the metric\'s own labels; the metric\'s own label wins', () => {
    const dir = tempDir();
    dirs.push(dir);
    configureStorage({ directory: dir, processId: '5', labels: { instance: 2, app: 'api' } });
    const c = new Counter({ name: 'req_total', help: 'h', labelNames: ['route'], registers: [] });
    c.inc({ route: '/x' }, 3);
    new Counter({ name: 'bare_total', help: 'h', registers: [] }).inc();
    new Histogram({ name: 'lat', help: 'h', buckets: [1], registers: [] }).observe(0.5);
    new Gauge({ name: 'own', help: 'h', labelNames: ['app'], registers: [] }).set({ app: 'mine' }, 4);
    flushWrites();
    const keys = readDbFile(`${dir}/counter_5.db`).map((e) => e.key);
    expect(keys).toContain('["req", "req_total", {"app": "api", "instance": "2", "route": "/x"}, "h"]');
    expect(keys).toContain('["bare", "bare_total", {"app": "api", "instance": "2"}, "h"]');
    const text = merged(dir);
    expect(text).toMatch(/^req_total\{app="api",instance="2",route="\/x"\} 3\.0$/m);
    expect(text).toMatch(/^lat_bucket\{app="api",instance="2",le="1\.0"\} 1\.0$/m);
    expect(text).toMatch(/^own\{app="mine",instance="2"\} 4\.0$/m);
    // The label set a caller uses is unchanged: get() and remove() by the metric's own labels.
    expect(c.labels('/x')).toBe(c.labels({ route: '/x' }));
  });

  it('reserved or invalid names are refused', () => {
    for (const name of ['le', 'quantile', 'pid', 'bad-name']) {
      expect(() => configureStorage({ labels: { [name]: 'x' } })).toThrow(/Invalid process label name/);
    }
  });

  it('under PM2: pm2_app and pm2_instance from its environment, chosen by PROM_MULTIPROC_PM2_LABELS; none outside PM2', () => {
    expect(pm2ProcessLabels({})).toEqual({});
    expect(pm2ProcessLabels({ name: 'x' })).toEqual({});
    expect(pm2ProcessLabels(pm2Env('web', 1))).toEqual({ pm2_app: 'web', pm2_instance: '1' });
    expect(pm2ProcessLabels({ ...pm2Env('web', 1), PROM_MULTIPROC_PM2_LABELS: 'pm2_app' })).toEqual({ pm2_app: 'web' });
    expect(pm2ProcessLabels({ ...pm2Env('web', 1), PROM_MULTIPROC_PM2_LABELS: 'none' })).toEqual({});
    const custom = { ...pm2Env('web', 1), instance_var: 'INSTANCE_ID', INSTANCE_ID: '7' };
    expect(pm2ProcessLabels(custom)).toEqual({ pm2_app: 'web', pm2_instance: '7' });
  });

  it('two apps sharing a directory stay apart, also after their dead processes are folded into the archive', () => {
    const dir = tempDir();
    dirs.push(dir);
    const inc = (n: number) => `new Counter({ name: 'jobs_total', help: 'h' }).inc(${n});`;
    writer(dir, '901', pm2Env('api', 0), inc(5));
    writer(dir, '902', pm2Env('api', 1), inc(7));
    writer(dir, '903', pm2Env('worker', 0), inc(11));
    writer(dir, undefined, pm2Env('api', 0), inc(1)); // a restart of api's instance 0, labels from its environment
    const before = merged(dir);
    expect(before).toMatch(/^jobs_total\{pm2_app="api",pm2_instance="0"\} 6\.0$/m);
    expect(before).toMatch(/^jobs_total\{pm2_app="api",pm2_instance="1"\} 7\.0$/m);
    expect(before).toMatch(/^jobs_total\{pm2_app="worker",pm2_instance="0"\} 11\.0$/m);
    const restarted = dbFiles(dir).map((f) => f.slice('counter_'.length, -3)).filter((id) => !['901', '902', '903'].includes(id));
    expect(restarted).toHaveLength(1);
    compactDeadProcesses(dir, ['901', '902', '903', ...restarted]);
    expect(fs.readdirSync(dir)).toEqual(['counter_archive.db']); // fallback markers of the dead went too
    expect(merged(dir)).toBe(before);
  });
});

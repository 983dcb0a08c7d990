// The module's pure parts: settings from PM2's module configuration, and the pm_id -> pid
// map with its PM2 stats. The whole module against a real PM2 daemon: test/pm2.test.ts.
import { describe, expect, it } from 'vitest';
import { renderText } from '@prom-multiproc/core';
import { MODULE_NAME, ProcessTable, readConfig } from '../src/index.js';
import pkg from '../package.json' with { type: 'json' };

const env = (conf: Record<string, unknown> | string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
  PM2_HOME: '/srv/pm2', ...extra, [MODULE_NAME]: typeof conf === 'string' ? conf : JSON.stringify(conf),
});

describe('settings', () => {
  it('package.json config holds every default; the directory defaults to PM2_HOME/prom-multiproc', () => {
    const { config, problems } = readConfig(pkg.config, { PM2_HOME: '/srv/pm2' });
    expect(problems).toEqual([]);
    expect(config).toEqual({
      port: 9464, host: '127.0.0.1', directory: '/srv/pm2/prom-multiproc', path: '/metrics',
      startup: 'fold', sweepSeconds: 10, refreshSeconds: 5, pm2Stats: true,
    });
  });

  it('values from pm2 set (strings) override the defaults', () => {
    const { config, problems } = readConfig(pkg.config, env({
      ...pkg.config, port: '9999', host: '0.0.0.0', directory: '/var/run/metrics', startup: 'clear', sweep_seconds: '0', pm2_stats: 'false', path: '/m',
    }));
    expect(problems).toEqual([]);
    expect(config).toMatchObject({ port: 9999, host: '0.0.0.0', directory: '/var/run/metrics', startup: 'clear', sweepSeconds: 0, pm2Stats: false, path: '/m' });
  });

  it('an invalid value keeps the default and is reported; the module never fails on its settings', () => {
    const { config, problems } = readConfig(pkg.config, env({ port: 'http', startup: 'never', refresh_seconds: '-1' }));
    expect(config).toMatchObject({ port: 9464, startup: 'fold', refreshSeconds: 5 });
    expect(problems).toHaveLength(3);
    expect(problems).toContainEqual(expect.stringMatching(/^pm2-prom-multiproc:port = "http" \(pm2 set\) is not valid/));
    expect(readConfig(pkg.config, env('{not json')).problems[0]).toMatch(/not JSON/);
  });

  it('without a directory setting, PROMETHEUS_MULTIPROC_DIR of the module\'s environment is used', () => {
    expect(readConfig(pkg.config, env({ directory: '' }, { PROMETHEUS_MULTIPROC_DIR: '/shared/dir' })).config.directory).toBe('/shared/dir');
  });
});

const entry = (pmId: number, pid: number, name = 'web', extra: Record<string, unknown> = {}) => ({
  name, pid, pm_id: pmId, monit: { cpu: 3, memory: 1000 },
  pm2_env: { status: 'online', restart_time: 2, pm_uptime: 1_000, NODE_APP_INSTANCE: pmId, instance_var: 'NODE_APP_INSTANCE', ...extra },
});

describe('process table', () => {
  it('keeps the pids each pm_id had; an _old_<id> event names the same slot', () => {
    const table = new ProcessTable();
    table.update([entry(0, 100), entry(1, 101)]);
    table.update([entry(0, 200), entry(1, 101)]); // pm_id 0 reloaded
    expect(table.pidsOf(0, false)).toEqual([100, 200]);
    expect(table.pidsOf('_old_0', true)).toEqual([100]);
    expect(table.pidsOf('nonsense', false)).toEqual([]);
    expect(table.owner(100)).toEqual({ pmId: 0, app: 'web', instance: '0' });
    table.forget(100);
    expect(table.pidsOf(0, false)).toEqual([200]);
    expect(table.owner(100)).toBeUndefined();
  });

  it('PM2 stats per app process (modules left out), labelled like the workers\' series', () => {
    const table = new ProcessTable();
    table.update([entry(0, 100), entry(1, 0, 'web', { status: 'stopped' }), entry(2, 300, MODULE_NAME, { pmx_module: true })], 10_000);
    const text = renderText(table.statsFamilies(11_000));
    expect(text).toContain('pm2_up{pm2_app="web",pm2_instance="0",pm_id="0"} 1.0\npm2_up{pm2_app="web",pm2_instance="1",pm_id="1"} 0.0\n');
    expect(text).toContain('pm2_memory_bytes{pm2_app="web",pm2_instance="0",pm_id="0"} 1000.0\n');
    expect(text).toContain('# TYPE pm2_restarts_total counter\npm2_restarts_total{pm2_app="web",pm2_instance="0",pm_id="0"} 2.0\n');
    expect(text).toContain('pm2_uptime_seconds{pm2_app="web",pm2_instance="0",pm_id="0"} 10.0\npm2_uptime_seconds{pm2_app="web",pm2_instance="1",pm_id="1"} 0.0\n');
    expect(text).toContain('pm2_stats_age_seconds 1.0\n');
    expect(text).not.toContain(MODULE_NAME);
  });
});

// End to end with a real PM2 daemon (temporary PM2_HOME): the packed pm2-prom-multiproc
// module installed with `pm2 install <tarball>` (npm offline), two apps writing to one
// directory (one in cluster mode, configured by an ecosystem file; one configured with
// `pm2 set <app>:PROMETHEUS_MULTIPROC_DIR`), traffic, `pm2 reload`, `pm2 scale`, a
// SIGKILLed worker, a module restart and an app deleted, with a scraper running the whole
// time: no counter series ever goes down, and the totals equal the answered requests.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpGet } from './helpers/cluster.js';
import { Pm2Daemon, ROOT, drive, eventually, freePort, packModule, sleep, type Pm2Process } from './helpers/pm2.js';
import { MonotonicScraper } from './helpers/monotonic-scraper.js';
import { missingTools } from './helpers/tools.js';

const MODULE = 'pm2-prom-multiproc';
const APP = path.join(ROOT, 'test', 'apps', 'pm2-app.mjs');

/** All samples of a text exposition: `name{labels}` -> value. */
function samples(body: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of body.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

/** Sum of a family's samples whose labels include every `labels` pair. */
function total(body: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const [series, value] of samples(body)) {
    if (series !== name && !series.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([k, v]) => series.includes(`${k}="${v}"`))) sum += value;
  }
  return sum;
}

const pm2 = new Pm2Daemon();
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'pmp-pm2-test-'));
const dir = path.join(work, 'metrics');
let modulePort = 0;
let webPort = 0;
let jobsPort = 0;
let url = '';
let scraper: MonotonicScraper | undefined;
const sent = { web: 0, jobs: 0 };

const scrape = async () => {
  const res = await httpGet(url);
  expect(res.status).toBe(200);
  return res.body;
};
const apps = async (name: string) => (await pm2.list()).filter((p) => p.name === name && !p.pm2_env.pmx_module);
const moduleProcess = async () => (await pm2.list()).find((p) => p.name === MODULE);
/** Waits until the merged totals equal what the apps answered. */
const totalsExact = () =>
  eventually('exact totals', async () => {
    const body = await scrape();
    const web = total(body, 'app_requests_total', { pm2_app: 'web' });
    const jobs = total(body, 'app_requests_total', { pm2_app: 'jobs' });
    return web === sent.web && jobs === sent.jobs ? body : undefined;
  }, 10_000).catch(async (err) => {
    const body = await scrape();
    throw new Error(`${(err as Error).message}: web ${total(body, 'app_requests_total', { pm2_app: 'web' })} of ${sent.web}, jobs ${total(body, 'app_requests_total', { pm2_app: 'jobs' })} of ${sent.jobs}`);
  });
/** Waits until the directory holds files of live processes and archives only. */
const onlyLiveFiles = () =>
  eventually('files of dead processes folded', async () => {
    const live = new Set((await pm2.list()).map((p) => String(p.pid)));
    const ids = fs.readdirSync(dir).filter((f) => f.endsWith('.db')).map((f) => /_([^_]+)\.db$/.exec(f)![1]);
    return ids.every((id) => id === 'archive' || live.has(id));
  });
const traffic = async (app: 'web' | 'jobs', n: number) => {
  const result = await drive(app === 'web' ? webPort : jobsPort, n);
  sent[app] += result.ok;
  return result;
};

beforeAll(async () => {
  fs.mkdirSync(dir);
  [modulePort, webPort, jobsPort] = await Promise.all([freePort(), freePort(), freePort()]);
  url = `http://127.0.0.1:${modulePort}/metrics`;
}, 30_000);

afterAll(async () => {
  await scraper?.stop();
  await pm2.kill();
  fs.rmSync(work, { recursive: true, force: true });
}, 60_000);

describe('PM2 module with a real PM2 daemon', () => {
  it('installs from the packed tarball with npm offline; pm2 set changes directory and port, picked up on restart', async () => {
    const tarball = await packModule(work);
    const out = await pm2.cli(['install', tarball]);
    expect(out).toMatch(/Module successfully installed and launched/);
    expect(fs.existsSync(path.join(pm2.home, 'modules', MODULE, 'node_modules', MODULE, 'dist', 'module.js'))).toBe(true);
    // Defaults from package.json `config` are in PM2's module configuration.
    const conf = JSON.parse(fs.readFileSync(path.join(pm2.home, 'module_conf.json'), 'utf8'));
    expect(conf[MODULE]).toMatchObject({ port: 9464, host: '127.0.0.1', startup: 'fold', pm2_stats: true });
    await pm2.cli(['set', `${MODULE}:directory`, dir]);
    await pm2.cli(['set', `${MODULE}:port`, String(modulePort)]);
    // The periodic liveness sweep off: from here on every fold must come from PM2's bus.
    await pm2.cli(['set', `${MODULE}:sweep_seconds`, '0']);
    // It compacts the directory (it holds the lock; a module restarted mid-start left none).
    const body = await eventually('the module on its new port', async () => {
      const text = await scrape().catch(() => undefined);
      return text && /^prom_multiproc_compactor 1(\.0)?$/m.test(text) ? text : undefined;
    }, 20_000);
    expect(body).toMatch(/^pm2_stats_age_seconds /m);
    expect(pm2.log(MODULE)).toContain(`"directory":"${dir}","path":"/metrics","startup":"fold","sweepSeconds":0`);
    // The module runs with the young generation kept small, one V8 helper thread and a first
    // old-generation limit of 64 MB (package.json node_args; docs/collector.md, "Memory").
    expect(pm2.log(MODULE)).toMatch(/\(pm2 from [^,)]+, node flags --max-semi-space-size=1 --v8-pool-size=1 --initial-old-space-size=64\)/);
  });

  it('serves the merged directory of two apps, each series labelled with its app and instance', async () => {
    const ecosystem = path.join(work, 'ecosystem.config.cjs');
    fs.writeFileSync(ecosystem, `module.exports = { apps: [${JSON.stringify({
      name: 'web', script: APP, exec_mode: 'cluster', instances: 3, env: { PROMETHEUS_MULTIPROC_DIR: dir, APP_PORT: String(webPort) },
    })}] };\n`);
    await pm2.cli(['start', ecosystem]);
    // The second app starts without a directory and gets it with `pm2 set <app>:KEY` (PM2 restarts it).
    await pm2.cli(['start', APP, '--name', 'jobs'], { APP_PORT: String(jobsPort) });
    await pm2.cli(['set', 'jobs:PROMETHEUS_MULTIPROC_DIR', dir]);
    await eventually('3 web workers and 1 jobs worker up', async () => {
      const body = await scrape();
      return total(body, 'app_workers_up', { pm2_app: 'web' }) === 3 && total(body, 'app_workers_up', { pm2_app: 'jobs' }) === 1;
    }, 30_000);
    scraper = new MonotonicScraper(url);

    expect((await traffic('web', 300)).ok).toBe(300);
    expect((await traffic('jobs', 100)).ok).toBe(100);
    const body = await totalsExact();
    const web = await apps('web');
    for (const p of web) {
      expect(body).toMatch(new RegExp(`^app_requests_total\\{pm2_app="web",pm2_instance="${p.pm2_env.NODE_APP_INSTANCE}",route="/work"\\} `, 'm'));
      expect(body).toMatch(new RegExp(`^pm2_up\\{pm2_app="web",pm2_instance="${p.pm2_env.NODE_APP_INSTANCE}",pm_id="${p.pm_id}"\\} 1(\\.0)?$`, 'm'));
    }
    expect(body).toMatch(/^app_requests_total\{pm2_app="jobs",pm2_instance="0",route="\/work"\} 100\.0$/m);
    expect(body).toMatch(/^app_request_bytes_count\{pm2_app="jobs",pm2_instance="0"\} 100\.0$/m);
    expect(body).toMatch(/^pm2_memory_bytes\{pm2_app="jobs",pm2_instance="0",pm_id="\d+"\} \d/m);
    expect(body).not.toMatch(new RegExp(`pm2_app="${MODULE}"`)); // modules are not apps
  });

  it('pm2 reload under traffic: old workers (pm_id _old_N) are folded, totals exact', async () => {
    const before = new Set((await apps('web')).map((p) => p.pid));
    const [load] = await Promise.all([traffic('web', 400), pm2.cli(['reload', 'web'])]);
    expect(load.ok).toBeGreaterThan(0);
    const after = await apps('web');
    expect(after).toHaveLength(3);
    expect(after.some((p) => before.has(p.pid))).toBe(false);
    await onlyLiveFiles();
    await totalsExact();
    expect(pm2.log(MODULE)).toMatch(/folded process \d+ \(web, instance \d, pm_id \d+\) after PM2 exit of web pm_id _old_\d+/);
  });

  it('pm2 scale up and down under traffic: totals exact, instances that went away keep their counts', async () => {
    await Promise.all([traffic('web', 200), pm2.cli(['scale', 'web', '5'])]);
    expect(await apps('web')).toHaveLength(5);
    await Promise.all([traffic('web', 200), pm2.cli(['scale', 'web', '2'])]);
    expect(await apps('web')).toHaveLength(2);
    await onlyLiveFiles();
    const body = await totalsExact();
    expect(total(body, 'app_workers_up', { pm2_app: 'web' })).toBe(2);
  });

  it('kill -9 of a worker: PM2 restarts it, the bus event folds the dead pid, totals exact', async () => {
    await traffic('web', 200);
    const [victim] = await apps('web');
    process.kill(victim.pid, 'SIGKILL');
    const replaced = await eventually('PM2 restarting the killed worker', async () => {
      const p = (await apps('web')).find((q) => q.pm_id === victim.pm_id);
      return p && p.pid !== victim.pid && p.pm2_env.status === 'online' ? p : undefined;
    });
    await eventually('the dead pid folded', () => !fs.readdirSync(dir).some((f) => f.endsWith(`_${victim.pid}.db`)), 10_000);
    expect(pm2.log(MODULE)).toMatch(new RegExp(`folded process ${victim.pid} \\(web, instance \\d, pm_id ${victim.pm_id}\\) after PM2 exit of web pm_id ${victim.pm_id}`));
    expect(replaced.pm2_env.restart_time).toBeGreaterThan(victim.pm2_env.restart_time);
    await traffic('web', 200);
    await totalsExact();
  });

  it('the module restarted: totals continue exactly; an app deleted: its counts stay, the module carries on', async () => {
    const old = (await moduleProcess())!;
    scraper!.allowFailures = true;
    await pm2.cli(['restart', MODULE]);
    await eventually('the restarted module serving', async () => {
      const p = await moduleProcess();
      return p && p.pid !== old.pid && /^prom_multiproc_compactor 1(\.0)?$/m.test(await scrape());
    }, 20_000);
    scraper!.allowFailures = false;
    await totalsExact();

    const [jobs] = await apps('jobs');
    await pm2.cli(['delete', 'jobs']);
    await eventually('the deleted app folded', () => !fs.readdirSync(dir).some((f) => f.endsWith(`_${jobs.pid}.db`)), 10_000);
    await traffic('web', 100);
    const body = await totalsExact();
    expect(total(body, 'app_requests_total', { pm2_app: 'jobs' })).toBe(sent.jobs);
    expect(total(body, 'app_workers_up', { pm2_app: 'jobs' })).toBe(0);
    await eventually('pm2 stats without the deleted app', async () => !/^pm2_up\{pm2_app="jobs"/m.test(await scrape()), 10_000);

    await scraper!.stop();
    expect(scraper!.violations).toEqual([]);
    expect(scraper!.scrapes).toBeGreaterThan(20);
    const check = spawnSync('promtool', ['check', 'metrics'], { input: await scrape(), encoding: 'utf8' });
    const noPromtool = check.error ? missingTools(['promtool']) : undefined;
    if (noPromtool && !process.env.CI) console.warn(`promtool check of the module's output skipped: ${noPromtool}`);
    else expect(`${check.error ?? ''}${check.stdout}${check.stderr}`).toBe('');
  });

  it('pm2 uninstall leaves nothing of the module running; the apps keep running', async () => {
    const mod = (await moduleProcess())!;
    await pm2.cli(['uninstall', MODULE]);
    expect(await moduleProcess()).toBeUndefined();
    await eventually('the module process gone', () => {
      try {
        process.kill(mod.pid, 0);
        return false;
      } catch {
        return true;
      }
    }, 10_000);
    await expect(httpGet(url)).rejects.toThrow(/ECONNREFUSED/);
    expect(fs.existsSync(path.join(pm2.home, 'modules', MODULE))).toBe(false);
    const web: Pm2Process[] = await apps('web');
    expect(web.every((p) => p.pm2_env.status === 'online')).toBe(true);
    expect((await drive(webPort, 10)).ok).toBe(10);
  });
}, 180_000);

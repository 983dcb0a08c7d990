// Every PromQL expression of the dashboard and of the rules, evaluated by a real
// Prometheus that scrapes a real node:cluster express app (express-prom-bundle bridged,
// default metrics) with the shipped rules loaded: each parses and returns data.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterApp, httpGet } from '../helpers/cluster.js';
import { freePort, PrometheusServer } from '../helpers/prometheus.js';
import { dashboardExpressions, dashboardFiles, readDashboard, readRules, ruleFiles } from '../helpers/operate-files.js';

let app: ClusterApp;
let prometheus: PrometheusServer;
let collectorTarget = '';
let deadTarget = '';
let stopLoad = false;
let load: Promise<void>;

/** Requests to every worker until the test ends: 200s and 404s, a few per 100 ms. */
async function drive(): Promise<void> {
  const ports = app.messages.filter((m) => m.event === 'online').map((m) => m.port as number);
  while (!stopLoad) {
    await Promise.all(ports.flatMap((port) => [
      httpGet(`http://127.0.0.1:${port}/work`).catch(() => undefined),
      httpGet(`http://127.0.0.1:${port}/missing`).catch(() => undefined),
    ]));
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Polls until the query returns at least one series (data needs a few scrapes and rule evaluations). */
async function series(promql: string): Promise<Array<{ metric: Record<string, string> }>> {
  return prometheus.waitFor(promql, (r) => r.length > 0, 30_000);
}

beforeAll(async () => {
  app = await ClusterApp.start(2, { PRIMARY: 'collector' }, 'express-cluster-app.mjs');
  load = drive();
  collectorTarget = new URL(app.url).host;
  deadTarget = `127.0.0.1:${await freePort()}`; // nothing listens there: a collector that is down
  prometheus = await PrometheusServer.start([collectorTarget, deadTarget], '/metrics', { ruleFiles: ruleFiles() });
  // Rates need two scrapes and the recording rules an evaluation after them.
  await series('job_instance_pm2_app:http_requests:rate5m');
}, 120_000);

afterAll(async () => {
  stopLoad = true;
  await load;
  prometheus?.stop();
  await app?.stop();
});

/** The expression with the dashboard's variables replaced by concrete values. */
function substitute(expr: string, group: string): string {
  return expr
    .replaceAll('$job', 'prom-multiproc')
    .replaceAll('$instance', collectorTarget.replaceAll('.', '\\\\.'))
    .replaceAll('$group', group)
    .replaceAll('$__rate_interval', '1m');
}

describe.each(dashboardFiles().map((f) => [path.basename(f), f]))('dashboard %s against a live Prometheus', (_name, file) => {
  const dashboard = readDashboard(file);
  const group = dashboard.templating.list.find((v: { name: string }) => v.name === 'group');
  const groups: string[] = group.options.map((o: { value: string }) => o.value);
  const cases = dashboardExpressions(dashboard).flatMap((t) => groups.map((g) => [`${t.panel} ${t.refId} by ${g}`, t.expr, g]));

  it.each(cases)('%s returns data', async (_title, expr, g) => {
    const result = await series(substitute(expr, g));
    expect(result.length).toBeGreaterThan(0);
    // Split by instance, a panel shows the collector by its target address.
    if (g === 'instance' && expr.includes('by ($group')) expect(result.map((r) => r.metric.instance)).toContain(collectorTarget);
  });

  it('its variable queries find the collector', async () => {
    // label_values(prom_multiproc_scrapes_total{job=~"$job"}, instance), as Prometheus' label API answers it.
    const res = await httpGet(`${prometheus.url}/api/v1/label/instance/values?match[]=${encodeURIComponent('prom_multiproc_scrapes_total{job=~"prom-multiproc"}')}`);
    expect(JSON.parse(res.body).data).toEqual([collectorTarget]);
    const jobs = await httpGet(`${prometheus.url}/api/v1/label/job/values?match[]=prom_multiproc_scrapes_total`);
    expect(JSON.parse(jobs.body).data).toEqual(['prom-multiproc']);
  });
});

describe('rules against a live Prometheus', () => {
  const rules = readRules();

  it.each(rules.filter((r) => r.record).map((r) => [r.record!, r]))('recording rule %s is recorded with data', async (record, rule) => {
    expect((await series(rule.expr)).length).toBeGreaterThan(0);
    expect((await series(record)).length).toBeGreaterThan(0);
  });

  it.each(rules.filter((r) => r.alert).map((r) => [r.alert!, r]))('alert %s: its signal returns data and the whole expression parses', async (_alert, rule) => {
    // Convention of rules/prom-multiproc.alerts.yml: "<signal>" then "<comparison> <threshold>" on the last line.
    const match = /^([\s\S]+)\n\s*(==|!=|>=|<=|>|<)\s*(-?[0-9.e+]+)\s*$/.exec(rule.expr.trimEnd());
    expect(match, `${rule.alert}: expression ends with a comparison line`).not.toBeNull();
    const signal = await series(match![1]);
    expect(signal.length).toBeGreaterThan(0);
    // The whole expression is valid PromQL (query() throws on a parse error); it may be empty.
    expect(Array.isArray(await prometheus.query(rule.expr))).toBe(true);
  });

  it('PromMultiprocCollectorDown: the expression holds for a target that does not answer, not for the collector', async () => {
    const rule = rules.find((r) => r.alert === 'PromMultiprocCollectorDown')!;
    const down = await series(rule.expr);
    expect(down.map((r) => r.metric.instance)).toEqual([deadTarget]);
  });

  it('the cluster collector serves its landing page at / next to the metrics', async () => {
    const page = await httpGet(app.url.replace(/\/metrics$/, '/'));
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.body).toContain(`<code id="directory">${app.directory}</code>`);
    for (const pid of app.livePids()) expect(page.body).toContain(`data-id="${pid}" data-state="alive"`);
  });

  it('PromMultiprocFilesSkipped: the expression holds once a foreign file is in the directory', async () => {
    const rule = rules.find((r) => r.alert === 'PromMultiprocFilesSkipped')!;
    expect(await prometheus.query(rule.expr)).toEqual([]);
    fs.writeFileSync(path.join(app.directory, 'not-ours.db'), 'x');
    const firing = await series(rule.expr);
    expect(firing.map((r) => [r.metric.instance, r.metric.reason])).toEqual([[collectorTarget, 'foreign']]);
  });
});

// The landing page at `/` of a collector's server, opened in a real headless Chromium:
// it renders, its process table matches the directory (live, dead, archived), label
// values and file names holding HTML show as text, and a read-only collector says so.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Collector, Compactor, startMetricsServer, type MetricsServer } from '@prom-multiproc/core';
import { Chromium, type Tab } from '../helpers/chromium.js';
import { httpGet } from '../helpers/cluster.js';

const ROOT = path.resolve(__dirname, '..', '..');
// Process labels a hostile or careless deployment could write: markup, quotes, ampersands.
const HOSTILE = { pm2_app: '<script>document.title="pwned"</script><b>bold</b>', pm2_instance: '"1" & <i>2</i>' };
const FOREIGN_FILE = '<img src=x onerror="document.title=1">.db';

const WRITER = `
  import { configureStorage, Counter, Gauge } from '@prom-multiproc/core';
  configureStorage({ directory: process.argv[1], labels: JSON.parse(process.argv[2]) });
  const jobs = new Counter({ name: 'jobs_total', help: 'Jobs.', labelNames: ['kind'] });
  jobs.inc({ kind: 'a' }, 3);
  jobs.inc({ kind: 'b' });
  new Gauge({ name: 'queue_depth', help: 'Depth.', multiprocessMode: 'livesum' }).set(2);
  if (process.argv[3] === 'exit') process.exit(0);
  process.send('ready');
  process.on('disconnect', () => process.exit(0)); // the test process is gone: do not outlive it
`;

let dir = '';
const live: ChildProcess[] = [];
let compactor: Compactor;
let readOnlyCompactor: Compactor;
let server: MetricsServer;
let readOnlyServer: MetricsServer;
let browser: Chromium;
let exitedBefore = 0;
let exitedAfter = 0;

function writeAndExit(labels: Record<string, string> = {}): number {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', WRITER, dir, JSON.stringify(labels), 'exit'], { cwd: ROOT, encoding: 'utf8' });
  expect(r.stderr).toBe('');
  return r.pid!;
}

async function writeAndStay(labels: Record<string, string> = {}): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', WRITER, dir, JSON.stringify(labels)], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  live.push(child);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('writer not ready in 30 s')), 30_000);
    child.once('message', () => { clearTimeout(timer); resolve(); });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`writer exited ${code}`)); });
  });
  return child;
}

/** The processes table as a person sees it (innerText), row by row. */
function readTable(tab: Tab) {
  return tab.evaluate<Array<{ id: string; labels: string; state: string; files: number; bytes: number }>>(`
    [...document.querySelectorAll('#processes tbody tr')].map((tr) => ({
      id: tr.cells[0].innerText, labels: tr.cells[1].innerText, state: tr.cells[2].innerText,
      files: Number(tr.cells[3].innerText), bytes: Number(tr.cells[4].innerText),
    }))`);
}

/** What the directory holds, per process id: files and bytes, from the file system. */
function directoryByProcess(): Map<string, { files: number; bytes: number }> {
  const out = new Map<string, { files: number; bytes: number }>();
  for (const name of fs.readdirSync(dir)) {
    const m = /^(?:counter|gauge_[a-z]+)_(.+)\.db$/.exec(name);
    if (!m) continue;
    const entry = out.get(m[1]) ?? { files: 0, bytes: 0 };
    entry.files++;
    entry.bytes += fs.statSync(path.join(dir, name)).size;
    out.set(m[1], entry);
  }
  return out;
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pmp-landing-'));
  exitedBefore = writeAndExit(); // folded into the archives when the compactor starts
  compactor = await Compactor.start(dir, { sweepIntervalMs: 0, log: () => {} });
  exitedAfter = writeAndExit(); // dead, not folded: no sweep runs in this test
  await writeAndStay();
  await writeAndStay(HOSTILE);
  fs.writeFileSync(path.join(dir, FOREIGN_FILE), 'not ours');
  const collector = new Collector({ directory: dir, compactor, log: () => {} });
  server = await startMetricsServer({ collector, port: 0 });
  // A second collector on the same directory: the lock is taken, so it serves read-only.
  readOnlyCompactor = await Compactor.start(dir, { sweepIntervalMs: 0, log: () => {} });
  readOnlyServer = await startMetricsServer({ collector: new Collector({ directory: dir, compactor: readOnlyCompactor, log: () => {} }), port: 0 });
  expect((await httpGet(server.url)).status).toBe(200); // one scrape, which skips the foreign file
  browser = await Chromium.start();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  for (const child of live) if (child.exitCode === null && child.pid) try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ }
  await server?.close();
  await readOnlyServer?.close();
  await compactor?.close();
  await readOnlyCompactor?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('landing page in headless Chromium', () => {
  it('renders, with the metrics link, the directory and the compactor as leader', async () => {
    const root = server.url.replace(/\/metrics$/, '/');
    const tab = await browser.open(root);
    expect(await tab.evaluate('document.title')).toBe('prom-multiproc collector');
    expect(await tab.evaluate('document.querySelector("h1").innerText')).toBe('prom-multiproc collector');
    expect(await tab.evaluate('document.getElementById("metrics-link").href')).toBe(server.url);
    expect(await tab.evaluate('document.getElementById("directory").innerText')).toBe(dir);
    const compactorText = await tab.evaluate<string>('document.getElementById("compactor").innerText');
    expect(compactorText).toMatch(/^Compactor: leader: this collector folds dead processes; last fold \d{4}-\d\d-\d\d [\d:]+ UTC; 1 compactions, 1 processes folded, 0 errors; archive files: \d+$/);
    const png = await tab.screenshot();
    expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
    expect(png.length).toBeGreaterThan(10_000); // a rendered page, not a blank one
    if (process.env.LANDING_PAGE_SCREENSHOT) fs.writeFileSync(process.env.LANDING_PAGE_SCREENSHOT, png);
    // And the page is what a collector returns for HEAD and GET of `/`, with the CSP that forbids scripts.
    const res = await httpGet(root);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['content-security-policy']).toBe("default-src 'none'; style-src 'unsafe-inline'");
    const head = await httpGet(root, {}, 'HEAD');
    expect([head.status, head.body, head.headers['content-length']]).toEqual([200, '', res.headers['content-length']]);
    expect((await httpGet(root, {}, 'POST')).status).toBe(405);
  });

  it('lists every process of the directory with its state, files and bytes', async () => {
    const tab = await browser.open(server.url.replace(/\/metrics$/, '/'));
    const rows = await readTable(tab);
    const onDisk = directoryByProcess();
    expect(rows.map((r) => r.id).sort()).toEqual([...onDisk.keys()].sort());
    for (const row of rows) expect({ id: row.id, files: row.files, bytes: row.bytes }).toEqual({ id: row.id, ...onDisk.get(row.id) });
    const state = Object.fromEntries(rows.map((r) => [r.id, r.state]));
    expect(state.archive).toBe('archive');
    expect(state[String(exitedBefore)]).toBeUndefined(); // folded at start-up
    expect(state[String(exitedAfter)]).toBe('dead');
    for (const child of live) expect(state[String(child.pid)]).toBe('alive');
  });

  it('shows label values and file names holding HTML as text', async () => {
    const tab = await browser.open(server.url.replace(/\/metrics$/, '/'));
    const rows = await readTable(tab);
    const hostile = rows.find((r) => r.id === String(live[1].pid))!;
    expect(hostile.labels).toBe(`pm2_app="${HOSTILE.pm2_app}" pm2_instance="${HOSTILE.pm2_instance}"`);
    expect(rows.find((r) => r.id === String(live[0].pid))!.labels).toBe('');
    // Nothing from the directory became markup, and no script ran.
    expect(await tab.evaluate('document.querySelectorAll("script, b, i, img").length')).toBe(0);
    expect(await tab.evaluate('document.title')).toBe('prom-multiproc collector');
    const skipped = await tab.evaluate<string[][]>(`[...document.querySelectorAll('#skipped tbody tr')].map((tr) => [tr.cells[0].innerText, tr.cells[1].innerText])`);
    expect(skipped).toEqual([[FOREIGN_FILE, 'foreign']]);
  });

  it('follows the directory: a process killed shows as dead at the next load', async () => {
    const victim = live[0];
    const exited = new Promise((r) => victim.once('exit', r));
    process.kill(victim.pid!, 'SIGKILL');
    await exited;
    const rows = await readTable(await browser.open(server.url.replace(/\/metrics$/, '/')));
    expect(rows.find((r) => r.id === String(victim.pid))?.state).toBe('dead');
  });

  it('says when a collector serves read-only', async () => {
    const tab = await browser.open(readOnlyServer.url.replace(/\/metrics$/, '/'));
    expect(await tab.evaluate('document.getElementById("compactor").innerText')).toMatch(/^Compactor: read-only: another collector holds the directory's lock; last fold never;/);
  });
});

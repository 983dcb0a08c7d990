// The CLI and the node:cluster primary over a directory that others can write to
// (docs/security.md): planted journals, FIFOs and devices under metrics file names, the
// directory removed, an fd limit with many idle connections. Each case hung, crashed or
// served nothing before; here the collector keeps serving what is good and says why.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { httpGet, sampleValue } from './helpers/cluster.js';
import { eventually } from './helpers/pm2.js';

const ROOT = path.resolve(__dirname, '..');
const CLI = path.join(ROOT, 'packages/core/bin/prom-multiproc.js');
const FIXTURE = path.join(ROOT, 'packages/core/test/fixtures/python/counter_basic');
const JOURNAL = '.prom-multiproc-compaction.json';
const dirs: string[] = [];
const children: ChildProcess[] = [];
const sockets: net.Socket[] = [];

afterEach(() => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function fixtureDir(): string {
  const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'pmp-hostile-'));
  dirs.push(parent);
  const dir = path.join(parent, 'metrics');
  fs.mkdirSync(dir);
  for (const f of fs.readdirSync(FIXTURE).filter((f) => f.endsWith('.db'))) fs.copyFileSync(path.join(FIXTURE, f), path.join(dir, f));
  return dir;
}

interface Running {
  child: ChildProcess;
  url: string;
  stderr: () => string;
  alive: () => boolean;
}

/** Starts a process that prints "... on http://…/metrics" (or "URL http://…") once it serves. */
function startServing(command: string, args: string[]): Promise<Running> {
  const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stderr = '';
  let stdout = '';
  child.stderr!.on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      stdout += d;
      const m = stdout.match(/(http:\/\/\S+\/metrics)/);
      if (m) resolve({ child, url: m[1], stderr: () => stderr, alive: () => child.exitCode === null && child.signalCode === null });
    });
    child.once('exit', (code, signal) => reject(new Error(`exited ${code ?? signal}: ${stderr}`)));
  });
}

const serve = (dir: string, ...flags: string[]) => startServing(process.execPath, [CLI, 'serve', '--dir', dir, '--port', '0', ...flags]);

function dump(dir: string, timeout = 30_000) {
  // A hang or unbounded memory shows as a timeout (status null) instead of stalling the run.
  return spawnSync(process.execPath, [CLI, 'dump', '--dir', dir], { encoding: 'utf8', timeout, killSignal: 'SIGKILL' });
}

function mkfifo(file: string): void {
  const r = spawnSync('mkfifo', [file]);
  if (r.status !== 0) throw new Error(`mkfifo ${file} failed: ${r.stderr}`);
}

describe('a planted journal', () => {
  it('serve over a journal that names a file outside the directory deletes nothing and serves everything', async () => {
    const dir = fixtureDir();
    const victim = path.join(dir, '..', 'victim');
    fs.writeFileSync(victim, 'keep me');
    fs.writeFileSync(path.join(dir, JOURNAL), '{"replace":[],"remove":["../victim"]}');
    const s = await serve(dir);
    const body = (await httpGet(s.url)).body;
    expect(sampleValue(body, 'jobs_total')).toBe(4);
    expect(fs.readFileSync(victim, 'utf8')).toBe('keep me');
    expect(s.stderr()).toMatch(/compaction journal .* is not one we wrote: .*"\.\.\/victim".*; set aside as \.prom-multiproc-compaction\.json\.bad-\d+/);
  });

  it.each([
    ['garbage', (f: string) => fs.writeFileSync(f, 'garbage{')],
    ['[]', (f: string) => fs.writeFileSync(f, '[]')],
    ['a directory', (f: string) => fs.mkdirSync(f)],
    ['a FIFO', (f: string) => mkfifo(f)],
  ])('dump and serve over a journal that is %s print and serve the merged series', async (_what, plant) => {
    const dir = fixtureDir();
    plant(path.join(dir, JOURNAL));
    const out = dump(dir);
    expect(out.status).toBe(0);
    expect(out.stdout).toMatch(/^jobs_total 4\.0$/m);
    expect(out.stderr).toMatch(/\.prom-multiproc-compaction\.json \(bad-journal\)/);
    const s = await serve(dir);
    expect(sampleValue((await httpGet(s.url)).body, 'jobs_total')).toBe(4);
    expect(fs.readdirSync(dir).filter((n) => n.startsWith(`${JOURNAL}.bad-`))).toHaveLength(1);
  });
});

describe('special files under metrics file names never block and never cost unbounded memory', () => {
  it('a FIFO named counter_1.db: dump exits, serve answers /metrics', async () => {
    const dir = fixtureDir();
    mkfifo(path.join(dir, 'counter_1.db'));
    fs.symlinkSync(path.join(dir, 'counter_1.db'), path.join(dir, 'counter_2.db'));
    const out = dump(dir);
    expect(out.status).toBe(0);
    expect(out.stdout).toMatch(/^jobs_total 4\.0$/m);
    expect(out.stderr).toMatch(/skipped counter_1\.db \(not-regular-file\): a FIFO/);
    expect(out.stderr).toMatch(/skipped counter_2\.db \(not-regular-file\): a FIFO/);
    const s = await serve(dir, '--sweep-seconds', '0');
    const body = (await httpGet(s.url)).body;
    expect(sampleValue(body, 'jobs_total')).toBe(4);
    expect(sampleValue(body, 'prom_multiproc_files_skipped_total{reason="not-regular-file"}')).toBe(2);
    expect((await httpGet(s.url.replace('/metrics', '/nope'))).status).toBe(404);
    expect((await httpGet(s.url.replace('/metrics', '/'))).status).toBe(200); // the landing page reads the files too
  });

  it('a symlink to /dev/zero named counter_x.db: dump exits at once and skips it', () => {
    const dir = fixtureDir();
    fs.symlinkSync('/dev/zero', path.join(dir, 'counter_x.db'));
    const out = dump(dir, 10_000); // a regression reads /dev/zero until memory runs out: keep it short
    expect(out.status).toBe(0);
    expect(out.stdout).toMatch(/^jobs_total 4\.0$/m);
    expect(out.stderr).toMatch(/skipped counter_x\.db \(not-regular-file\): a device/);
  });
});

describe('the directory removed', () => {
  it('serve (compacting and read-only) and a node:cluster primary keep serving and count the errors', async () => {
    const served = fixtureDir();
    const compacting = await serve(served, '--sweep-seconds', '0.2');
    const readOnly = await serve(served, '--sweep-seconds', '0.2');
    const clustered = fixtureDir();
    const primary = await startServing(process.execPath, ['--input-type=module', '-e', `
      import { startClusterCollector } from '@prom-multiproc/core';
      const c = await startClusterCollector({ port: 0, directory: process.argv[1], sweepIntervalMs: 200, log: (m) => console.error(m) });
      console.log('URL ' + c.url);
      setInterval(() => {}, 1000);
    `, clustered]);
    expect(sampleValue((await httpGet(readOnly.url)).body, 'prom_multiproc_compactor')).toBe(0);
    // The servers may create a file (a lock, a journal) while the directory is being removed
    // (ENOTEMPTY), more often on a loaded machine: remove it again until it is gone.
    for (const dir of [served, clustered]) {
      await eventually(`${dir} removed`, () => (fs.rmSync(dir, { recursive: true, force: true, maxRetries: 10 }), !fs.existsSync(dir)), 30_000);
    }
    // The lock holders notice when the lock's next update fails (every 10 s), then retry
    // the lock at each sweep: wait for that, then for several retries that failed.
    for (const running of [compacting, primary]) {
      await eventually('the lock to be lost', () => /lost the compaction lock/.test(running.stderr()), 30_000);
    }
    for (const running of [compacting, readOnly, primary]) {
      const errorsNow = sampleValue((await httpGet(running.url)).body, 'prom_multiproc_compaction_errors_total')!;
      await eventually('three more failed sweeps', async () => sampleValue((await httpGet(running.url)).body, 'prom_multiproc_compaction_errors_total')! >= errorsNow + 3);
    }
    for (const running of [compacting, readOnly, primary]) {
      expect(running.alive()).toBe(true);
      const { status, body } = await httpGet(running.url);
      expect(status).toBe(200);
      expect(sampleValue(body, 'prom_multiproc_directory_errors_total')).toBeGreaterThan(0);
      expect(running.stderr()).not.toMatch(/Unhandled|UnhandledPromiseRejection/i);
    }
  }, 60_000);
});

describe('start-up over files that are not ours', () => {
  it('serve --startup clear with a directory named backup.db and files of other programs starts and removes only ours', async () => {
    const dir = fixtureDir();
    fs.mkdirSync(path.join(dir, 'backup.db'));
    fs.writeFileSync(path.join(dir, 'app.db'), 'x');
    fs.writeFileSync(path.join(dir, '.x.db.tmp'), 'x');
    const s = await serve(dir, '--startup', 'clear', '--sweep-seconds', '0');
    expect((await httpGet(s.url)).status).toBe(200);
    expect(fs.readdirSync(dir).filter((n) => !n.startsWith('.prom-multiproc')).sort()).toEqual(['.x.db.tmp', 'app.db', 'backup.db']);
  });
});

describe('the HTTP server', () => {
  it('GET // is a 404, not a 500 with a stack trace', async () => {
    const dir = fixtureDir();
    const s = await serve(dir, '--sweep-seconds', '0');
    const res = await httpGet(s.url.replace('/metrics', '//'));
    expect(res.status).toBe(404);
    expect((await httpGet(s.url)).status).toBe(200);
    expect(s.stderr()).not.toMatch(/scrape failed|TypeError/);
  });

  it('300 idle connections under ulimit -n 256 do not keep scrapes out', async () => {
    const dir = fixtureDir();
    const s = await startServing('bash', ['-c', `ulimit -n 256 && exec "${process.execPath}" "${CLI}" serve --dir "${dir}" --port 0 --sweep-seconds 0`]);
    const { port } = new URL(s.url);
    let settled = 0;
    for (let i = 0; i < 300; i++) {
      const socket = net.connect(Number(port), '127.0.0.1');
      sockets.push(socket);
      socket.on('error', () => {});
      socket.once('connect', () => settled++);
    }
    await eventually('the idle connections to connect', () => settled >= 300 || undefined);
    for (let i = 0; i < 3; i++) {
      const { status, body } = await httpGet(s.url);
      expect(status).toBe(200);
      expect(sampleValue(body, 'jobs_total')).toBe(4);
    }
    expect(s.alive()).toBe(true);
  }, 60_000);
});

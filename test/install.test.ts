// Install anywhere: the packed @prom-multiproc/core installs into an empty app with only
// node and npm on PATH (no cc, c++, g++, make, python3), with npm from its cache where it
// can, without install scripts; a 4-worker node:cluster app then counts exactly, on the
// prebuilt mmap binary, and on the fallback where no binary loads.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sampleValue } from './helpers/cluster.js';

const ROOT = path.resolve(__dirname, '..');
const JOBS = 10000;
let work: string;
let app: string;
let bin: string;
let install: ReturnType<typeof spawnSync>;

/** npm's own entry point: `npm` on this PATH is a link to it. */
function npmCli(): string {
  const npm = execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim();
  return fs.realpathSync(npm);
}

function runApp(): { modes: string[]; body: string; stderr: string } {
  const run = spawnSync(process.execPath, ['app.mjs'], {
    cwd: app,
    env: { PATH: bin, HOME: process.env.HOME, PROMETHEUS_MULTIPROC_DIR: '', PROM_MULTIPROC_STORAGE: '', JOBS: String(JOBS) },
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect(run.status, run.stderr).toBe(0);
  return { ...(JSON.parse(run.stdout.trim().split('\n').pop()!) as { modes: string[]; body: string }), stderr: run.stderr };
}

function expectExactCounts(body: string): void {
  for (let id = 1; id <= 4; id++) expect(sampleValue(body, `installed_jobs_total{worker="${id}"}`)).toBe(JOBS);
  expect(sampleValue(body, 'installed_jobs_total{worker="all"}')).toBe(4 * JOBS);
  expect(sampleValue(body, 'installed_job_size_count')).toBe(4 * JOBS);
  expect(sampleValue(body, 'installed_job_size_bucket{le="1.0"}')).toBe(4 * 2 * (JOBS / 20));
}

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'pmp-install-'));
  bin = path.join(work, 'bin');
  app = path.join(work, 'app');
  fs.mkdirSync(bin);
  fs.mkdirSync(app);
  // PATH holds node and npm, nothing else: no compiler, make or python can be found.
  fs.symlinkSync(process.execPath, path.join(bin, 'node'));
  fs.symlinkSync(npmCli(), path.join(bin, 'npm'));
  execFileSync('npm', ['pack', '--pack-destination', work], { cwd: path.join(ROOT, 'packages', 'core'), stdio: 'ignore' });
  const tarball = fs.readdirSync(work).find((f) => f.endsWith('.tgz'))!;
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({
    name: 'installed-app', private: true, type: 'module', dependencies: { '@prom-multiproc/core': `file:../${tarball}` },
  }));
  fs.copyFileSync(path.join(ROOT, 'test', 'apps', 'installed-cluster-app.mjs'), path.join(app, 'app.mjs'));
  install = spawnSync(path.join(bin, 'npm'), ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=warn'], {
    cwd: app,
    env: { PATH: bin, HOME: process.env.HOME, npm_config_update_notifier: 'false' },
    encoding: 'utf8',
    timeout: 170_000,
  });
}, 180_000);

afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

describe('installing the packed package', () => {
  it('needs no compiler and runs no install script', () => {
    expect(fs.readdirSync(bin).sort()).toEqual(['node', 'npm']);
    for (const tool of ['cc', 'c++', 'g++', 'make', 'python3']) {
      expect(spawnSync(tool, ['--version'], { env: { PATH: bin } }).error, tool).toMatchObject({ code: 'ENOENT' });
    }
    expect(install.status, `${install.stdout}${install.stderr}`).toBe(0);
    // No package with an install script: nothing for npm 11's allowScripts to warn about.
    expect(`${install.stdout}${install.stderr}`).not.toMatch(/allowScripts|install script|gyp/i);
    const installed = path.join(app, 'node_modules', '@prom-multiproc', 'core');
    expect(fs.existsSync(path.join(installed, 'native', 'prebuilds', 'linux-x64', 'prom-multiproc-mmap.glibc.node'))).toBe(true);
    expect(fs.existsSync(path.join(installed, 'native', 'build'))).toBe(false);
  });

  it('a 4-worker cluster app counts exactly on the prebuilt mmap binary', () => {
    const { modes, body, stderr } = runApp();
    expect(modes).toEqual(['mmap', 'mmap', 'mmap', 'mmap']);
    expect(stderr).toBe('');
    expectExactCounts(body);
  }, 90_000);

  it('where no binary loads (prebuilds removed), the same app counts exactly in fallback mode and says so once per worker', () => {
    fs.rmSync(path.join(app, 'node_modules', '@prom-multiproc', 'core', 'native', 'prebuilds'), { recursive: true });
    const { modes, body, stderr } = runApp();
    expect(modes).toEqual(['fallback', 'fallback', 'fallback', 'fallback']);
    const notices = stderr.trimEnd().split('\n');
    expect(notices).toHaveLength(4);
    for (const line of notices) expect(line).toMatch(/^prom-multiproc: storage mode fallback in process \d+ \(no mmap binary loads on linux-x64: No native build was found/);
    expectExactCounts(body);
  }, 90_000);
});

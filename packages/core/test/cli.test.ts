// The built `prom-multiproc` command, run as a real child process (needs `pnpm build`).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES } from './helpers/fixtures.js';

const PACKAGE = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(PACKAGE, 'bin', 'prom-multiproc.js');
const BUILT_CLI = path.join(PACKAGE, 'dist', 'esm', 'cli', 'main.js');

function cli(...args: string[]) {
  const run = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

const fixture = (name: string) => path.join(FIXTURES, name);
const expected = (name: string) => fs.readFileSync(path.join(fixture(name), 'expected.txt'), 'utf8');

let tempDir: string;
beforeAll(() => {
  if (!fs.existsSync(BUILT_CLI)) throw new Error(`${BUILT_CLI} is missing: run \`pnpm build\` first`);
  tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-test-'));
});
afterAll(() => fs.rmSync(tempDir, { recursive: true, force: true }));

describe('prom-multiproc dump', () => {
  it.each(['counter_basic', 'mixed_realistic', 'gauge_modes', 'escaping_unicode', 'zero_and_unset'])(
    'prints %s exactly as Python does',
    (name) => {
      const run = cli('dump', '--dir', fixture(name));
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(run.stdout).toBe(expected(name));
    },
  );

  it('--openmetrics ends with # EOF and names counters without _total in HELP/TYPE', () => {
    const run = cli('dump', '--openmetrics', '--dir', fixture('counter_basic'));
    expect(run.code).toBe(0);
    expect(run.stdout.startsWith('# HELP http_requests Total HTTP requests.\n# TYPE http_requests counter\n')).toBe(true);
    expect(run.stdout.endsWith('jobs_total 4.0\n# EOF\n')).toBe(true);
  });

  it('skips bad files, reports each once on stderr with its name and reason, and exits 0', () => {
    const dir = fs.mkdtempSync(path.join(tempDir, 'bad-'));
    for (const file of ['counter_101.db', 'counter_102.db']) fs.copyFileSync(path.join(fixture('counter_basic'), file), path.join(dir, file));
    fs.copyFileSync(path.join(fixture('error_corrupt_len'), 'counter_1404.db'), path.join(dir, 'counter_1404.db'));
    fs.writeFileSync(path.join(dir, 'foo.db'), 'not a metrics file');

    const run = cli('dump', '--dir', dir);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(expected('counter_basic'));
    const lines = run.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^prom-multiproc: skipped counter_1404\.db \(corrupt\): entry at offset 8 .*runs past used/);
    expect(lines[1]).toMatch(/^prom-multiproc: skipped foo\.db \(foreign\): not a metrics file name/);
  });

  it('an empty directory prints nothing', () => {
    const run = cli('dump', '--dir', fs.mkdtempSync(path.join(tempDir, 'empty-')));
    expect(run).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  it.each([
    [['dump'], /missing --dir/],
    [['dump', '--dir'], /argument missing|--dir/],
    [['dump', '--dir', '/does/not/exist'], /directory \/does\/not\/exist does not exist/],
    [['dump', '--dir', path.join(FIXTURES, 'counter_basic', 'expected.txt')], /is not a directory/],
    [['dump', '--dir', FIXTURES, '--bogus'], /Unknown option '--bogus'/],
    [['dump', '--dir', FIXTURES, 'extra'], /Unexpected argument 'extra'|positional/i],
  ])('usage error %j exits 2', (args, message) => {
    const run = cli(...args);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(message);
    expect(run.stderr).toContain('usage: prom-multiproc dump --dir DIR');
  });
});

describe('prom-multiproc inspect', () => {
  it("prints a file's entries with offset, sample, labels, value and timestamp", () => {
    const run = cli('inspect', path.join(fixture('counter_basic'), 'counter_101.db'));
    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/counter_101\.db: counter, process 101, storage mmap; 4 entries in 440 used bytes$/);
    expect(lines[1]).toMatch(/^offset\s+sample\s+value\s+timestamp$/);
    expect(lines[2]).toMatch(/^\s*8\s+http_requests_total\{code="200",method="GET"\}\s+3\.0\s+0$/);
    expect(lines).toHaveLength(6);
  });

  it('shows mostrecent timestamps as seconds and ISO time', () => {
    const run = cli('inspect', path.join(fixture('gauge_modes'), 'gauge_mostrecent_201.db'));
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/g_mostrecent\{shard="a"\}\s+5\.0\s+\d+(\.\d+)? \(\d{4}-\d\d-\d\dT/);
  });

  it('--json matches the entries Python recorded for the fixture', () => {
    const file = 'histogram_501.db';
    const run = cli('inspect', '--json', path.join(fixture('histogram_custom'), file));
    expect(run.code).toBe(0);
    const ours = JSON.parse(run.stdout) as Array<Record<string, unknown>>;
    const python = (JSON.parse(fs.readFileSync(path.join(fixture('histogram_custom'), 'entries.json'), 'utf8')) as Record<string, Array<Record<string, unknown>>>)[file];
    expect(ours.map((e) => [e.offset, e.keyLength, e.padding, e.valueOffset, e.value, e.timestamp])).toEqual(
      python.map((e) => [e.offset, e.key_len, e.pad, e.value_offset, e.value, e.timestamp]),
    );
    expect(ours[1]).toMatchObject({ metricName: 'latency_seconds', sampleName: 'latency_seconds_bucket', labels: { le: '0.01', route: '/a' }, help: 'Request latency.' });
  });

  it('exits 1 with a clear message for a corrupt file', () => {
    const file = path.join(fixture('error_corrupt_len'), 'counter_1404.db');
    const run = cli('inspect', file);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(`prom-multiproc inspect: ${file} is corrupt: entry at offset 8 (key length 2147418112) runs past used (72)\n`);
  });

  it('names the 0.17 format when it recognises it', () => {
    const run = cli('inspect', path.join(fixture('error_old_format_v017'), 'counter_1301.db'));
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/is corrupt: .*prometheus_client <= 0\.17/);
  });

  it.each([
    [['inspect'], /missing FILE/],
    [['inspect', 'a.db', 'b.db'], /exactly one FILE/],
    [['inspect', '/does/not/exist.db'], /does not exist/],
    [['inspect', FIXTURES], /is not a regular file/],
    [['inspect', '--yaml', 'a.db'], /Unknown option '--yaml'/],
  ])('usage error %j exits 2', (args, message) => {
    const run = cli(...args);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
  });
});

describe('prom-multiproc commands and help', () => {
  it.each([['--help'], ['help'], ['-h']])('%s lists the commands and exits 0', (flag) => {
    const run = cli(flag);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('prom-multiproc dump --dir DIR [--openmetrics]');
    expect(run.stdout).toContain('prom-multiproc inspect FILE [--json]');
  });

  it('dump --help shows its usage and exits 0', () => {
    const run = cli('dump', '--help');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^usage: prom-multiproc dump --dir DIR \[--openmetrics\]/);
  });

  it('no command prints the usage on stderr and exits 2', () => {
    const run = cli();
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('usage: prom-multiproc <command>');
  });

  it('an unknown command exits 2 and says which', () => {
    const run = cli('frobnicate', '--dir', FIXTURES);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^prom-multiproc: unknown command "frobnicate"/);
  });
});

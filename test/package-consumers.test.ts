// The published package as apps consume it: `npm pack` of packages/core, installed from the
// tarball into a temporary project (its dependencies from the npm registry, install scripts
// off: the checks keep values in memory and never load the mmap addon), then
//   - a CommonJS jest project, with jest 29 and with jest 30 (the workspace's jest29 and
//     jest30 devDependencies) in their default config;
//   - plain Node: require() without require(esm) (as on Node < 20.19), and both builds in
//     one process sharing one registry and one storage (the dual-package hazard);
//   - TypeScript projects under node10, node16 and nodenext (.ts, .mts, .cts) and bundler
//     resolution, `tsc --noEmit` with every type name prom-client 15 declares.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumerSource } from './helpers/consumer-source.js';

const ROOT = path.resolve(__dirname, '..');
const CORE = path.join(ROOT, 'packages', 'core');
const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const JEST_VERSIONS = ['jest29', 'jest30'];

let work: string;
/** The consumer project: the tarball installed, nothing else. */
let app: string;

/** Runs a command, returning its output; a failure throws with the output in the message. */
function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): string {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 500_000 });
  const output = `${result.stdout}${result.stderr}`;
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} (in ${cwd}) exited ${result.status ?? result.signal}:\n${output}`);
  return output;
}

/** A folder of the consumer project (its node_modules is found from there, as Node and tsc look upwards). */
function folder(name: string): string {
  const dir = path.join(app, name);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

function write(dir: string, files: Record<string, string>): void {
  for (const [file, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), text);
  }
}

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'pmp-consumers-'));
  const packed = execFileSync('npm', ['pack', '--silent', '--pack-destination', work], { cwd: CORE, encoding: 'utf8' }).trim().split('\n').pop()!;
  const tarball = path.join(work, packed);
  expect(fs.existsSync(tarball)).toBe(true);
  app = path.join(work, 'app');
  fs.mkdirSync(app);
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true }));
  run('npm', ['install', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', tarball], app);
}, 600_000);

afterAll(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

// A CommonJS test file as an app that moved from prom-client has it.
const JEST_TEST = `
const client = require('@prom-multiproc/core/prom-client');
const core = require('@prom-multiproc/core');

test('the entry loads and behaves as prom-client', async () => {
  const counter = new client.Counter({ name: 'jobs_total', help: 'Jobs.', labelNames: ['kind'] });
  counter.inc({ kind: 'a' }, 2);
  expect(await client.register.metrics()).toBe('# HELP jobs_total Jobs.\\n# TYPE jobs_total counter\\njobs_total{kind="a"} 2\\n');
  client.contentType = client.openMetricsContentType;
  expect(client.register.contentType).toBe(client.openMetricsContentType);
  expect(await client.register.metrics()).toBe('# HELP jobs Jobs.\\n# TYPE jobs counter\\njobs_total{kind="a"} 2\\n# EOF\\n');
  expect(core.register).toBe(client.register);
  expect(require.resolve('@prom-multiproc/core/prom-client')).toMatch(/dist[\\\\/]commonjs[\\\\/]prom-client\\.js$/);
});
`;

describe('a CommonJS jest project (default config)', () => {
  for (const jest of JEST_VERSIONS) {
    it(`${jest} loads and runs the entry`, () => {
      const dir = folder(jest);
      write(dir, { 'package.json': JSON.stringify({ name: jest, private: true }), '__tests__/entry.test.js': JEST_TEST });
      const version = JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', jest, 'package.json'), 'utf8')).version;
      expect(version).toMatch(jest === 'jest29' ? /^29\./ : /^30\./);
      const output = run(process.execPath, [path.join(ROOT, 'node_modules', jest, 'bin', 'jest.js'), '--ci', '--rootDir', dir], dir);
      expect(output).toMatch(/Tests:\s+1 passed, 1 total/);
    }, 300_000);
  }
});

describe('plain Node', () => {
  let dir: string;
  beforeAll(() => {
    dir = folder('node');
  });

  it('require() loads the CommonJS build where require(esm) is unavailable', () => {
    write(dir, {
      'check.cjs': `
        const client = require('@prom-multiproc/core/prom-client');
        const { Collector } = require('@prom-multiproc/core');
        if (typeof Collector !== 'function') throw new Error('no Collector');
        new client.Gauge({ name: 'g', help: 'h' }).set(4);
        client.register.metrics().then((text) => process.stdout.write(text));
      `,
    });
    const output = run(process.execPath, ['--no-experimental-require-module', 'check.cjs'], dir);
    expect(output).toBe('# HELP g h\n# TYPE g gauge\ng 4\n');
  });

  it('both builds in one process share one global registry and one storage', () => {
    write(dir, {
      'both.mjs': `
        import { createRequire } from 'node:module';
        import * as esm from '@prom-multiproc/core/prom-client';
        import { currentStorage } from '@prom-multiproc/core';
        const require = createRequire(import.meta.url);
        const cjs = require('@prom-multiproc/core/prom-client');
        if (cjs.Counter === esm.Counter) throw new Error('expected two builds');
        if (cjs.register !== esm.register) throw new Error('two global registries');
        if (require('@prom-multiproc/core').currentStorage() !== currentStorage()) throw new Error('two storages');
        new esm.Counter({ name: 'from_esm', help: 'h' }).inc();
        new cjs.Counter({ name: 'from_cjs', help: 'h' }).inc(2);
        process.stdout.write(await cjs.register.metrics());
      `,
    });
    expect(run(process.execPath, ['both.mjs'], dir)).toBe(
      '# HELP from_esm h\n# TYPE from_esm counter\nfrom_esm 1\n\n# HELP from_cjs h\n# TYPE from_cjs counter\nfrom_cjs 2\n',
    );
  });
});

describe('TypeScript resolves the package and its types', () => {
  let dir: string;
  beforeAll(() => {
    dir = folder('typescript');
  });

  const base = { strict: true, noEmit: true, skipLibCheck: false, esModuleInterop: true, types: ['node'], target: 'es2022' };
  const cases: Array<{ mode: string; compilerOptions: object; files: string[]; type?: 'module' }> = [
    { mode: 'node10', compilerOptions: { module: 'commonjs', moduleResolution: 'node10', ignoreDeprecations: '5.0' }, files: ['consumer.ts'] },
    { mode: 'node16 (.ts as CommonJS, .mts, .cts)', compilerOptions: { module: 'node16', moduleResolution: 'node16' }, files: ['consumer.ts', 'consumer.mts', 'consumer.cts'] },
    { mode: 'node16 (.ts as ESM)', compilerOptions: { module: 'node16', moduleResolution: 'node16' }, files: ['consumer.ts'], type: 'module' },
    { mode: 'nodenext (.ts, .mts, .cts)', compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext' }, files: ['consumer.ts', 'consumer.mts', 'consumer.cts'] },
    { mode: 'bundler', compilerOptions: { module: 'esnext', moduleResolution: 'bundler' }, files: ['consumer.ts'] },
  ];
  cases.forEach(({ mode, compilerOptions, files, type }, i) => {
    it(`tsc --noEmit under ${mode}`, () => {
      // Each case in a folder of its own; a nested package.json sets how .ts files are read.
      const sub = path.join(dir, `case${i}`);
      const source = consumerSource();
      write(sub, Object.fromEntries(files.map((f) => [f, source])));
      if (type) write(sub, { 'package.json': JSON.stringify({ type }) });
      write(sub, { 'tsconfig.json': JSON.stringify({ compilerOptions: { ...base, ...compilerOptions, typeRoots: [path.join(ROOT, 'node_modules', '@types')] }, files }) });
      run(process.execPath, [TSC, '-p', 'tsconfig.json'], sub);
    }, 120_000);
  });
});

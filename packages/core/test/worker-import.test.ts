// What importing the package costs a worker: `import { Counter } from '@prom-multiproc/core'`
// loads the metric classes, the registry and the storage, and none of the collector side
// (the collector, the server, the web config with yaml and bcryptjs, protobufjs, the
// cluster primary, node:http/tls). Those load on first use and work as before: checked
// in fresh processes on the built package, with the ES module loader's own log, and for
// the CommonJS build with require.cache; and bundled by esbuild (ES module and CommonJS
// output), where the collector side must be in the bundle.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Collector as LazyCollector, Compactor, WebConfigError, loadWebConfig } from '../src/lazy/exports.js';
import { Collector as RealCollector } from '../src/collect/collector.js';
import { lazyClass } from '../src/lazy/lazy-value.js';

const CORE = path.resolve(__dirname, '..');
const LOG_HOOK = path.join(__dirname, 'helpers', 'log-loaded-modules.mjs');

/** Module URLs a worker's import must not load. */
const COLLECTOR_SIDE = [
  /\/(yaml|protobufjs|bcryptjs|proper-lockfile)\//,
  /\/dist\/(esm|commonjs)\/(serve\/(server|web-config|basic-auth|gzip-parts)|collect\/(collector|merge|merge-plan|protobuf|compactor|compaction|exposition-cache)|cluster\/primary|format\/reader|interop\/(aggregator-registry|pushgateway))\.js$/,
  /^node:(http|https|tls|zlib|cluster)$/,
];

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pmp-worker-import-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function runNode(args: string[]): { stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, args, {
    cwd: CORE,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, PROMETHEUS_MULTIPROC_DIR: dir, NODE_OPTIONS: '' },
  });
  if (result.status !== 0) throw new Error(`node ${args.join(' ')} exited ${result.status ?? result.signal}:\n${result.stdout}${result.stderr}`);
  return { stdout: result.stdout, stderr: result.stderr };
}

describe('a worker imports only the worker side', () => {
  it('ES module: the metric classes, registry and storage load; the collector side does not, and works on first use', () => {
    const script = `
      import { createRequire } from 'node:module';
      import { Counter, Histogram, Collector, loadWebConfig, WebConfigError, renderProtobuf, MetricFamilyMessage } from '@prom-multiproc/core';
      import fs from 'node:fs';
      new Counter({ name: 'jobs_total', help: 'Jobs.', labelNames: ['kind'] }).inc({ kind: 'a' }, 3);
      new Histogram({ name: 'latency_seconds', help: 'Latency.', buckets: [0.1, 1] }).observe(0.5);
      process.stderr.write('worker ready\\n');
      // First use of the collector side, synchronous where the API is.
      const collector = new Collector({ directory: process.env.PROMETHEUS_MULTIPROC_DIR });
      const text = (await collector.scrape('text')).body.toString();
      // protobufjs is CommonJS: loaded, it is in require's cache (a require()d ES module is not in the loader hook's log).
      const protobufjsLoaded = () => Object.keys(createRequire(import.meta.url).cache).filter((file) => file.includes('/protobufjs/')).length;
      const protobufjsAfterText = protobufjsLoaded();
      const bad = process.env.PROMETHEUS_MULTIPROC_DIR + '/web.yml';
      fs.writeFileSync(bad, 'tls_server_config: [');
      let error;
      try { loadWebConfig(bad); } catch (e) { error = e; }
      const pb = renderProtobuf(await collector.collect());
      const decoded = MetricFamilyMessage.decodeDelimited(pb);
      process.stdout.write(JSON.stringify({
        text, instance: collector instanceof Collector, webConfigError: error instanceof WebConfigError && error.name,
        protobufName: decoded.name, protobufjsAfterText, protobufjsAfterProtobuf: protobufjsLoaded(),
      }));
    `;
    const { stdout, stderr } = runNode(['--import', LOG_HOOK, '--input-type=module', '-e', script]);
    const beforeUse = stderr.slice(0, stderr.indexOf('worker ready'));
    const loaded = [...beforeUse.matchAll(/^loaded (.+)$/gm)].map((m) => m[1]!);
    expect(loaded.some((url) => url.endsWith('/dist/esm/index.js'))).toBe(true);
    expect(loaded.some((url) => url.endsWith('/dist/esm/metrics/counter.js'))).toBe(true);
    expect(loaded.some((url) => url.endsWith('/dist/esm/storage/storage.js'))).toBe(true);
    expect(loaded.filter((url) => COLLECTOR_SIDE.some((heavy) => heavy.test(url)))).toEqual([]);

    const result = JSON.parse(stdout);
    expect(result.text).toContain('jobs_total{kind="a"} 3.0\n');
    expect(result.text).toContain('latency_seconds_bucket{le="1.0"} 1.0\n');
    expect(result.instance).toBe(true);
    expect(result.webConfigError).toBe('WebConfigError');
    expect(['jobs_total', 'latency_seconds']).toContain(result.protobufName);
    // A collector serving text does not load protobufjs either: its first protobuf render does.
    expect(result.protobufjsAfterText).toBe(0);
    expect(result.protobufjsAfterProtobuf).toBeGreaterThan(0);
  });

  it('where an ES module cannot be require()d (Node < 20.19), the collector side loads from the CommonJS build on first use', () => {
    const script = `
      import { createRequire } from 'node:module';
      import { Counter, Collector, startMetricsServer, currentStorage } from '@prom-multiproc/core';
      new Counter({ name: 'jobs_total', help: 'Jobs.' }).inc(2);
      process.stderr.write('worker ready ' + process.features.require_module + '\\n');
      const text = (await new Collector({ directory: process.env.PROMETHEUS_MULTIPROC_DIR }).scrape('text')).body.toString();
      const cached = Object.keys(createRequire(import.meta.url).cache);
      process.stdout.write(JSON.stringify({ text, server: typeof startMetricsServer, cached }));
    `;
    const { stdout, stderr } = runNode(['--no-experimental-require-module', '--import', LOG_HOOK, '--input-type=module', '-e', script]);
    const beforeUse = stderr.slice(0, stderr.indexOf('worker ready'));
    expect(stderr).toContain('worker ready false');
    expect([...beforeUse.matchAll(/^loaded (.+)$/gm)].map((m) => m[1]!).filter((url) => COLLECTOR_SIDE.some((heavy) => heavy.test(url)))).toEqual([]);
    const result = JSON.parse(stdout);
    expect(result.text).toContain('jobs_total 2.0\n');
    expect(result.server).toBe('function');
    expect(result.cached.some((file: string) => file.endsWith('/dist/commonjs/collect/collector.js'))).toBe(true);
  });

  it('CommonJS build: require() loads none of the collector side until it is used', () => {
    const script = `
      const core = require('@prom-multiproc/core');
      new core.Gauge({ name: 'queue_depth', help: 'Queue depth.' }).set(7);
      const before = Object.keys(require.cache);
      new core.Collector({ directory: process.env.PROMETHEUS_MULTIPROC_DIR }).collect().then((families) => {
        process.stdout.write(JSON.stringify({ before, after: Object.keys(require.cache), text: families.map((f) => f.name) }));
      });
    `;
    const { stdout } = runNode(['-e', script]);
    const result = JSON.parse(stdout) as { before: string[]; after: string[]; text: string[] };
    expect(result.before.some((file) => file.endsWith('/dist/commonjs/metrics/gauge.js'))).toBe(true);
    expect(result.before.filter((file) => COLLECTOR_SIDE.some((heavy) => heavy.test(file)))).toEqual([]);
    expect(result.after.some((file) => file.endsWith('/dist/commonjs/collect/collector.js'))).toBe(true);
    expect(result.text).toContain('queue_depth');
  });
});

describe('an app bundled with esbuild', () => {
  // esbuild is the PM2 module's bundler.
  const esbuild = createRequire(path.join(CORE, '..', 'pm2-module', 'package.json'))('esbuild') as typeof import('esbuild');
  const app = `
    import { Counter, Collector } from '@prom-multiproc/core';
    new Counter({ name: 'bundled_total', help: 'Bundled.' }).inc(5);
    new Collector({ directory: process.env.PROMETHEUS_MULTIPROC_DIR }).scrape('text').then((s) => process.stdout.write(s.body.toString()));
  `;
  it('the collector side is in the bundle, loaded on first use, and works', async () => {
    const outfile = path.join(dir, 'app.mjs');
    // The mmap addon cannot be bundled (the PM2 module's bundle leaves it out too): the bundled app writes in fallback mode.
    await esbuild.build({ stdin: { contents: app, resolveDir: CORE, sourcefile: 'app.mjs' }, bundle: true, platform: 'node', format: 'esm', outfile, logLevel: 'silent', external: ['node-gyp-build'] });
    const result = spawnSync(process.execPath, [outfile], { cwd: dir, encoding: 'utf8', timeout: 60_000, env: { ...process.env, PROMETHEUS_MULTIPROC_DIR: dir, PROM_MULTIPROC_STORAGE: 'fallback', NODE_OPTIONS: '' } });
    expect(`${result.stderr}`).not.toMatch(/Error/);
    // The collector's own metrics: it ran (the app's counter reaches the file within 100 ms, in fallback mode).
    expect(result.stdout).toContain('# TYPE prom_multiproc_scrapes_total counter\nprom_multiproc_scrapes_total 1.0\n');
  });

  it('an app written with import, bundled to CommonJS: our ES module build without import.meta.url works', async () => {
    // esbuild resolves `import` to the ES module build and leaves import.meta empty in CommonJS output.
    const outfile = path.join(dir, 'app-from-esm.cjs');
    await esbuild.build({ stdin: { contents: app, resolveDir: CORE, sourcefile: 'app.mjs' }, bundle: true, platform: 'node', format: 'cjs', outfile, logLevel: 'silent', external: ['node-gyp-build'] });
    expect(fs.readFileSync(outfile, 'utf8')).toContain('dist/esm/lazy/heavy-modules.js');
    const result = spawnSync(process.execPath, [outfile], { cwd: dir, encoding: 'utf8', timeout: 60_000, env: { ...process.env, PROMETHEUS_MULTIPROC_DIR: dir, PROM_MULTIPROC_STORAGE: 'fallback', NODE_OPTIONS: '' } });
    expect(`${result.stderr}`).not.toMatch(/Error/);
    // The collector's own metrics: it ran (the app's counter reaches the file within 100 ms, in fallback mode).
    expect(result.stdout).toContain('# TYPE prom_multiproc_scrapes_total counter\nprom_multiproc_scrapes_total 1.0\n');
  });

  it('a CommonJS app: the CommonJS build\'s collector side is in the bundle and works', async () => {
    const outfile = path.join(dir, 'app.cjs');
    const cjsApp = `
      const { Counter, Collector } = require('@prom-multiproc/core');
      new Counter({ name: 'bundled_total', help: 'Bundled.' }).inc(5);
      new Collector({ directory: process.env.PROMETHEUS_MULTIPROC_DIR }).scrape('text').then((s) => process.stdout.write(s.body.toString()));
    `;
    await esbuild.build({ stdin: { contents: cjsApp, resolveDir: CORE, sourcefile: 'app.cjs' }, bundle: true, platform: 'node', format: 'cjs', outfile, logLevel: 'silent', external: ['node-gyp-build'] });
    const result = spawnSync(process.execPath, [outfile], { cwd: dir, encoding: 'utf8', timeout: 60_000, env: { ...process.env, PROMETHEUS_MULTIPROC_DIR: dir, PROM_MULTIPROC_STORAGE: 'fallback', NODE_OPTIONS: '' } });
    expect(`${result.stderr}`).not.toMatch(/Error/);
    expect(result.stdout).toContain('# TYPE prom_multiproc_scrapes_total counter\nprom_multiproc_scrapes_total 1.0\n');
  });
});

describe('a stand-in for a class that loads on first use', () => {
  it('constructs, extends, instanceofs and reads statics as the real class', async () => {
    expect(LazyCollector.name).toBe('Collector');
    const collector = new LazyCollector({ directory: dir });
    expect(collector).toBeInstanceOf(RealCollector);
    expect(collector).toBeInstanceOf(LazyCollector);
    expect(Object.getPrototypeOf(collector)).toBe(RealCollector.prototype);
    class MyCollector extends LazyCollector {
      mine(): string {
        return 'mine';
      }
    }
    const mine = new MyCollector({ directory: dir });
    expect(mine).toBeInstanceOf(RealCollector);
    expect(mine.mine()).toBe('mine');
    expect(Array.isArray(await mine.collect())).toBe(true);
    // A private constructor's static factory, through the stand-in.
    expect(typeof Compactor.start).toBe('function');
  });

  it('loads the module only when first touched, once', () => {
    let loads = 0;
    class Real {
      static kind = 'real';
    }
    const Stand = lazyClass('Real', () => {
      loads++;
      return Real;
    });
    expect(loads).toBe(0);
    expect(Stand.kind).toBe('real');
    expect(new Stand()).toBeInstanceOf(Real);
    expect(loads).toBe(1);
  });

  it('an error class: what a synchronous function throws is an instance of the stand-in', () => {
    const file = path.join(dir, 'web.yml');
    fs.writeFileSync(file, 'basic_auth_users: 3\n');
    expect(() => loadWebConfig(file)).toThrow(WebConfigError);
  });
});

// A collector's memory, in a process of its own, without the rest of scrape.mjs around it
// (issue 15, collector peak RSS): W worker processes (one after another) write
// scrape.mjs's workload into a temp directory and exit; then a collector process (with
// the PM2 module's Node flags, as scrape.mjs runs its collector) scrapes it N times, either with
// `scrapeWith('text')` (what scrape.mjs times) or through `startMetricsServer` over HTTP
// with gzip (a served collector), and reports its RSS (anonymous part, file pages), PSS,
// peak RSS, V8 heap and array buffers after its first scrape, after the N, and after a GC.
//
//   node bench/collector-memory.mjs [--cell 8x10000] [--n 80] [--served] [--dist packages/core/<a dist>/esm]
//
// --dist: the collector from another build of the package (a copy of packages/core/dist
// placed inside packages/core, so that it finds the addon), for a before/after pair; run
// the two alternately. The workers have exited: their files' pages are the collector's
// alone here, so PSS counts them whole (in scrape.mjs the workers live and share them).
// A diagnostic, not part of `pnpm bench`: no peer, no target.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, fallback) => {
  const at = process.argv.indexOf(name);
  return at >= 0 ? process.argv[at + 1] : fallback;
};
const [workers, series] = arg('--cell', '8x10000').split('x').map(Number);
const n = Number(arg('--n', '80'));
const served = process.argv.includes('--served');
const core = path.join(root, 'packages/core/dist/esm');
const collectorCore = path.resolve(arg('--dist', core));
const nodeArgs = JSON.parse(fs.readFileSync(path.join(root, 'packages/pm2-module/package.json'), 'utf8')).apps[0].node_args;

const child = `
import fs from 'node:fs';
import http from 'node:http';
const { Collector } = await import(${JSON.stringify(path.join(collectorCore, 'collect/collector.js'))});
const { startMetricsServer } = await import(${JSON.stringify(path.join(collectorCore, 'serve/server.js'))});
const mb = (bytes) => (bytes / 1048576).toFixed(1);
function report(when) {
  const rollup = fs.readFileSync('/proc/self/smaps_rollup', 'utf8');
  const kb = (key) => Number(new RegExp('^' + key + ':\\\\s+(\\\\d+)', 'm').exec(rollup)?.[1] ?? 0) * 1024;
  const m = process.memoryUsage();
  console.log(when.padEnd(14), 'RSS', mb(m.rss), '= anonymous', mb(kb('Anonymous')), '+ file pages', mb(kb('Rss') - kb('Anonymous')),
    '| PSS', mb(kb('Pss')), '| peak RSS', mb(process.resourceUsage().maxRSS * 1024), '| heap used', mb(m.heapUsed), 'total', mb(m.heapTotal), '| array buffers', mb(m.arrayBuffers), 'MB');
}
const collector = new Collector({ directory: process.env.BENCH_DIR, log: () => {} });
let scrape = () => collector.scrapeWith('text', ({ bytes }) => bytes.length);
let server;
if (${served}) {
  server = await startMetricsServer({ collector, port: 0, host: '127.0.0.1', log: () => {} });
  scrape = () => new Promise((resolve, reject) => {
    http.get(server.url, { headers: { 'Accept-Encoding': 'gzip' } }, (res) => {
      let bytes = 0;
      res.on('data', (chunk) => (bytes += chunk.length));
      res.on('end', () => resolve(bytes));
    }).on('error', reject);
  });
}
report('before');
await scrape();
report('first scrape');
const times = [];
for (let i = 0; i < ${n}; i++) {
  const started = process.hrtime.bigint();
  await scrape();
  times.push(Number(process.hrtime.bigint() - started) / 1e6);
}
report('after ${n}');
globalThis.gc();
report('after a GC');
const sorted = times.slice(${n} >> 2).sort((a, b) => a - b);
console.log('scrape: median', sorted[sorted.length >> 1].toFixed(2), 'ms, fastest', sorted[0].toFixed(2), 'ms');
collector.close();
await server?.close();
`;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'collector-memory-'));
try {
  for (let w = 0; w < workers; w++) {
    execFileSync(process.execPath, ['--input-type=module', '-e', `
      const lib = await import(${JSON.stringify(path.join(core, 'index.js'))});
      const { runWorkload } = await import(${JSON.stringify(path.join(root, 'bench/workload.mjs'))});
      runWorkload(lib, ${series}, ${w}, []);`], { env: { ...process.env, PROMETHEUS_MULTIPROC_DIR: dir }, stdio: ['ignore', 'ignore', 'inherit'] });
  }
  console.log(`${workers} x ${series}, ${served ? 'served (HTTP, gzip)' : 'scrapeWith(text)'}, collector (${nodeArgs.join(' ')}) from ${path.relative(root, collectorCore)}`);
  const run = spawnSync(process.execPath, [...nodeArgs, '--expose-gc', '--input-type=module', '-e', child], {
    env: { ...process.env, BENCH_DIR: dir, PROMETHEUS_MULTIPROC_DIR: '' }, stdio: 'inherit', timeout: 300_000,
  });
  if (run.status !== 0) throw new Error(`the collector process failed (${run.status ?? run.signal})`);
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}

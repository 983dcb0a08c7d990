// Entry point of `pnpm bench`: runs each benchmark in a fresh node process (so one
// benchmark's JIT state and heap never colour another's), then folds their results into
// one summary, bench/results/latest.json, and a chart, bench/results/latest.svg.
//
//   node --expose-gc bench/run.mjs [--quick] [hotpath] [scrape] [churn] [alloc] [syscalls]
//
// Without names it runs the suite, `hotpath`, `scrape` (which also measures memory) and
// `churn`, and writes latest.json and latest.svg. With names it runs only those and writes
// no summary. --quick runs a reduced suite (~45 s on a 2-core machine) whose files all go
// to bench/results/tmp/ (git-ignored): tmp/latest.json (the same shape) and tmp/latest.svg,
// so a quick run never replaces the committed full results.
//
// Full suite: hotpath.mjs (21 rounds of 25 ms per case), scrape.mjs (workers 1,2,4,8 ×
// series 1,000 and 10,000), churn.mjs (1,000 restarts, uncompacted curve 0..1,000),
// secure.mjs (scrapes/s over HTTP, HTTPS, HTTPS + basic auth; 3 s per case, quick 1 s).
// Quick: hotpath.mjs --quick (5 rounds of 4 ms), scrape.mjs --quick with the cells 1 × 1,000,
// 8 × 1,000 and 8 × 10,000 (fewer rounds), churn.mjs --quick --restarts 1000 --uncompacted 0
// (still 1,000 restarts, fewer timed scrapes, no uncompacted curve).
// alloc writes bench/results/alloc.json (quick: bench/results/tmp/alloc.json).
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderChart } from './chart.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const resultsDir = path.join(here, 'results', quick ? 'tmp' : '');
const out = (name) => path.join(resultsDir, `${name}.json`);

const BENCHES = {
  hotpath: { file: 'hotpath.mjs', flags: ['--expose-gc'], fullArgs: ['--out', out('hotpath')], quickArgs: ['--quick', '--out', out('hotpath')] },
  alloc: {
    file: 'alloc.mjs',
    flags: ['--expose-gc'],
    fullArgs: ['--json', out('alloc')],
    quickArgs: ['--ops', '1000000', '--json', out('alloc')],
  },
  syscalls: { file: 'syscalls.mjs', flags: [], fullArgs: [], quickArgs: ['--ops', '1000000'] },
  // Also the memory figures: both serving processes' RSS, the workers' heap and our files.
  scrape: { file: 'scrape.mjs', flags: [], fullArgs: ['--out', out('scrape')], quickArgs: ['--quick', '--cells', '1x1000,8x1000,8x10000', '--out', out('scrape')] },
  // Quick keeps the 1,000 restarts (the figure the target is about) and drops the uncompacted curve.
  churn: { file: 'churn.mjs', flags: [], fullArgs: ['--out', out('churn')], quickArgs: ['--quick', '--restarts', '1000', '--uncompacted', '0', '--out', out('churn')] },
  // Scrapes per second over HTTP, HTTPS and HTTPS with basic auth: no target, no peer.
  secure: { file: 'secure.mjs', flags: [], fullArgs: ['--out', out('secure')], quickArgs: ['--quick', '--out', out('secure')] },
};
const SUITE = ['hotpath', 'scrape', 'churn', 'secure'];

const unknown = args.filter((a) => a.startsWith('-') && a !== '--quick');
const names = args.filter((a) => !a.startsWith('-'));
const bad = names.filter((n) => !(n in BENCHES));
if (unknown.length || bad.length) {
  console.error(`unknown ${[...unknown, ...bad].join(', ')}; usage: run.mjs [--quick] [${Object.keys(BENCHES).join('] [')}]`);
  process.exit(2);
}
const suite = names.length === 0;

const started = new Date();
const loadStart = os.loadavg();
const stages = {};
let failed = false;
for (const name of suite ? SUITE : names) {
  const bench = BENCHES[name];
  const benchArgs = quick ? bench.quickArgs : bench.fullArgs;
  const t0 = process.hrtime.bigint();
  const child = spawnSync(process.execPath, [...bench.flags, path.join(here, bench.file), ...benchArgs], { stdio: 'inherit' });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  stages[name] = { seconds: round(seconds, 1), args: benchArgs.map((a) => (a.startsWith('/') ? path.relative(path.join(here, '..'), a) : a)) };
  if (child.status !== 0) {
    console.error(`bench ${name} failed (${child.error?.message ?? `exit ${child.status ?? child.signal}`})`);
    failed = true;
  }
  console.log(`[${name}: ${seconds.toFixed(1)} s]\n`);
}

if (suite && failed) {
  console.error('a benchmark failed: no summary written (latest.json would mix this run with an older one)');
} else if (suite) {
  const latest = summarise();
  fs.mkdirSync(resultsDir, { recursive: true });
  const jsonFile = path.join(resultsDir, 'latest.json');
  const svgFile = path.join(resultsDir, 'latest.svg');
  fs.writeFileSync(jsonFile, JSON.stringify(latest, null, 2) + '\n');
  fs.writeFileSync(svgFile, renderChart(latest));
  printSummary(latest);
  console.log(`\nwrote ${path.relative(process.cwd(), jsonFile)} and ${path.relative(process.cwd(), svgFile)} (${latest.run.seconds} s)`);
}
process.exitCode = failed ? 1 : 0;

// ---------------------------------------------------------------- summary
function round(x, digits = 2) {
  return Number(x.toFixed(digits));
}

function readResult(name) {
  const file = out(name);
  const stat = fs.statSync(file);
  // Each script writes its file at its end: one older than this run is not this run's.
  if (stat.mtimeMs < started.getTime()) throw new Error(`${file} was not written by this run`);
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

function machine() {
  let cpuinfo = '';
  try {
    cpuinfo = fs.readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    // not Linux
  }
  const cpus = os.cpus();
  return {
    node: process.version,
    v8: process.versions.v8,
    os: `${os.type()} ${os.release()}`,
    arch: os.arch(),
    cpu: cpus[0]?.model ?? /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? 'unknown',
    cpu_mhz: cpus[0]?.speed || Number(/^cpu MHz\s*:\s*([\d.]+)/m.exec(cpuinfo)?.[1]) || undefined,
    cores: os.availableParallelism?.() ?? cpus.length,
    memory_gib: round(os.totalmem() / 2 ** 30, 1),
    virtual_machine: /^flags\s*:.*\bhypervisor\b/m.test(cpuinfo),
    // 1/5/15-minute load averages: other work on the machine slows both sides of a ratio.
    loadavg_start: loadStart.map((x) => round(x)),
    loadavg_end: os.loadavg().map((x) => round(x)),
  };
}

function versions() {
  const pkg = (p) => JSON.parse(fs.readFileSync(p, 'utf8')).version;
  const git = (...a) => {
    try {
      return execFileSync('git', a, { cwd: here, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return undefined;
    }
  };
  const require = (p) => path.join(here, '..', p);
  return {
    'prom-client': pkg(require('node_modules/prom-client/package.json')),
    '@prom-multiproc/core': pkg(require('packages/core/package.json')),
    git_commit: git('rev-parse', '--short=12', 'HEAD'),
    // Uncommitted changes to the code measured or to the benchmarks at the time of the run.
    git_dirty: Boolean(git('status', '--porcelain', '--', 'packages/core/src', 'bench/*.mjs')),
  };
}

function summarise() {
  const hot = readResult('hotpath');
  const scrape = readResult('scrape');
  const churnResult = readResult('churn');
  const secure = readResult('secure');

  const hotpath = hot.hotpath.map((r) => ({ case: r.case, ours_ns: r.ours_ns, promclient_ns: r.promclient_ns, ratio: r.ratio, target_met: r.target_met, ...(r.note ? { note: r.note } : {}), ...(r.fallback ? { fallback: r.fallback } : {}), ...(r.isolated ? { isolated: r.isolated, target_met_in_every_setup: r.target_met_in_every_setup } : {}) }));
  const headlineCell = (r) => r.workers === 8 && r.series === 10000;
  const scrapeRows = scrape.scrape.map((r) => ({
    workers: r.workers,
    series: r.series,
    ours_ms: r.ours_ms,
    ours_merge_ms: r.ours_merge_ms,
    ours_render_ms: r.ours_render_ms,
    aggregator_ms: r.aggregator_ms,
    ratio: r.ratio,
    samples: r.samples,
    // First scrapes: the median of fresh processes per side (scrape.mjs --first-samples), and each of them.
    ours_first_ms: r.ours_cold_ms,
    aggregator_first_ms: r.aggregator_first_ms,
    ours_first_ms_samples: r.ours_cold_ms_samples,
    aggregator_first_ms_samples: r.aggregator_first_ms_samples,
    ours_ms_range: r.ours_ms_range,
    aggregator_ms_range: r.aggregator_ms_range,
    first_ratio: round(r.aggregator_first_ms / r.ours_cold_ms),
    bytes_read: r.ours_bytes_read,
    value_bytes: r.value_bytes,
    bytes_read_per_value_byte: r.bytes_read_per_value_byte,
    after_new_series_ms: r.ours_after_new_series_ms,
    after_new_file_ms: r.ours_after_new_file_ms,
    new_series_vs_steady: r.new_series_vs_steady,
    new_file_vs_steady: r.new_file_vs_steady,
    after_shuffled_file_ms: r.ours_after_shuffled_file_ms,
    shuffled_file_vs_steady: r.shuffled_file_vs_steady,
    ...(headlineCell(r) ? { target_ratio: scrape.target.ratio, target_met: r.ratio >= scrape.target.ratio } : {}),
  }));
  const c = churnResult.churn;
  const uncompactedMax = churnResult.uncompacted.filter((u) => !u.skipped && u.dead_processes > 0).at(-1);
  const churn = {
    restarts: c.restarts,
    fresh_ms: c.fresh_ms,
    after_ms: c.after_ms,
    ratio: c.ratio,
    target_ratio: c.target_ratio,
    // churn.mjs asks both the wall-clock and the CPU-time ratio to be within the target.
    target_met: c.target_met,
    fresh_cpu_ms: c.fresh_cpu_ms,
    after_cpu_ms: c.after_cpu_ms,
    cpu_ratio: c.cpu_ratio,
    live_workers: churnResult.workload.live_workers,
    series_per_worker: churnResult.workload.series_per_worker,
    dead_processes: churnResult.workload.dead_processes,
    files_fresh: c.files_fresh,
    files_after: c.files_after,
    bytes_read_fresh: c.bytes_read_fresh,
    bytes_read_after: c.bytes_read_after,
    ...(uncompactedMax ? { uncompacted: { dead_processes: uncompactedMax.dead_processes, ms: uncompactedMax.ms, files: uncompactedMax.files, what: "the same dead processes' files left in place, not compacted (Python prometheus_client's behaviour)" } } : {}),
  };
  const m = scrape.scrape.find(headlineCell) ?? scrape.scrape.at(-1);
  const memory = {
    workers: m.workers,
    series: m.series,
    // The process that serves /metrics: our collector vs prom-client's cluster primary.
    collector_peak_rss_mb: m.ours_peak_rss_mb,
    aggregator_peak_rss_mb: m.aggregator_peak_rss_mb,
    peak_rss_ratio: round(m.aggregator_peak_rss_mb / m.ours_peak_rss_mb),
    collector_rss_mb: m.ours_rss_mb,
    aggregator_rss_mb: m.aggregator_rss_mb,
    rss_ratio: round(m.aggregator_rss_mb / m.ours_rss_mb),
    collector_rss_ready_mb: m.ours_rss_ready_mb,
    aggregator_rss_ready_mb: m.aggregator_rss_ready_mb,
    collector_heap_used_mb: m.ours_heap_used_mb,
    aggregator_heap_used_mb: m.aggregator_heap_used_mb,
    // One worker holding `series` series (median over the workers).
    ours_worker_rss_mb: m.ours_worker_rss_mb,
    promclient_worker_rss_mb: m.promclient_worker_rss_mb,
    worker_rss_ratio: round(m.promclient_worker_rss_mb / m.ours_worker_rss_mb),
    // The same right after creating the series, before any forced GC (the figures above are after one).
    ours_worker_rss_no_gc_mb: m.ours_worker_rss_no_gc_mb,
    promclient_worker_rss_no_gc_mb: m.promclient_worker_rss_no_gc_mb,
    worker_rss_no_gc_ratio: round(m.promclient_worker_rss_no_gc_mb / m.ours_worker_rss_no_gc_mb),
    // Of each worker's RSS: mapped file pages (ours: its metrics files' pages, and Node's binary as on both sides) and anonymous memory.
    ours_worker_rss_file_mb: m.ours_worker_rss_file_mb,
    promclient_worker_rss_file_mb: m.promclient_worker_rss_file_mb,
    ours_worker_rss_anon_mb: m.ours_worker_rss_anon_mb,
    promclient_worker_rss_anon_mb: m.promclient_worker_rss_anon_mb,
    worker_heap_per_series_ratio: round(m.promclient_worker_heap_bytes_per_series / m.ours_worker_heap_bytes_per_series),
    ours_worker_heap_bytes_per_series: m.ours_worker_heap_bytes_per_series,
    promclient_worker_heap_bytes_per_series: m.promclient_worker_heap_bytes_per_series,
    // Our metrics files, per series: size on disk and bytes in use. No peer has files;
    // compared with prom-client's worker heap per series below, as (our heap + file used).
    file_bytes_per_series: m.file_bytes_per_series,
    file_used_bytes_per_series: m.file_used_bytes_per_series,
    per_series_ratio: round(m.promclient_worker_heap_bytes_per_series / (m.ours_worker_heap_bytes_per_series + m.file_used_bytes_per_series), 3),
    grid: scrape.scrape.map((r) => ({ workers: r.workers, series: r.series, collector_peak_rss_mb: r.ours_peak_rss_mb, aggregator_peak_rss_mb: r.aggregator_peak_rss_mb })),
  };

  const targets = [
    ...hotpath.map((r) => ({ what: `hot path: ${r.case}`, target: '≥ 2× prom-client', value: `${r.ratio}×`, met: r.target_met, ...(r.isolated || r.fallback ? { also: [...(r.fallback ? [`fallback storage: ${r.fallback.ratio}×`] : []), ...(r.isolated ?? []).map((x) => `alone in a process (${x.setup}): ${x.ratio}× (${x.target_met ? 'met' : 'missed'})`)].join('; ') } : {}) })),
    ...scrapeRows.filter((r) => r.target_ratio).map((r) => ({ what: `scrape ${r.workers} workers × ${r.series} series`, target: `≥ ${r.target_ratio}× AggregatorRegistry`, value: `${r.ratio}×`, met: r.target_met })),
    { what: `churn: scrape after ${churn.restarts} restarts / fresh`, target: `≤ ${churn.target_ratio}`, value: `${churn.ratio} (CPU ${churn.cpu_ratio})`, met: churn.target_met },
    // Issue 15: lean workers and a collector close to the limit.
    ...issue15Targets(scrapeRows, memory),
  ];

  const finished = new Date();
  return {
    machine: machine(),
    hotpath,
    scrape: scrapeRows,
    churn,
    memory,
    // No target: what TLS and basic auth cost a scrape of `prom-multiproc serve`.
    secure: { series: secure.series, tls: secure.tls, bcrypt_cost: secure.bcrypt_cost, rows: secure.secure },
    targets,
    hotpath_context: hot.context,
    hotpath_baseline_ns: hot.baseline_ns,
    versions: versions(),
    run: {
      mode: quick ? 'quick' : 'full',
      command: quick ? 'pnpm bench --quick' : 'pnpm bench',
      started: started.toISOString(),
      seconds: round((finished - started) / 1000, 1),
      stages,
      details: Object.fromEntries(SUITE.map((n) => [n, path.relative(path.join(here, '..'), out(n))])),
      load_during: { scrape_start: scrape.loadavg_start, scrape_end: scrape.loadavg_end, churn: churnResult.loadavg },
    },
  };
}

function printSummary(latest) {
  console.log(`summary (${latest.run.mode}; ${latest.machine.cpu}, ${latest.machine.cores} cores, Node ${latest.machine.node}):`);
  for (const t of latest.targets) {
    console.log(`  ${t.met ? 'met   ' : 'MISSED'}  ${t.what}: ${t.value} (target ${t.target})${t.also ? `; ${t.also}` : ''}`);
  }
  const mem = latest.memory;
  console.log(
    `  memory at ${mem.workers} × ${mem.series}: serving process peak RSS ours ${mem.collector_peak_rss_mb} MB vs AggregatorRegistry primary ${mem.aggregator_peak_rss_mb} MB (${mem.peak_rss_ratio}×); ` +
      `worker RSS ours ${mem.ours_worker_rss_mb} MB vs prom-client ${mem.promclient_worker_rss_mb} MB; ` +
      `per series: ours heap ${mem.ours_worker_heap_bytes_per_series} B + file ${mem.file_used_bytes_per_series} B used (${mem.file_bytes_per_series} B on disk) vs prom-client heap ${mem.promclient_worker_heap_bytes_per_series} B`,
  );
  console.log(`  scrapes/s of serve (${latest.secure.series} series, no target): ${latest.secure.rows.map((r) => `${r.setup} ${r.connection} ${r.scrapes_per_second}`).join('; ')}`);
}

/** The targets of issue 15, from the scrape cells measured (the 8 × 10,000 and 1 × 1,000 ones when present). */
function issue15Targets(rows, memory) {
  const cell = (w, n) => rows.find((r) => r.workers === w && r.series === n);
  const big = cell(8, 10000);
  const small = cell(1, 1000);
  const out = [
    { what: `one worker, RSS at ${memory.series} series (after a forced GC)`, target: '≤ prom-client', value: `${memory.ours_worker_rss_mb} vs ${memory.promclient_worker_rss_mb} MB`, met: memory.ours_worker_rss_mb <= memory.promclient_worker_rss_mb },
    { what: `one worker, RSS at ${memory.series} series (no forced GC)`, target: '≤ prom-client', value: `${memory.ours_worker_rss_no_gc_mb} vs ${memory.promclient_worker_rss_no_gc_mb} MB`, met: memory.ours_worker_rss_no_gc_mb <= memory.promclient_worker_rss_no_gc_mb },
    { what: 'one worker, heap per series', target: '≤ prom-client', value: `${memory.ours_worker_heap_bytes_per_series} vs ${memory.promclient_worker_heap_bytes_per_series} B`, met: memory.ours_worker_heap_bytes_per_series <= memory.promclient_worker_heap_bytes_per_series },
    { what: `collector peak RSS at ${memory.workers} × ${memory.series}`, target: '≤ 150 MB', value: `${memory.collector_peak_rss_mb} MB`, met: memory.workers === 8 && memory.series === 10000 ? memory.collector_peak_rss_mb <= 150 : null },
  ];
  if (big) {
    out.push(
      { what: 'steady scrape 8 × 10,000', target: '≥ 150× AggregatorRegistry', value: `${big.ratio}×`, met: big.ratio >= 150, also: `reads ${big.bytes_read_per_value_byte}× the bytes of the values` },
      { what: 'first scrape 8 × 10,000', target: '≥ 5× AggregatorRegistry', value: `${big.first_ratio}× (${big.ours_first_ms} vs ${big.aggregator_first_ms} ms, medians of ${big.ours_first_ms_samples.length} fresh processes)`, met: big.first_ratio >= 5 },
      { what: 'scrape after one new series, 8 × 10,000', target: '≤ 3× steady', value: `${big.new_series_vs_steady}×`, met: big.new_series_vs_steady <= 3 },
      { what: "scrape after a new worker's files, 8 × 10,000", target: '≤ 3× steady', value: `${big.new_file_vs_steady}×`, met: big.new_file_vs_steady <= 3, also: `${big.shuffled_file_vs_steady}× with the series in another order` },
    );
  }
  if (small) out.push({ what: 'first scrape 1 × 1,000', target: '≥ 1× AggregatorRegistry', value: `${small.first_ratio}× (${small.ours_first_ms} vs ${small.aggregator_first_ms} ms, medians of ${small.ours_first_ms_samples.length} fresh processes)`, met: small.first_ratio >= 1 });
  return out;
}

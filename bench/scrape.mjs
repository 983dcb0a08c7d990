// Scrape benchmark: the cost of one full scrape of W worker processes × S series each,
// ours (a Collector merging the workers' files) against prom-client 15's
// AggregatorRegistry (a node:cluster primary asking its workers over IPC), in one run.
//
//   node bench/scrape.mjs [--quick] [--out <file>] [--workers 1,2,4,8] [--series 1000,10000]
//                         [--cells 1x1000,8x10000] [--changing 0.1] [--first-samples 3]
//
// --quick: workers 1 and 8 only, fewer repeated scrapes (~30 s), written to
// bench/results/tmp/scrape.json instead of the committed bench/results/scrape.json.
//
// Both sides run the same workload: every worker holds the SAME S series (as the workers
// of a real cluster app do): S/2 labeled counter series and S/2 labeled histogram series
// with the default buckets, spread over 10 counter and 10 histogram metrics, each series
// updated a few times with the same deterministic values on both sides.
//
// Ours: W real child processes with PROMETHEUS_MULTIPROC_DIR set write through
// `@prom-multiproc/core`'s Counter/Histogram, report ready and stay alive, idle. One more
// child process, the collector, times a text scrape of one `new Collector({directory})`
// up to the exposition's bytes (`scrapeWith`, what the server compresses and sends)
// whenever this process asks: its first scrape (cold: every entry parsed) separately, then
// repeated scrapes (steady state), each also split into merge and render as the collector
// timed them (`lastMergeSeconds`, `lastRenderSeconds`).
//
// prom-client: a child process is a node:cluster primary with W real workers, each
// holding the same S series in prom-client's global registry; on request it times one
// `AggregatorRegistry#clusterMetrics()` (workers serialise their registries, send them
// over IPC, the primary aggregates and renders) and reports the time.
//
// Memory: the serving process of each side (our collector process, prom-client's cluster
// primary) reports its RSS when ready (before its first scrape), after the repeated
// scrapes, and its peak RSS (getrusage maxrss). Every worker reports its heap growth
// from creating and updating its S series (heapUsed after a full GC, before and after)
// and its RSS; ours also leave their files, whose size and used bytes are read here.
//
// Both sets of workers are alive at once, and the repeated scrapes come in rounds: one
// clusterMetrics() and 3 scrapes of ours, the order alternating, so both sides see the
// same load from the rest of the machine. Reported: the median of each side's repeated
// scrapes (and their range), the first scrape of each separately.
//
// First scrapes (--first-samples N, default 3, 1 with --quick): besides the first scrape of
// the serving processes above, N-1 more fresh serving processes per side each time one
// first scrape, the order alternating (ours: a new collector process over the same
// directory; prom-client: a new cluster primary with W new workers holding the same
// series, since their first serialisation is part of its first clusterMetrics()). The
// figure is the median of the N per side; all N are in the results.
//
// Changing values (--changing SHARE, default 0.1; 0 skips it): the workers are idle
// between the rounds above, so nothing changes between two steady scrapes. Then more
// rounds where, before each scrape of either side, every worker of both sides updates the
// same SHARE of its series (updateWorkload: the same series in every worker, counters +1,
// histograms one observation), untimed; the scrapes are timed as above.
//
// Guard: both expositions are parsed and must hold the same samples with the same values
// (relative 1e-9: float sums may be added in another order), else the run fails.
//
// Every child is killed by pid when its cell is done, on failure and on exit; every
// temp dir is removed; the whole run is bounded in time.
import { fork } from 'node:child_process';
import cluster from 'node:cluster';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { METRICS_PER_TYPE, OBSERVED, runWorkload, seriesLabels, updateWorkload, withSeriesShuffled } from './workload.mjs';

const thisFile = fileURLToPath(import.meta.url);
const here = path.dirname(thisFile);
// Node flags of our collector process: those of the PM2 module (package.json `apps`
// node_args: a small young generation, one V8 helper thread, a 64 MB first old-generation
// limit). `prom-multiproc serve` keeps
// the young generation small itself (bin/prom-multiproc.js); a collector in an app's own
// process (the cluster primary) runs with the app's flags (docs/collector.md, "Memory").
const COLLECTOR_EXEC_ARGV = JSON.parse(fs.readFileSync(path.join(here, '../packages/pm2-module/package.json'), 'utf8')).apps[0].node_args;
const args = process.argv.slice(2);
const argValue = (name) => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : undefined;
};

// ---------------------------------------------------------------- workload: workload.mjs

// ---------------------------------------------------------------- roles
/** The workload's metric objects, kept for the life of the worker. */
let keptMetrics;
const role = argValue('--role') ?? (cluster.isWorker ? process.env.SCRAPE_BENCH_ROLE : undefined);
if (role === 'ours-worker') await oursWorker();
else if (role === 'ours-collector') await oursCollector();
else if (role === 'aggregator-primary') await aggregatorPrimary();
else if (role === 'aggregator-worker') await aggregatorWorker();
else await orchestrate();

/** This process's memory, bytes: now, and its peak RSS so far. */
function memory() {
  const m = process.memoryUsage();
  return { rss: m.rss, heap_used: m.heapUsed, external: m.external, array_buffers: m.arrayBuffers, peak_rss: process.resourceUsage().maxRSS * 1024, rss_file: fileRss(), ...rollup() };
}

/**
 * PSS (shared pages divided among the processes mapping them) and the anonymous part of
 * RSS (the process's own memory: heap, array buffers, stacks), bytes; 0 elsewhere than Linux.
 */
function rollup() {
  try {
    const text = fs.readFileSync('/proc/self/smaps_rollup', 'utf8');
    const kb = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
    return { pss: kb('Pss') * 1024, rss_anon: kb('Anonymous') * 1024 };
  } catch {
    return { pss: 0, rss_anon: 0 };
  }
}

/**
 * The part of RSS that is mapped file pages (Linux: RssFile + RssShmem), bytes; 0 elsewhere.
 * Our collector maps the workers' files read-only: their pages count in its RSS, but they
 * are the page cache the workers' own mappings use, not memory of the collector's own.
 */
function fileRss() {
  try {
    const status = fs.readFileSync('/proc/self/status', 'utf8');
    const kb = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
    return (kb('RssFile') + kb('RssShmem')) * 1024;
  } catch {
    return 0;
  }
}

/**
 * Runs the workload and measures what it added to the heap: heapUsed after a full GC
 * before and after (workers run with --expose-gc). Returns the growth in bytes.
 */
function workloadHeapGrowth(run) {
  globalThis.gc?.();
  const before = process.memoryUsage().heapUsed;
  // The metric objects stay referenced, as an app's do: their series caches count.
  keptMetrics = run();
  // RSS as an app has it: after growth, before any forced GC (a grown-away file mapping
  // still held here would show).
  const rssNoGc = process.memoryUsage().rss;
  globalThis.gc?.();
  return { growth: process.memoryUsage().heapUsed - before, rssNoGc };
}

/** A worker of ours: PROMETHEUS_MULTIPROC_DIR is set by the parent, so every update goes to its files. */
async function oursWorker() {
  const lib = await import('@prom-multiproc/core');
  const heap = workloadHeapGrowth(() => runWorkload(lib, Number(argValue('--series')), Number(argValue('--index')), []));
  process.send({ type: 'ready', heap_growth: heap.growth, rss_no_gc: heap.rssNoGc, memory: memory() });
  // On request, one new series in an existing family (the re-plan case): a new child of
  // app_requests_0_total, as an app meets a new route.
  let added = 0;
  process.on('message', (message) => {
    if (message?.type === 'update') {
      updateWorkload(keptMetrics, Number(argValue('--series')), message.tick, message.share);
      process.send({ type: 'updated' });
      return;
    }
    if (message?.type !== 'add-series') return;
    const counter = new lib.Counter({ name: 'app_requests_0_total', help: 'Requests handled by handler 0.', labelNames: ['method', 'route', 'status'], registers: [] });
    counter.inc(seriesLabels(1_000_000 + added++));
    process.send({ type: 'added' });
  });
  // Stay alive, idle, until killed (or the parent goes away).
  process.on('disconnect', () => process.exit(0));
}

async function aggregatorWorker() {
  const promClient = (await import('prom-client')).default;
  const heap = workloadHeapGrowth(() => runWorkload(promClient, Number(process.env.SCRAPE_BENCH_SERIES), Number(process.env.SCRAPE_BENCH_INDEX), undefined));
  // Constructing an AggregatorRegistry installs the worker's listener for the primary's
  // requests (prom-client's own cluster example does this in every process).
  new promClient.AggregatorRegistry();
  process.on('message', (message) => {
    if (message?.type !== 'bench:update') return;
    updateWorkload(keptMetrics, Number(process.env.SCRAPE_BENCH_SERIES), message.tick, message.share);
    process.send({ type: 'bench:updated' });
  });
  process.send({ type: 'bench:ready', heap_growth: heap.growth, rss_no_gc: heap.rssNoGc, memory: memory() });
}

/** Our collector, in a process of its own (as the aggregator's primary is): times one scrape whenever the parent asks. */
async function oursCollector() {
  const { Collector } = await import('@prom-multiproc/core');
  const collector = new Collector({ directory: argValue('--dir'), log: () => {} });
  process.on('message', async (message) => {
    if (message.type === 'memory') process.send({ type: 'memory', memory: memory() });
    if (message.type !== 'scrape') return;
    const started = process.hrtime.bigint();
    // Up to the exposition's bytes, as the server gets them to compress (scrapeWith: no copy),
    // and as the primary's time stops at its body: before the body is written anywhere.
    // A body asked for goes to a file, straight from the renderer's bytes: sent over IPC it
    // was an 8 MB string, JSON-encoded, and a write buffer (~24 MB at 75,000 samples) in
    // this process's peak RSS, which a collector does not pay.
    let ms = 0;
    await collector.scrapeWith('text', ({ bytes }) => {
      ms = Number(process.hrtime.bigint() - started) / 1e6;
      if (message.bodyFile) fs.writeFileSync(message.bodyFile, bytes);
    });
    // The two parts of that scrape, as the collector timed them: merge (collect()) and render.
    const split = { mergeMs: collector.lastMergeSeconds * 1e3, renderMs: collector.lastRenderSeconds * 1e3 };
    process.send({ type: 'scraped', ms, ...split });
  });
  process.send({ type: 'ready', memory: memory() });
  process.on('disconnect', () => process.exit(0));
}

/** A node:cluster primary with W workers: times clusterMetrics() whenever the parent asks. */
async function aggregatorPrimary() {
  const promClient = (await import('prom-client')).default;
  const workers = Number(argValue('--workers'));
  const series = Number(argValue('--series'));
  const registry = new promClient.AggregatorRegistry();
  cluster.setupPrimary({ exec: thisFile, args: [], silent: false, execArgv: [...process.execArgv, '--expose-gc'] });
  const workerReports = [];
  const allReady = new Promise((resolve) => {
    cluster.on('message', (_worker, message) => {
      if (message?.type === 'bench:ready' && workerReports.push({ heap_growth: message.heap_growth, rss_no_gc: message.rss_no_gc, memory: message.memory }) === workers) resolve();
    });
  });
  const pids = [];
  const forked = [];
  let updatesPending = 0;
  cluster.on('message', (_worker, message) => {
    if (message?.type === 'bench:updated' && --updatesPending === 0) process.send({ type: 'updated' });
  });
  for (let w = 0; w < workers; w++) {
    const worker = cluster.fork({ SCRAPE_BENCH_ROLE: 'aggregator-worker', SCRAPE_BENCH_SERIES: String(series), SCRAPE_BENCH_INDEX: String(w) });
    pids.push(worker.process.pid);
    forked.push(worker);
  }
  process.send({ type: 'pids', pids });
  await allReady;
  process.on('message', async (message) => {
    if (message.type === 'memory') process.send({ type: 'memory', memory: memory() });
    if (message.type === 'update') {
      updatesPending = forked.length;
      for (const worker of forked) worker.send({ type: 'bench:update', tick: message.tick, share: message.share });
    }
    if (message.type !== 'scrape') return;
    const started = process.hrtime.bigint();
    const body = await registry.clusterMetrics();
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    if (message.bodyFile) fs.writeFileSync(message.bodyFile, body);
    process.send({ type: 'scraped', ms });
  });
  process.send({ type: 'ready', memory: memory(), workers: workerReports });
  // The parent kills this process and its workers by pid.
  process.on('disconnect', () => process.exit(0));
}

// ---------------------------------------------------------------- orchestrator
async function orchestrate() {
  const quick = args.includes('--quick');
  const list = (name, fallback) => (argValue(name) ?? fallback).split(',').map(Number);
  const workerCounts = list('--workers', quick ? '1,8' : '1,2,4,8');
  const seriesCounts = list('--series', '1000,10000');
  // --cells 1x1000,8x10000: exactly these cells instead of the grid (workers × series).
  const cells = argValue('--cells')
    ? argValue('--cells').split(',').map((c) => c.split('x').map(Number))
    : seriesCounts.flatMap((series) => workerCounts.map((workers) => [workers, series]));
  if (cells.some(([w, s]) => !(w > 0 && s > 0))) throw new Error(`--cells wants WxS,WxS..., not ${argValue('--cells')}`);
  const outFile = argValue('--out') ? path.resolve(argValue('--out')) : path.join(here, 'results', quick ? 'tmp' : '', 'scrape.json');
  // Repeated scrapes come in rounds: one AggregatorRegistry scrape and OURS_PER_ROUND of
  // ours, the order alternating, so both sides see the same load from the rest of the machine.
  const ROUNDS = quick ? 3 : 10;
  const OURS_PER_ROUND = 3;
  const BUDGET_MS = quick ? 4_000 : 40_000; // per cell, for the repeated scrapes (at least 3 rounds)
  const STEP_TIMEOUT_MS = quick ? 30_000 : 180_000; // workers getting ready, one side's scrapes
  const RUN_TIMEOUT_MS = quick ? 120_000 : 25 * 60_000; // quick takes ~30 s; this only bounds a stuck run
  const TARGET_RATIO = 20;
  // Share of each worker's series updated before every scrape of the changing rounds (0: none).
  const CHANGING = Number(argValue('--changing') ?? 0.1);
  const CHANGING_ROUNDS = quick ? 3 : 4;
  // Rounds of each re-plan case (a new series, a new worker's files, the same in another
  // order) per cell: the figure is their median (3 moved it by up to 30% between runs).
  const REPLAN_ROUNDS = quick ? 3 : 5;
  // First scrapes measured per cell and side, each in a fresh process: the figure is their median.
  const FIRST_SAMPLES = Number(argValue('--first-samples') ?? (quick ? 1 : 3));
  if (!(Number.isInteger(FIRST_SAMPLES) && FIRST_SAMPLES >= 1)) throw new Error(`--first-samples wants a whole number >= 1, not ${argValue('--first-samples')}`);
  if (!(CHANGING >= 0 && CHANGING <= 1)) throw new Error(`--changing wants a share of series between 0 and 1, not ${argValue('--changing')}`);

  const loadAtStart = os.loadavg().map((x) => round(x, 2));

  // Everything started, killed by pid on the way out whatever happens.
  const children = new Set();
  const tempDirs = new Set();
  // Where the serving children write the expositions asked for (see oursCollector).
  const bodyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'prom-multiproc-scrape-bodies-'));
  tempDirs.add(bodyDir);
  const killAll = () => {
    for (const pid of children) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    children.clear();
    for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
    tempDirs.clear();
  };
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));
  const runTimer = setTimeout(() => {
    console.error(`scrape bench: run exceeded ${RUN_TIMEOUT_MS / 1000} s, giving up`);
    process.exit(1);
  }, RUN_TIMEOUT_MS);
  runTimer.unref();

  const withTimeout = (promise, ms, what) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000} s`)), ms);
      promise.then((v) => { clearTimeout(timer); resolve(v); }, (e) => { clearTimeout(timer); reject(e); });
    });

  /** Forks a child of this script; rejects if it exits before `until` resolves. */
  const spawnChild = (childArgs, env, execArgv = []) => {
    const child = fork(thisFile, childArgs, { env, execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' });
    children.add(child.pid);
    const exited = new Promise((_, reject) => {
      child.on('exit', (code, signal) => reject(new Error(`child ${child.pid} (${childArgs.join(' ')}) exited early (${code ?? signal})`)));
    });
    exited.catch(() => {});
    return { child, exited };
  };
  const kill = (pid) => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
    children.delete(pid);
  };
  /** Whether `pid` still runs or tears down (Linux; elsewhere false): a zombie or no process is gone. */
  const running = (pid) => {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      return stat[stat.lastIndexOf(')') + 2] !== 'Z';
    } catch {
      return false;
    }
  };
  /**
   * Kills `pids` and waits (up to 10 s) until they are gone: the kernel frees a killed
   * process's memory on its way out (~800 MB for a cluster at 8 × 10,000), and a sample
   * timed meanwhile would share the machine with that, on whichever side came next.
   */
  const killAndWait = async (pids) => {
    for (const pid of pids) kill(pid);
    const deadline = Date.now() + 10_000;
    for (const pid of pids) while (running(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  };
  const median = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };

  /** W workers of ours, ready and idle; resolves to their pids and reports. */
  async function startOurs(dir, workers, series) {
    const env = { ...process.env, PROMETHEUS_MULTIPROC_DIR: dir };
    const pids = [];
    const ready = [];
    const handles = [];
    for (let w = 0; w < workers; w++) {
      const { child, exited } = spawnChild(['--role', 'ours-worker', '--series', String(series), '--index', String(w)], env, ['--expose-gc']);
      pids.push(child.pid);
      handles.push(child);
      ready.push(Promise.race([exited, new Promise((resolve) => child.on('message', (m) => m.type === 'ready' && resolve(m)))]));
    }
    const reports = await withTimeout(Promise.all(ready), STEP_TIMEOUT_MS, `${workers} workers of ours writing ${series} series`);
    /** Every worker updates `share` of its series (updateWorkload); resolves once all did. */
    const update = (tick, share) => withTimeout(Promise.all(handles.map((handle) => {
      const updated = new Promise((resolve) => {
        const onMessage = (m) => {
          if (m.type !== 'updated') return;
          handle.off('message', onMessage);
          resolve();
        };
        handle.on('message', onMessage);
      });
      handle.send({ type: 'update', tick, share });
      return updated;
    })), STEP_TIMEOUT_MS, 'workers updating series');
    /** Worker 0 adds one new series; resolves once it is in the file. */
    const addSeries = () => {
      const added = new Promise((resolve) => handles[0].once('message', (m) => m.type === 'added' && resolve()));
      handles[0].send({ type: 'add-series' });
      return withTimeout(added, STEP_TIMEOUT_MS, 'a worker adding a series');
    };
    return { pids, reports, addSeries, update };
  }

  /**
   * A serving child of this script (our collector, or the aggregator's cluster primary),
   * ready; `scrape()` times one scrape there, `memory()` asks for its memory.
   */
  async function startServer(childArgs, what, pids, execArgv = []) {
    const { child, exited } = spawnChild(childArgs, { ...process.env, PROMETHEUS_MULTIPROC_DIR: '' }, execArgv);
    pids.push(child.pid);
    let answer = null;
    let memoryAnswer = null;
    let updateAnswer = null;
    const ready = new Promise((resolve) => {
      child.on('message', (m) => {
        if (m.type === 'pids') for (const pid of m.pids) { pids.push(pid); children.add(pid); }
        if (m.type === 'ready') resolve(m);
        if (m.type === 'scraped') answer?.(m);
        if (m.type === 'memory') memoryAnswer?.(m.memory);
        if (m.type === 'updated') updateAnswer?.();
      });
    });
    const readyMessage = await withTimeout(Promise.race([exited, ready]), STEP_TIMEOUT_MS, what);
    return {
      ready: readyMessage,
      /** One scrape; with `wantBody`, its exposition too (written by the child to a file, read here). */
      scrape: async (wantBody = false) => {
        const scraped = new Promise((resolve) => { answer = resolve; });
        const bodyFile = wantBody ? path.join(bodyDir, `body-${child.pid}.txt`) : undefined;
        child.send({ type: 'scrape', bodyFile });
        const m = await withTimeout(Promise.race([exited, scraped]), STEP_TIMEOUT_MS, `${what}: scrape`);
        if (!bodyFile) return m;
        const body = fs.readFileSync(bodyFile, 'utf8');
        fs.rmSync(bodyFile);
        return { ...m, body };
      },
      /** The aggregator's workers update `share` of their series; resolves once all did. */
      update: (tick, share) => {
        const updated = new Promise((resolve) => { updateAnswer = resolve; });
        child.send({ type: 'update', tick, share });
        return withTimeout(Promise.race([exited, updated]), STEP_TIMEOUT_MS, `${what}: update`);
      },
      memory: () => {
        const got = new Promise((resolve) => { memoryAnswer = resolve; });
        child.send({ type: 'memory' });
        return withTimeout(Promise.race([exited, got]), STEP_TIMEOUT_MS, `${what}: memory`);
      },
    };
  }

  async function measureCell(workers, series) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'prom-multiproc-scrape-'));
    tempDirs.add(dir);
    const pids = [];
    try {
      const oursWorkers = await startOurs(dir, workers, series);
      pids.push(...oursWorkers.pids);
      const aggregator = await startServer(['--role', 'aggregator-primary', '--workers', String(workers), '--series', String(series)], `AggregatorRegistry with ${workers} workers × ${series} series`, pids);
      // All workers are alive and idle from here on: a scrape of ours reads only their files.
      // Our collector process runs as the PM2 module and `prom-multiproc serve` run it: with the
      // young generation kept small (COLLECTOR_EXEC_ARGV).
      const collector = await startServer(['--role', 'ours-collector', '--dir', dir], `our collector of ${workers} workers × ${series} series`, pids, COLLECTOR_EXEC_ARGV);
      await untilIdle();
      const oursFirst = await collector.scrape(true);
      const memoryFirst = await collector.memory(); // its peak so far: the first scrape's
      await untilIdle();
      const aggregatorFirst = await aggregator.scrape(true);
      // More first scrapes, each of a fresh serving process (a fresh cluster for prom-client:
      // its workers' first serialisation is part of its first clusterMetrics()), the order
      // alternating: one sample of a fresh process moves by up to 2x on a loaded machine.
      const firstMs = { ours: [oursFirst.ms], aggregator: [aggregatorFirst.ms] };
      for (let k = 1; k < FIRST_SAMPLES; k++) {
        const sides = [
          ['aggregator', ['--role', 'aggregator-primary', '--workers', String(workers), '--series', String(series)], []],
          ['ours', ['--role', 'ours-collector', '--dir', dir], COLLECTOR_EXEC_ARGV],
        ];
        if (k % 2 === 0) sides.reverse();
        for (const [side, childArgs, execArgv] of sides) {
          const freshPids = [];
          try {
            const fresh = await startServer(childArgs, `a fresh ${side === 'ours' ? 'collector' : 'AggregatorRegistry cluster'} (first scrape ${k + 1})`, freshPids, execArgv);
            await untilIdle();
            firstMs[side].push((await fresh.scrape()).ms);
          } finally {
            await killAndWait(freshPids);
          }
        }
      }
      const ours = [];
      const oursSplit = { mergeMs: [], renderMs: [] };
      const theirs = [];
      const budgetStart = Date.now();
      for (let round = 0; round < ROUNDS && (round < 3 || Date.now() - budgetStart < BUDGET_MS); round++) {
        if (round % 2 === 1) theirs.push((await aggregator.scrape()).ms);
        for (let i = 0; i < OURS_PER_ROUND; i++) {
          const scraped = await collector.scrape();
          ours.push(scraped.ms);
          oursSplit.mergeMs.push(scraped.mergeMs);
          oursSplit.renderMs.push(scraped.renderMs);
        }
        if (round % 2 === 0) theirs.push((await aggregator.scrape()).ms);
      }
      // Changing values: before every scrape of either side, both sides' workers update the
      // same share of their series (untimed); then the two expositions are compared again.
      const changing = { times: [], mergeMs: [], renderMs: [], theirs: [], oursBody: '', aggregatorBody: '' };
      if (CHANGING > 0) {
        let tick = 0;
        const updateBoth = () => {
          tick++;
          return Promise.all([oursWorkers.update(tick, CHANGING), aggregator.update(tick, CHANGING)]);
        };
        for (let round = 0; round < CHANGING_ROUNDS; round++) {
          if (round % 2 === 1) {
            await updateBoth();
            changing.theirs.push((await aggregator.scrape()).ms);
          }
          for (let i = 0; i < OURS_PER_ROUND; i++) {
            await updateBoth();
            const scraped = await collector.scrape();
            changing.times.push(scraped.ms);
            changing.mergeMs.push(scraped.mergeMs);
            changing.renderMs.push(scraped.renderMs);
          }
          if (round % 2 === 0) {
            await updateBoth();
            changing.theirs.push((await aggregator.scrape()).ms);
          }
        }
        await updateBoth();
        changing.oursBody = (await collector.scrape(true)).body;
        changing.aggregatorBody = (await aggregator.scrape(true)).body;
      }
      // Metrics files only: the directory also holds each writer's liveness socket.
      const files = fs.readdirSync(dir).filter((f) => f.endsWith('.db'));
      let bytes = 0;
      let usedBytes = 0;
      let entries = 0;
      for (const f of files) {
        const image = fs.readFileSync(path.join(dir, f));
        bytes += image.length;
        const used = image.readInt32LE(0); // FORMAT.md: the file starts with int32 `used`
        usedBytes += used;
        // Entries: int32 key length, key, padding to 8, then 16 bytes of value and timestamp.
        for (let pos = 8; pos + 4 <= used; entries++) {
          const keyLength = image.readInt32LE(pos);
          pos += 4 + keyLength + (8 - ((keyLength + 4) % 8)) + 16;
        }
      }
      const memoryAfter = await collector.memory();
      // What one steady scrape reads (the collector's own prom_multiproc_bytes_read).
      const steadyBody = (await collector.scrape(true)).body;
      const bytesRead = Number(/^prom_multiproc_bytes_read (\S+)$/m.exec(steadyBody)?.[1]);
      // Re-plan cases, after every other measurement of the cell: the first scrape after
      // one new series in one worker, and after a new worker's files appear (a copy of
      // worker 0's files under a new id, as a restarted worker writes the same series).
      const replan = { newSeriesMs: [], newFileMs: [], shuffledFileMs: [] };
      for (let i = 0; i < REPLAN_ROUNDS; i++) {
        await oursWorkers.addSeries();
        replan.newSeriesMs.push((await collector.scrape()).ms);
        await collector.scrape();
      }
      const workerZero = String(oursWorkers.pids[0]);
      for (let i = 0; i < REPLAN_ROUNDS; i++) {
        for (const f of files.filter((name) => name.endsWith(`_${workerZero}.db`))) {
          fs.copyFileSync(path.join(dir, f), path.join(dir, f.replace(`_${workerZero}.db`, `_${90_000_000 + i}.db`)));
        }
        replan.newFileMs.push((await collector.scrape()).ms);
        await collector.scrape();
      }
      // Then a new worker that created the same series in another order (worker 0's files
      // with their series shuffled): its keys are known, but not in the order seen last.
      for (let i = 0; i < REPLAN_ROUNDS; i++) {
        for (const f of files.filter((name) => name.endsWith(`_${workerZero}.db`))) {
          const image = withSeriesShuffled(fs.readFileSync(path.join(dir, f)), 1 + i);
          fs.writeFileSync(path.join(dir, f.replace(`_${workerZero}.db`, `_${90_000_100 + i}.db`)), image);
        }
        replan.shuffledFileMs.push((await collector.scrape()).ms);
        await collector.scrape();
      }
      return {
        entries,
        bytesRead,
        replan,
        changing,
        ours: { coldMs: median(firstMs.ours), coldSamples: firstMs.ours, coldRenderMs: oursFirst.renderMs, times: ours, split: oursSplit, body: oursFirst.body, memoryReady: collector.ready.memory, memoryFirst, memoryAfter, workers: oursWorkers.reports },
        aggregator: { coldMs: median(firstMs.aggregator), coldSamples: firstMs.aggregator, times: theirs, body: aggregatorFirst.body, memoryReady: aggregator.ready.memory, memoryAfter: await aggregator.memory(), workers: aggregator.ready.workers },
        files: files.length,
        bytes,
        usedBytes,
      };
    } finally {
      await killAndWait(pids);
      fs.rmSync(dir, { recursive: true, force: true });
      tempDirs.delete(dir);
    }
  }

  // Warm-up: the collector's code is compiled before the first measured cell, so the
  // first cell's cold scrape is not also the JIT's cold start.
  {
    const warm = await measureCell(1, 200);
    if (!warm.ours.body.includes('app_requests_0_total')) throw new Error('warm-up scrape has no samples');
  }

  const rows = [];
  for (const [workers, series] of cells) {
    const { ours, aggregator: agg, files, bytes, usedBytes, entries, bytesRead, replan, changing } = await measureCell(workers, series);
    const check = compareExpositions(ours.body, agg.body);
    if (check) throw new Error(`${workers} workers × ${series} series: the two expositions differ: ${check}`);
    const changingCheck = CHANGING > 0 ? compareExpositions(changing.oursBody, changing.aggregatorBody) : null;
    if (changingCheck) throw new Error(`${workers} workers × ${series} series, values changing: the two expositions differ: ${changingCheck}`);
    if (CHANGING > 0 && changing.oursBody === ours.body) throw new Error(`${workers} workers × ${series} series: the changing rounds changed nothing`);
    const row = {
      workers,
      series,
      samples: countSamples(agg.body),
      ours_ms: round(median(ours.times)),
      // The steady scrape's two parts, medians of the same scrapes: merging the files (collect()), rendering the exposition's bytes.
      ours_merge_ms: round(median(ours.split.mergeMs)),
      ours_render_ms: round(median(ours.split.renderMs)),
      // First scrape of a fresh serving process: median of FIRST_SAMPLES fresh processes per side (all of them in *_samples).
      ours_cold_ms: round(ours.coldMs),
      ours_cold_ms_samples: ours.coldSamples.map((ms) => round(ms)),
      ours_cold_render_ms: round(ours.coldRenderMs),
      aggregator_ms: round(median(agg.times)),
      ratio: round(median(agg.times) / median(ours.times), 1),
      ours_ms_range: [round(Math.min(...ours.times)), round(Math.max(...ours.times))],
      aggregator_ms_range: [round(Math.min(...agg.times)), round(Math.max(...agg.times))],
      aggregator_first_ms: round(agg.coldMs),
      aggregator_first_ms_samples: agg.coldSamples.map((ms) => round(ms)),
      ours_scrapes: ours.times.length,
      aggregator_scrapes: agg.times.length,
      files,
      file_bytes: bytes,
      file_used_bytes: usedBytes,
      // One steady scrape: bytes read from the files, and the bytes of the values (16 per entry) it gathers.
      ours_bytes_read: bytesRead,
      value_bytes: entries * 16,
      bytes_read_per_value_byte: round(bytesRead / (entries * 16), 1),
      // The first scrape after one new series (REPLAN_ROUNDS times), after a new worker's files (as often): median ms, and ÷ the steady median.
      ours_after_new_series_ms: round(median(replan.newSeriesMs)),
      ours_after_new_file_ms: round(median(replan.newFileMs)),
      ours_after_new_series_ms_samples: replan.newSeriesMs.map((ms) => round(ms)),
      ours_after_new_file_ms_samples: replan.newFileMs.map((ms) => round(ms)),
      new_series_vs_steady: round(median(replan.newSeriesMs) / median(ours.times), 1),
      new_file_vs_steady: round(median(replan.newFileMs) / median(ours.times), 1),
      // The same after a new worker's files with the same series in another order (REPLAN_ROUNDS times, after the above).
      ours_after_shuffled_file_ms: round(median(replan.shuffledFileMs)),
      ours_after_shuffled_file_ms_samples: replan.shuffledFileMs.map((ms) => round(ms)),
      shuffled_file_vs_steady: round(median(replan.shuffledFileMs) / median(ours.times), 1),
      // Changing values: the same scrapes with CHANGING of every worker's series updated before each (both sides).
      ...(CHANGING > 0 ? {
        changing_share: CHANGING,
        ours_changing_ms: round(median(changing.times)),
        ours_changing_merge_ms: round(median(changing.mergeMs)),
        ours_changing_render_ms: round(median(changing.renderMs)),
        aggregator_changing_ms: round(median(changing.theirs)),
        changing_ratio: round(median(changing.theirs) / median(changing.times), 1),
      } : {}),
      // Memory, MB (10^6 bytes). Serving process: ours is the collector, prom-client's the cluster primary.
      ours_rss_ready_mb: mb(ours.memoryReady.rss),
      ours_rss_mb: mb(ours.memoryAfter.rss),
      ours_peak_rss_mb: mb(ours.memoryAfter.peak_rss),
      // Of our collector's RSS after the scrapes: mapped file pages (the workers' files, and Node's own binary).
      ours_rss_file_mb: mb(ours.memoryAfter.rss_file),
      // The rest of it after the scrapes: anonymous (the collector's own memory); and its PSS, shared pages divided among their mappers.
      ours_rss_anon_mb: mb(ours.memoryAfter.rss_anon),
      ours_pss_mb: mb(ours.memoryAfter.pss),
      // Peak RSS right after the first scrape (before any file is mapped: the first read parses from read()).
      ours_peak_rss_first_scrape_mb: mb(ours.memoryFirst.peak_rss),
      ours_heap_used_mb: mb(ours.memoryAfter.heap_used),
      aggregator_rss_ready_mb: mb(agg.memoryReady.rss),
      aggregator_rss_mb: mb(agg.memoryAfter.rss),
      aggregator_peak_rss_mb: mb(agg.memoryAfter.peak_rss),
      aggregator_heap_used_mb: mb(agg.memoryAfter.heap_used),
      // Per worker (median over the W workers): heap growth from the workload, per series; RSS when ready.
      ours_worker_heap_bytes_per_series: round(median(ours.workers.map((w) => w.heap_growth)) / series, 1),
      promclient_worker_heap_bytes_per_series: round(median(agg.workers.map((w) => w.heap_growth)) / series, 1),
      ours_worker_rss_mb: mb(median(ours.workers.map((w) => w.memory.rss))),
      promclient_worker_rss_mb: mb(median(agg.workers.map((w) => w.memory.rss))),
      ours_worker_rss_no_gc_mb: mb(median(ours.workers.map((w) => w.rss_no_gc))),
      promclient_worker_rss_no_gc_mb: mb(median(agg.workers.map((w) => w.rss_no_gc))),
      // The same RSS split: mapped file pages (ours: its metrics files' pages, plus Node's binary as on both sides) and anonymous memory.
      ours_worker_rss_file_mb: mb(median(ours.workers.map((w) => w.memory.rss_file))),
      promclient_worker_rss_file_mb: mb(median(agg.workers.map((w) => w.memory.rss_file))),
      ours_worker_rss_anon_mb: mb(median(ours.workers.map((w) => w.memory.rss_anon))),
      promclient_worker_rss_anon_mb: mb(median(agg.workers.map((w) => w.memory.rss_anon))),
      // Our files: size on disk and bytes in use (entries), per series of one worker.
      file_bytes_per_series: round(bytes / (workers * series), 1),
      file_used_bytes_per_series: round(usedBytes / (workers * series), 1),
    };
    rows.push(row);
    console.log(
      `W=${workers} S=${series} (${row.samples} samples): ours ${row.ours_ms} ms (merge ${row.ours_merge_ms} + render ${row.ours_render_ms}; ` +
        `first scrape ${row.ours_cold_ms} ms, median of ${row.ours_cold_ms_samples.length} fresh collectors (render ${row.ours_cold_render_ms} ms in the first)), ` +
        `AggregatorRegistry ${row.aggregator_ms} ms (first ${row.aggregator_first_ms} ms, median of ${row.aggregator_first_ms_samples.length} fresh clusters), ratio ${row.ratio}×; ` +
        `peak RSS: our collector (${COLLECTOR_EXEC_ARGV.join(' ')}) ${row.ours_peak_rss_mb} MB (${row.ours_peak_rss_first_scrape_mb} MB after its first scrape; after the scrapes ${row.ours_rss_mb} MB RSS = ${row.ours_rss_anon_mb} MB anonymous + ${row.ours_rss_file_mb} MB file pages, PSS ${row.ours_pss_mb} MB), AggregatorRegistry primary ${row.aggregator_peak_rss_mb} MB; ` +
        `worker RSS: ours ${row.ours_worker_rss_mb} MB (${row.ours_worker_rss_anon_mb} anonymous + ${row.ours_worker_rss_file_mb} file pages), prom-client ${row.promclient_worker_rss_mb} MB (${row.promclient_worker_rss_anon_mb} + ${row.promclient_worker_rss_file_mb}); worker heap per series: ours ${row.ours_worker_heap_bytes_per_series} B + file ${row.file_used_bytes_per_series} B used ` +
        `(${row.file_bytes_per_series} B on disk), prom-client ${row.promclient_worker_heap_bytes_per_series} B; ` +
        `steady scrape reads ${row.bytes_read_per_value_byte}× the value bytes; after a new series ${row.ours_after_new_series_ms} ms (${row.new_series_vs_steady}× steady), ` +
        `after a new worker's files ${row.ours_after_new_file_ms} ms (${row.new_file_vs_steady}× steady; ` +
        `series in another order ${row.ours_after_shuffled_file_ms} ms, ${row.shuffled_file_vs_steady}×)` +
        (CHANGING > 0 ? `; with ${CHANGING * 100}% of series changing before each scrape: ours ${row.ours_changing_ms} ms (merge ${row.ours_changing_merge_ms} + render ${row.ours_changing_render_ms}), AggregatorRegistry ${row.aggregator_changing_ms} ms, ratio ${row.changing_ratio}×` : ''),
    );
  }
  clearTimeout(runTimer);

  const headline = rows.find((r) => r.workers === 8 && r.series === 10000);
  const result = {
    benchmark: 'scrape',
    quick,
    node: process.version,
    cpu: os.cpus()[0]?.model,
    cores: os.cpus().length,
    // 1/5/15-minute load averages at the start and the end: other work on the machine slows both sides.
    loadavg_start: loadAtStart,
    loadavg_end: os.loadavg().map((x) => round(x, 2)),
    workload: `per worker: S series, the same in every worker; S/2 labeled counter series and S/2 labeled histogram series (default buckets) over ${METRICS_PER_TYPE}+${METRICS_PER_TYPE} metrics, labels method/route/status`,
    target: { workers: 8, series: 10000, ratio: TARGET_RATIO, met: headline ? headline.ratio >= TARGET_RATIO : null },
    scrape: rows,
  };
  fs.mkdirSync(path.dirname(outFile), { recursive: true });
  fs.writeFileSync(outFile, JSON.stringify(result, null, 2) + '\n');
  console.log(`wrote ${path.relative(process.cwd(), outFile)}`);
  if (headline) console.log(`target (8 × 10000, ≥${TARGET_RATIO}×): ${result.target.met ? 'met' : 'NOT met'} (${headline.ratio}×)`);
}

// ---------------------------------------------------------------- exposition check
/** The machine's busy and total CPU time so far, in ticks (Linux /proc/stat), or null. */
function cpuTicks() {
  try {
    const fields = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
    const total = fields.reduce((a, b) => a + b, 0);
    return { busy: total - fields[3] - (fields[4] ?? 0), total };
  } catch {
    return null;
  }
}

/**
 * Waits (up to 5 s) until the machine is idle: at most 10% of its CPU time busy over 250
 * ms. A first scrape is one sample of a fresh process, and processes just started (a new
 * cluster's workers, a new collector) keep compiling and collecting garbage for a while
 * after they say they are ready: each side's first scrape starts on an idle machine.
 */
async function untilIdle() {
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    const before = cpuTicks();
    if (before === null) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
    const after = cpuTicks();
    if (after.busy - before.busy <= 0.1 * (after.total - before.total)) return;
  }
}

function round(x, digits = 2) {
  return Number(x.toFixed(digits));
}

function mb(bytes) {
  return round(bytes / 1e6, 1);
}

/** name + sorted labels (le as a number) → value, for the app's samples only. */
function parseExposition(body) {
  const samples = new Map();
  for (const line of body.split('\n')) {
    if (line === '' || line.startsWith('#') || !line.startsWith('app_')) continue;
    const m = /^([^{ ]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`unparsable line: ${line}`);
    const pairs = [...(m[2] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)].map(([, k, v]) => [k, k === 'le' ? String(Number(v.replace('+Inf', 'Infinity'))) : v]);
    pairs.sort((a, b) => (a[0] < b[0] ? -1 : 1));
    samples.set(`${m[1]}{${pairs.map(([k, v]) => `${k}=${v}`).join(',')}}`, Number(m[3].replace('+Inf', 'Infinity')));
  }
  return samples;
}

function countSamples(body) {
  return parseExposition(body).size;
}

/** null when both hold the same samples and values, else what differs. */
function compareExpositions(oursBody, aggregatorBody) {
  const ours = parseExposition(oursBody);
  const theirs = parseExposition(aggregatorBody);
  if (ours.size !== theirs.size) return `${ours.size} samples vs ${theirs.size}`;
  for (const [key, value] of theirs) {
    const mine = ours.get(key);
    if (mine === undefined) return `ours has no ${key}`;
    if (!(Math.abs(mine - value) <= 1e-9 * Math.max(1, Math.abs(value)))) return `${key}: ours ${mine}, AggregatorRegistry ${value}`;
  }
  return null;
}

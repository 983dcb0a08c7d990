// Churn benchmark (DESIGN promise 6, "cost follows the live system, not its history"):
// scrape time of a directory after R worker restarts, against the same live workload
// with none, and against the same dead processes' files left in place uncompacted
// (what Python's prometheus_client does).
//
//   node bench/churn.mjs [--quick] [--out <file>] [--live 4] [--series 1000] [--restarts 1000]
//                        [--dead copies|real] [--batch 10] [--templates 10] [--concurrency 2]
//                        [--uncompacted 0,100,250,500,1000]
//
// --quick: 100 restarts, history sizes 0,25,50,100, fewer timed scrapes, written to
// results/tmp/churn.json (git-ignored). Full: 1000 restarts, results/churn.json.
//
// Set-up (one temp root, removed at the end; every process is a real one):
//
// - This process is a node:cluster primary. L live cluster workers each write the same
//   S series (S/2 labeled counter series, S/2 labeled histogram series with the default
//   buckets: scrape.mjs's workload) through our Counter/Histogram with
//   PROMETHEUS_MULTIPROC_DIR=A, then stay alive, idle.
// - R dead processes come and go in A, folded by our Compactor into `counter_archive.db`
//   and `histogram_archive.db`. Two ways to make them:
//   * `--dead copies` (default): T=10 real short-lived workers (2 at a time) write the same
//     S series with their own increments and exit; dead process r is a byte-for-byte copy
//     of worker r % T's files under the id 4194305 + r, above any Linux pid_max (2^22), so
//     it is dead to the liveness check. They are put into A `--batch` (10) at a time and
//     `Compactor.sweep()` runs after each batch, as the periodic liveness sweep folds the
//     processes that died since the previous one. Needed because folding costs ~0.1-0.3 s
//     of CPU per dead process here (see README), and a real process ~0.2 s more.
//   * `--dead real`: R real short-lived cluster workers, `--concurrency` at a time, each
//     writes the series and exits; the primary is our `startClusterCollector`, whose
//     'exit' handler sweeps, exactly as in an app (periodic sweep off). Slower.
//   Before a dead process's files are folded they are hard-linked into a staging dir:
//   the same inodes, so the same bytes, survive the compaction of A.
// - F ("fresh") holds hard links of the L live workers' files only. U ("uncompacted")
//   holds the same live links plus the first k dead processes' files, never compacted:
//   Python's behaviour. So F, A and U share the live workers' files byte for byte; A
//   differs from F only by the archives, U only by the dead files.
//
// Measured: steady-state scrape time of `collector.scrape('text')` on one Collector per
// directory after warm-up, as the median wall-clock ms and the median CPU ms of this
// process (the machine is shared: CPU time leaves out time given to other processes);
// F and A are interleaved in alternating order. Also the number of `*.db` files and the
// bytes the scrape read (the collector's own self-metric). U is measured at several
// history sizes, growing, with one Collector in a separate process (a clean heap, and a
// large heap limit in case the collector's memory grows with the files it holds); its
// first scrape after each growth (parsing the added files) is reported too, and a size the
// machine's free memory cannot hold is skipped and says so.
//
// Checks (exit 1 on any mismatch): at every measured history size k, the merged app
// samples of A after k restarts (recorded during the churn) equal those of U with k dead
// processes (relative 1e-9: sums added in another order); after all R restarts, A equals
// the totals of all live + R dead files summed series by series by this script's own
// file reader (rendered by the collector from one file per type); and the counter total,
// histogram observation count and histogram sum equal what the workload itself says
// (computed without any file), so nothing was lost or counted twice.
//
// Every process started here is killed by pid at the end and on failure; the run is
// bounded in time.
import { fork } from 'node:child_process';
import { createHash } from 'node:crypto';
import cluster from 'node:cluster';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { METRICS_PER_TYPE, OBSERVED, runWorkload, seriesLabels } from './workload.mjs';

const thisFile = fileURLToPath(import.meta.url);
const here = path.dirname(thisFile);
const args = process.argv.slice(2);
const argValue = (name) => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : undefined;
};

// ---------------------------------------------------------------- workload: workload.mjs

/** What the workload of the given worker indexes adds up to, computed without any file: the reference totals. */
function workloadTotals(series, workers) {
  const totals = { counter: 0, count: 0, sum: 0 };
  const lib = {
    Counter: class { inc(_labels, v) { totals.counter += v; } },
    Histogram: class { observe(_labels, v) { totals.count++; totals.sum += v; } },
  };
  for (const w of workers) runWorkload(lib, series, w);
  return totals;
}

/** A cluster worker: PROMETHEUS_MULTIPROC_DIR comes from the primary's environment. */
async function worker(kind) {
  const lib = await import('@prom-multiproc/core');
  runWorkload(lib, Number(process.env.CHURN_BENCH_SERIES), Number(process.env.CHURN_BENCH_INDEX));
  if (kind === 'live') {
    process.on('disconnect', () => process.exit(0));
    process.send({ type: 'ready' });
    return;
  }
  // A restart: hard-link its files into the staging dir (the same inodes, so the links
  // keep these bytes after the compactor deletes the names in the metrics directory),
  // report under which id, exit. A pid that comes back (pid_max is 32768 here) gets a suffix.
  const dir = process.env.PROMETHEUS_MULTIPROC_DIR;
  const staging = process.env.CHURN_BENCH_STAGING;
  const names = fs.readdirSync(dir).filter((n) => n.endsWith(`_${process.pid}.db`));
  let id = String(process.pid);
  for (let n = 1; staging; n++) {
    try {
      for (const name of names) fs.linkSync(path.join(dir, name), path.join(staging, name.replace(`_${process.pid}.db`, `_${id}.db`)));
      break;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
      for (const name of names) fs.rmSync(path.join(staging, name.replace(`_${process.pid}.db`, `_${id}.db`)), { force: true });
      id = `${process.pid}.${n}`;
    }
  }
  process.send({ type: 'done', id, files: names }, () => process.exit(0));
}

// ---------------------------------------------------------------- shared helpers
const round = (x, digits = 2) => Number(x.toFixed(digits));
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const dbFiles = (dir) => fs.readdirSync(dir).filter((n) => n.endsWith('.db') && !n.startsWith('.'));

/**
 * Times one scrape: wall-clock ms, and CPU ms of this process (user + system, all threads)
 * which does not count the time the scheduler gives to other processes on a busy machine.
 */
async function timedScrape(collector) {
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  const { body } = await collector.scrape('text');
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  const used = process.cpuUsage(cpu);
  return { ms, cpuMs: (used.user + used.system) / 1e3, body };
}

/** A self-metric of the collector (files read, bytes read) from a scrape body. */
function selfMetric(body, name) {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(body);
  return m ? Number(m[1]) : NaN;
}

/** name + sorted labels → value, for the app's samples only. */
function appSamples(body) {
  const samples = new Map();
  for (const line of body.split('\n')) {
    if (!line.startsWith('app_')) continue;
    const m = /^([^{ ]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`unparsable line: ${line}`);
    samples.set(`${m[1]}{${m[2] ?? ''}}`, Number(m[3].replace('+Inf', 'Infinity')));
  }
  return samples;
}

/** null when both hold the same samples with the same values (relative 1e-9), else what differs. */
function compareSamples(a, b, nameA, nameB) {
  if (a.size !== b.size) return `${nameA} has ${a.size} samples, ${nameB} ${b.size}`;
  for (const [key, value] of b) {
    const mine = a.get(key);
    if (mine === undefined) return `${nameA} has no ${key}`;
    if (!(Math.abs(mine - value) <= 1e-9 * Math.max(1, Math.abs(value)))) return `${key}: ${nameA} ${mine}, ${nameB} ${value}`;
  }
  return null;
}

// ---------------------------------------------------------------- uncompacted curve (child)
/**
 * Measures U at growing history sizes with one Collector (each step parses only the dead
 * files it added, then the steady state is timed). Runs in its own process with a large
 * heap; sends each step's result, app samples included, to the orchestrator.
 */
async function uncompactedMeasurer() {
  const { Collector } = await import('@prom-multiproc/core');
  const job = await new Promise((resolve) => process.once('message', resolve));
  const { dir, staging, deadIds, sizes, scrapes, budgetMs } = job;
  const collector = new Collector({ directory: dir, log: () => {} });
  const stagingNames = fs.readdirSync(staging);
  let linked = 0;
  let perDeadBytes = 16e6; // first guess of memory per dead process (an older collector's); measured after each step
  let base = process.memoryUsage().rss;
  for (const size of sizes) {
    const available = memAvailable();
    const need = (size - linked) * perDeadBytes * 1.25;
    if (need > available - 2e9) {
      process.send({ type: 'step', result: { dead_processes: size, skipped: `needs about ${round(need / 1e9, 1)} GB more memory, ${round(available / 1e9, 1)} GB available` } });
      continue;
    }
    for (; linked < size; linked++) {
      const id = deadIds[linked];
      for (const name of stagingNames.filter((n) => n.endsWith(`_${id}.db`))) fs.linkSync(path.join(staging, name), path.join(dir, name));
    }
    const first = await timedScrape(collector); // parses the files added since the last step
    for (let i = 0; i < 5; i++) await collector.scrape('text'); // warm-up, as for F and A
    const times = [];
    const cpuTimes = [];
    let last = first;
    const started = Date.now();
    while (times.length < scrapes && (times.length < 3 || Date.now() - started < budgetMs)) {
      last = await timedScrape(collector);
      times.push(last.ms);
      cpuTimes.push(last.cpuMs);
    }
    const rss = process.memoryUsage().rss;
    if (size > 0) perDeadBytes = Math.max(1e6, (rss - base) / size);
    else base = rss;
    await new Promise((resolve) => process.send({
      type: 'step',
      result: {
        dead_processes: size,
        ms: round(median(times)),
        cpu_ms: round(median(cpuTimes)),
        files: dbFiles(dir).length,
        bytes_read: selfMetric(last.body, 'prom_multiproc_bytes_read'),
        ms_range: [round(Math.min(...times)), round(Math.max(...times))],
        scrapes: times.length,
        first_scrape_ms: round(first.ms),
        heap_mb: Math.round(process.memoryUsage().heapUsed / 1e6),
        rss_mb: Math.round(rss / 1e6),
      },
      samples: appSamples(last.body),
    }, resolve)); // sent before the next step blocks this process
  }
  process.send({ type: 'finished' });
  process.on('disconnect', () => process.exit(0));
}

function memAvailable() {
  try {
    const m = /^MemAvailable:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/meminfo', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux
  }
  return os.freemem();
}

// ---------------------------------------------------------------- expected totals (own reader)
/**
 * Sums every entry of `files` per raw key with this script's own minimal reader of the
 * format (FORMAT.md §5, §6: int32 used, 4 bytes padding, then entries of int32 key
 * length, key, space padding to 8, float64 value, float64 timestamp).
 */
function sumFiles(files, sums = new Map()) {
  for (const file of files) {
    const buf = fs.readFileSync(file);
    const used = buf.readInt32LE(0);
    let pos = 8;
    while (pos < used) {
      const n = buf.readInt32LE(pos);
      const key = buf.toString('utf8', pos + 4, pos + 4 + n);
      const valueAt = pos + 4 + n + (8 - ((n + 4) % 8));
      sums.set(key, (sums.get(key) ?? 0) + buf.readDoubleLE(valueAt));
      pos = valueAt + 16;
    }
    if (pos !== used) throw new Error(`${file}: entries end at ${pos}, used says ${used}`);
  }
  return sums;
}

/** Writes `sums` (raw key → value) as one metrics file. */
function writeFile(file, sums) {
  const keys = [...sums.keys()].map((k) => Buffer.from(k, 'utf8'));
  let used = 8;
  for (const k of keys) used += 4 + k.length + (8 - ((k.length + 4) % 8)) + 16;
  const buf = Buffer.alloc(used);
  buf.writeInt32LE(used, 0);
  let pos = 8;
  let i = 0;
  for (const value of sums.values()) {
    const k = keys[i++];
    buf.writeInt32LE(k.length, pos);
    k.copy(buf, pos + 4);
    const valueAt = pos + 4 + k.length + (8 - ((k.length + 4) % 8));
    buf.fill(0x20, pos + 4 + k.length, valueAt);
    buf.writeDoubleLE(value, valueAt);
    pos = valueAt + 16;
  }
  fs.writeFileSync(file, buf);
}

// ---------------------------------------------------------------- orchestrator
async function orchestrate() {
  const quick = args.includes('--quick');
  const live = Number(argValue('--live') ?? 4);
  const series = Number(argValue('--series') ?? 1000);
  const restarts = Number(argValue('--restarts') ?? (quick ? 100 : 1000));
  const concurrency = Number(argValue('--concurrency') ?? 2);
  // How the dead processes are made: `real` short-lived processes, or `copies` of a few real ones' files.
  const deadMode = argValue('--dead') ?? 'copies';
  if (deadMode !== 'real' && deadMode !== 'copies') throw new Error(`--dead real|copies, not ${deadMode}`);
  const batch = Number(argValue('--batch') ?? 10); // copies: dead processes per sweep
  const templateCount = Math.min(Number(argValue('--templates') ?? 10), restarts); // copies: real processes copied
  const sizes = [...new Set((argValue('--uncompacted') ?? (quick ? '0,25,50,100' : '0,100,250,500,1000')).split(',').map(Number))]
    .filter((k) => k <= restarts)
    .sort((a, b) => a - b);
  const outFile = argValue('--out') ? path.resolve(argValue('--out')) : path.join(here, 'results', quick ? 'tmp' : '', 'churn.json');
  const ROUNDS = quick ? 21 : 101; // timed scrapes of F and of A, interleaved (at least)
  const TIMING_BUDGET_MS = quick ? 2_000 : 10_000;
  const U_SCRAPES = quick ? 11 : 21;
  const U_BUDGET_MS = quick ? 3_000 : 15_000;
  const STEP_TIMEOUT_MS = 60_000;
  const RUN_TIMEOUT_MS = quick ? 3 * 60_000 : 15 * 60_000;
  const TARGET_RATIO = 1.2;
  const runStarted = Date.now();
  // Other work may rebuild packages/core/dist meanwhile: a run whose processes may have
  // loaded two different builds says so (content hash of the built .js files).
  const distDir = path.join(here, '..', 'packages', 'core', 'dist');
  const distStamp = () => {
    const hash = createHash('sha256');
    for (const entry of fs.readdirSync(distDir, { recursive: true }).sort()) {
      if (entry.endsWith('.js')) hash.update(entry).update(fs.readFileSync(path.join(distDir, entry)));
    }
    return hash.digest('hex').slice(0, 16);
  };
  const distAtStart = distStamp();
  const elapsed = () => `${((Date.now() - runStarted) / 1000).toFixed(0)} s`;

  const { Collector, Compactor, startClusterCollector, parseDbFileName } = await import('@prom-multiproc/core');

  // Everything started is killed by pid on the way out, whatever happens; the temp root goes.
  const children = new Set();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'prom-multiproc-churn-'));
  const killAll = () => {
    for (const pid of children) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    children.clear();
    fs.rmSync(root, { recursive: true, force: true });
  };
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));
  const fail = (message) => {
    console.error(`churn bench: ${message}`);
    process.exit(1);
  };
  const runTimer = setTimeout(() => fail(`run exceeded ${RUN_TIMEOUT_MS / 1000} s, giving up`), RUN_TIMEOUT_MS);
  runTimer.unref();
  const withTimeout = (promise, ms, what) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms / 1000} s`)), ms);
      promise.then((v) => { clearTimeout(timer); resolve(v); }, (e) => { clearTimeout(timer); reject(e); });
    });

  try {
    const dirs = Object.fromEntries(['A', 'F', 'U', 'staging', 'V', 'templates'].map((d) => [d, path.join(root, d)]));
    for (const d of Object.values(dirs)) fs.mkdirSync(d);
    const compactorLog = [];

    // Real mode: this process is the cluster primary of startClusterCollector, whose
    // 'exit' handler sweeps. A listener registered before it runs just before its sweep,
    // one registered after it runs just after, so their difference is the sweep's time.
    let sweepStarted = 0n;
    const sweepMs = [];
    const restartPids = new Set();
    let maxFilesA = 0;
    cluster.on('exit', () => { sweepStarted = process.hrtime.bigint(); });
    cluster.setupPrimary({ exec: thisFile, args: [], silent: false });
    let primary;
    let compactor;
    let collectorA;
    if (deadMode === 'real') {
      primary = await startClusterCollector({ directory: dirs.A, port: 0, host: '127.0.0.1', sweepIntervalMs: 0, startup: 'fold', log: (m) => compactorLog.push(m) });
      collectorA = primary.collector;
    } else {
      compactor = await Compactor.start(dirs.A, { sweepIntervalMs: 0, startup: 'fold', log: (m) => compactorLog.push(m) });
      collectorA = new Collector({ directory: dirs.A, compactor, log: () => {} });
    }
    const exits = new Map(); // pid -> resolve
    cluster.on('exit', (w, code, signal) => {
      const pid = w.process.pid;
      if (deadMode === 'real' && restartPids.delete(pid)) {
        sweepMs.push(Number(process.hrtime.bigint() - sweepStarted) / 1e6);
        maxFilesA = Math.max(maxFilesA, dbFiles(dirs.A).length);
      }
      children.delete(pid);
      exits.get(pid)?.({ code, signal });
      exits.delete(pid);
    });

    /** Forks a cluster worker; `ready` resolves on its first report, `exited` when it is gone (and swept, in real mode). */
    const forkWorker = (kind, index, dir, staging) => {
      const w = cluster.fork({
        CHURN_BENCH_ROLE: kind, CHURN_BENCH_INDEX: String(index), CHURN_BENCH_SERIES: String(series),
        CHURN_BENCH_STAGING: staging, PROMETHEUS_MULTIPROC_DIR: dir,
      });
      const pid = w.process.pid;
      children.add(pid);
      const exited = new Promise((resolve) => exits.set(pid, resolve));
      const ready = new Promise((resolve, reject) => {
        w.on('message', (m) => (m?.type === 'ready' || m?.type === 'done') && resolve(m));
        // Its last message can arrive just after its exit: the pipe and the exit are separate events.
        exited.then(({ code, signal }) => setTimeout(() => reject(new Error(`${kind} worker ${index} (pid ${pid}) exited without reporting (${code ?? signal})`)), 2_000).unref());
      });
      ready.catch(() => {});
      return { w, pid, ready, exited };
    };
    const filesOf = (pid) => dbFiles(dirs.A).filter((n) => parseDbFileName(n)?.id === String(pid));

    // ---- live workers; their files linked into F and U
    const liveWorkers = [];
    for (let i = 0; i < live; i++) liveWorkers.push(forkWorker('live', i, dirs.A, ''));
    await withTimeout(Promise.all(liveWorkers.map((l) => l.ready)), STEP_TIMEOUT_MS, `${live} live workers writing ${series} series`);
    for (const { pid } of liveWorkers) {
      const names = filesOf(pid);
      if (names.length !== 2) throw new Error(`live worker ${pid} has files ${names.join(', ')}, expected a counter and a histogram file`);
      for (const name of names) for (const d of [dirs.F, dirs.U]) fs.linkSync(path.join(dirs.A, name), path.join(d, name));
    }
    const totalsA = new Map(); // restarts done -> app samples of A
    totalsA.set(0, appSamples((await collectorA.scrape('text')).body));
    console.log(
      `churn: ${live} live workers × ${series} series ready (${elapsed()}); ${restarts} restarts, ` +
        (deadMode === 'real' ? `real processes, ${concurrency} at a time` : `copies of ${templateCount} real dead processes' files, ${batch} per sweep`),
    );

    /** Runs `count` short-lived real workers, `concurrency` at a time; returns each one's report, in index order. */
    const runRestarts = async (first, count, dir, staging) => {
      const reports = [];
      let next = first;
      const one = async (r) => {
        const { pid, ready, exited } = forkWorker('restart', live + r, dir, staging);
        restartPids.add(pid);
        const done = await withTimeout(ready, STEP_TIMEOUT_MS, `restart ${r} (pid ${pid})`);
        const { code, signal } = await withTimeout(exited, STEP_TIMEOUT_MS, `restart ${r} (pid ${pid}) exiting`);
        if (code !== 0) throw new Error(`restart ${r} (pid ${pid}) exited with ${code ?? signal}`);
        if (done.files.length !== 2) throw new Error(`restart ${r} (pid ${pid}) had files ${done.files.join(', ')}, expected a counter and a histogram file`);
        reports[r - first] = { ...done, pid };
      };
      const lanes = [];
      for (let lane = 0; lane < concurrency; lane++) {
        lanes.push((async () => {
          while (next < first + count) await one(next++);
        })());
      }
      await Promise.all(lanes);
      return reports;
    };

    // Copies mode: the files of `templateCount` real short-lived workers (each with its own
    // increments, written and exited like any restart) are the templates; dead process r is
    // a byte-for-byte copy of template r % templateCount under id DEAD_ID_BASE + r, an id
    // above the largest possible Linux pid_max (2^22), so no process can have it.
    const DEAD_ID_BASE = 4_194_305;
    let templates = [];
    if (deadMode === 'copies') {
      templates = (await runRestarts(0, templateCount, dirs.templates, '')).map(({ pid, files }) => files.map((name) => ({ name, pid })));
      for (let r = 0; r < restarts; r++) {
        try {
          process.kill(DEAD_ID_BASE + r, 0);
          throw new Error(`pid ${DEAD_ID_BASE + r} exists`);
        } catch (err) {
          if (err.code !== 'ESRCH') throw err;
        }
      }
    }
    /** Worker index whose increments dead process r carries (for the workload totals). */
    const deadWorkerIndex = (r) => live + (deadMode === 'real' ? r : r % templateCount);

    // ---- the restarts
    const deadIds = []; // per restart: the id under which its files sit in staging
    let doneCount = 0;
    const churnStarted = Date.now();
    const checkpoints = [...new Set([...sizes.filter((k) => k > 0), restarts])].sort((a, b) => a - b);
    for (const k of checkpoints) {
      if (deadMode === 'real') {
        // Up to k restarts, `concurrency` in flight, each folded by the primary's exit sweep.
        const reports = await runRestarts(doneCount, k - doneCount, dirs.A, dirs.staging);
        reports.forEach((rep, i) => { deadIds[doneCount + i] = rep.id; });
        doneCount = k;
      } else {
        while (doneCount < k) {
          const n = Math.min(batch, k - doneCount);
          for (let r = doneCount; r < doneCount + n; r++) {
            const id = String(DEAD_ID_BASE + r);
            for (const { name, pid } of templates[r % templateCount]) {
              const target = name.replace(`_${pid}.db`, `_${id}.db`);
              fs.copyFileSync(path.join(dirs.templates, name), path.join(dirs.A, target));
              fs.linkSync(path.join(dirs.A, target), path.join(dirs.staging, target));
            }
            deadIds[r] = id;
          }
          maxFilesA = Math.max(maxFilesA, dbFiles(dirs.A).length);
          const started = process.hrtime.bigint();
          const folded = await compactor.sweep();
          sweepMs.push(Number(process.hrtime.bigint() - started) / 1e6);
          if (folded.length !== n) throw new Error(`sweep folded ${folded.length} processes, ${n} died`);
          doneCount += n;
        }
      }
      // A is scraped for the check against U with k dead processes.
      totalsA.set(k, appSamples((await collectorA.scrape('text')).body));
      console.log(`  ${k} restarts done (${elapsed()}), ${dbFiles(dirs.A).length} files in the directory`);
    }
    const churnSeconds = (Date.now() - churnStarted) / 1000;
    const sweepsFolding = sweepMs.filter((ms) => ms > 1);

    // ---- steady state: F and A, interleaved
    const collectorF = new Collector({ directory: dirs.F, log: () => {} });
    for (let i = 0; i < 20; i++) {
      await collectorF.scrape('text');
      await collectorA.scrape('text');
    }
    // Interleaved, alternating order, so that load from elsewhere hits both alike; at
    // least ROUNDS rounds, more while the time budget lasts (a scrape here takes ms).
    const fresh = [];
    const after = [];
    let lastF;
    let lastA;
    const timingStarted = Date.now();
    for (let i = 0; i < ROUNDS || (i < 10 * ROUNDS && Date.now() - timingStarted < TIMING_BUDGET_MS); i++) {
      if (i % 2 === 0) {
        lastF = await timedScrape(collectorF);
        lastA = await timedScrape(collectorA);
      } else {
        lastA = await timedScrape(collectorA);
        lastF = await timedScrape(collectorF);
      }
      fresh.push(lastF);
      after.push(lastA);
    }
    const wallF = median(fresh.map((t) => t.ms));
    const wallA = median(after.map((t) => t.ms));
    const cpuF = median(fresh.map((t) => t.cpuMs));
    const cpuA = median(after.map((t) => t.cpuMs));
    const churn = {
      restarts,
      fresh_ms: round(wallF, 3),
      after_ms: round(wallA, 3),
      ratio: round(wallA / wallF, 3),
      fresh_cpu_ms: round(cpuF, 3),
      after_cpu_ms: round(cpuA, 3),
      cpu_ratio: round(cpuA / cpuF, 3),
      files_fresh: dbFiles(dirs.F).length,
      files_after: dbFiles(dirs.A).length,
      bytes_read_fresh: selfMetric(lastF.body, 'prom_multiproc_bytes_read'),
      bytes_read_after: selfMetric(lastA.body, 'prom_multiproc_bytes_read'),
      fresh_ms_range: [round(Math.min(...fresh.map((t) => t.ms))), round(Math.max(...fresh.map((t) => t.ms)))],
      after_ms_range: [round(Math.min(...after.map((t) => t.ms))), round(Math.max(...after.map((t) => t.ms)))],
      scrapes: fresh.length,
      target_ratio: TARGET_RATIO,
      target_met: wallA / wallF <= TARGET_RATIO && cpuA / cpuF <= TARGET_RATIO,
      churn_seconds: round(churnSeconds, 1),
      max_files_during_churn: maxFilesA,
      sweeps: sweepMs.length,
      sweeps_that_folded: sweepsFolding.length,
      sweep_ms_median: sweepsFolding.length ? round(median(sweepsFolding), 1) : 0,
      sweep_ms_total: round(sweepMs.reduce((a, b) => a + b, 0), 0),
    };
    console.log(
      `fresh: ${churn.fresh_ms} ms (CPU ${churn.fresh_cpu_ms} ms), ${churn.files_fresh} files, ${churn.bytes_read_fresh} bytes read; ` +
        `after ${restarts} restarts, compacted: ${churn.after_ms} ms (CPU ${churn.after_cpu_ms} ms), ${churn.files_after} files, ${churn.bytes_read_after} bytes read; ` +
        `ratio ${churn.ratio} (CPU ${churn.cpu_ratio}; target ≤ ${TARGET_RATIO}: ${churn.target_met ? 'met' : 'NOT met'}) (${elapsed()})`,
    );
    console.log(`  churn took ${churn.churn_seconds} s; ${churn.sweeps_that_folded} sweeps folded, median ${churn.sweep_ms_median} ms each, ${churn.sweep_ms_total} ms in all; at most ${maxFilesA} files in A`);
    const finalA = totalsA.get(restarts);

    // ---- check 1: A after all restarts = all live + dead files summed by our own reader
    const problems = [];
    {
      const liveFiles = dbFiles(dirs.F).map((n) => path.join(dirs.F, n));
      const deadFiles = fs.readdirSync(dirs.staging).map((n) => path.join(dirs.staging, n));
      if (deadFiles.length !== 2 * restarts) problems.push(`staging holds ${deadFiles.length} files for ${restarts} dead processes`);
      for (const type of ['counter', 'histogram']) {
        const sums = sumFiles([...liveFiles, ...deadFiles].filter((f) => path.basename(f).startsWith(`${type}_`)));
        writeFile(path.join(dirs.V, `${type}_expected.db`), sums);
      }
      const expected = appSamples((await new Collector({ directory: dirs.V, log: () => {} }).scrape('text')).body);
      const diff = compareSamples(finalA, expected, `compacted (${restarts} restarts)`, `all ${restarts} dead + ${live} live files summed`);
      if (diff) problems.push(diff);
      // check 2: totals of the workload itself, computed without any file
      const want = workloadTotals(series, [...Array(live).keys(), ...Array.from({ length: restarts }, (_, r) => deadWorkerIndex(r))]);
      let counter = 0;
      let count = 0;
      let sum = 0;
      for (const [key, value] of finalA) {
        if (key.startsWith('app_requests_')) counter += value;
        else if (/^app_request_duration_\d+_seconds_count\{/.test(key)) count += value;
        else if (/^app_request_duration_\d+_seconds_sum\{/.test(key)) sum += value;
      }
      const close = (a, b) => Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b));
      if (!close(counter, want.counter) || !close(count, want.count) || !close(sum, want.sum)) {
        problems.push(`compacted totals: counters ${counter}, observations ${count}, sum ${sum}; the workload of ${live + restarts} processes made ${want.counter}, ${want.count}, ${want.sum}`);
      }
      console.log(
        `check: after ${restarts} restarts the compacted directory holds ${finalA.size} samples: counters sum to ${counter} ` +
          `(workload: ${want.counter}), ${count} observations (workload: ${want.count}); ` +
          `equal to the ${2 * (restarts + live)} uncompacted files summed: ${diff ? 'NO' : 'yes'}`,
      );
    }

    // ---- the uncompacted curve, in a child with a large heap
    const uncompacted = [];
    if (sizes.length > 0) {
      const child = fork(thisFile, ['--role', 'uncompacted'], {
        execArgv: ['--max-old-space-size=16384'],
        env: { ...process.env, PROMETHEUS_MULTIPROC_DIR: '' },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        serialization: 'advanced',
      });
      children.add(child.pid);
      const finished = new Promise((resolve, reject) => {
        child.on('exit', (code, signal) => reject(new Error(`uncompacted measurer exited early (${code ?? signal})`)));
        child.on('message', (m) => {
          if (m.type === 'finished') return resolve();
          const r = m.result;
          uncompacted.push(r);
          if (r.skipped) {
            console.log(`uncompacted, ${r.dead_processes} dead processes: skipped, ${r.skipped}`);
            return;
          }
          const diff = compareSamples(totalsA.get(r.dead_processes), m.samples, `compacted after ${r.dead_processes} restarts`, `uncompacted with ${r.dead_processes} dead`);
          r.totals_equal_compacted = diff === null;
          if (diff) problems.push(diff);
          console.log(
            `uncompacted, ${r.dead_processes} dead processes: ${r.ms} ms (CPU ${r.cpu_ms} ms), ${r.files} files, ${r.bytes_read} bytes read ` +
              `(first scrape ${r.first_scrape_ms} ms, heap ${r.heap_mb} MB); totals = compacted: ${diff ? 'NO' : 'yes'} (${elapsed()})`,
          );
        });
      });
      child.send({ dir: dirs.U, staging: dirs.staging, deadIds, sizes, scrapes: U_SCRAPES, budgetMs: U_BUDGET_MS });
      await withTimeout(finished, RUN_TIMEOUT_MS, 'uncompacted curve');
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // gone
      }
      children.delete(child.pid);
    }

    await primary?.close();
    await compactor?.close();
    for (const { pid } of liveWorkers) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
      children.delete(pid);
    }
    clearTimeout(runTimer);

    const result = {
      benchmark: 'churn',
      quick,
      node: process.version,
      cpu: os.cpus()[0]?.model,
      cores: os.cpus().length,
      loadavg: os.loadavg().map((x) => round(x, 2)),
      workload: {
        live_workers: live,
        series_per_worker: series,
        series_mix: `S/2 labeled counter series and S/2 labeled histogram series (default buckets) over ${METRICS_PER_TYPE}+${METRICS_PER_TYPE} metrics, labels method/route/status (scrape.mjs's workload)`,
        restarts,
        dead_processes: deadMode,
        ...(deadMode === 'real'
          ? {
              concurrency,
              how: `${restarts} real node:cluster workers forked by this process (startClusterCollector's primary), ${concurrency} at a time; each writes the same series with its own increments and exits; the primary's exit handler sweeps`,
            }
          : {
              templates: templateCount,
              batch,
              how: `${templateCount} real short-lived workers (${concurrency} at a time) write the same series with their own increments and exit; dead process r is a copy of template r % ${templateCount}'s files under id ${DEAD_ID_BASE}+r (above any Linux pid_max); Compactor.sweep() after every ${batch} (as the liveness sweep folds processes that died since the last one)`,
            }),
      },
      churn,
      uncompacted,
      check: { ok: problems.length === 0, problems, compactor_log: compactorLog },
      run_seconds: round((Date.now() - runStarted) / 1000, 1),
      core_dist_sha256: distAtStart,
      core_dist_rebuilt_during_run: distStamp() !== distAtStart,
    };
    if (result.core_dist_rebuilt_during_run) console.warn('warning: packages/core/dist was rebuilt during this run; its numbers may mix two builds');
    fs.mkdirSync(path.dirname(outFile), { recursive: true });
    fs.writeFileSync(outFile, JSON.stringify(result, null, 2) + '\n');
    console.log(`wrote ${path.relative(process.cwd(), outFile)} (${elapsed()})`);
    if (problems.length > 0) fail(`totals differ:\n  ${problems.join('\n  ')}`);
    console.log('check passed: nothing lost, nothing counted twice');
    process.exit(0);
  } catch (err) {
    fail(err?.stack ?? String(err));
  }
}

// ---------------------------------------------------------------- roles (last: the helpers above are initialised)
const role = cluster.isWorker ? process.env.CHURN_BENCH_ROLE : argValue('--role');
if (role === 'live' || role === 'restart') await worker(role);
else if (role === 'uncompacted') await uncompactedMeasurer();
else await orchestrate();

// Cold-start benchmark: the first scrape of a NEW collector process, many times over the
// same directory, to see the first scrape's cost with less noise than scrape.mjs's one
// sample per cell (a loaded machine moves one sample by 2x). Not part of the suite.
//
//   node bench/cold-start.mjs [--cells 1x1000,8x10000] [--runs 7] [--ab DIST] [--default-gc]
//                             [--cpu-prof DIR] [--trace-gc] [--script FILE] [--node-flags "F1 F2"]
//                             [--ab-flags "F1 F2"]
//
// For each cell: W workers of scrape.mjs's workload write S series each into one temp
// directory and stay alive, idle. Then, RUNS times, a fresh `node` process imports the
// package, makes a Collector, and times its first text scrape up to the body's string
// (as scrape.mjs's cold figure does): wall time; the CPU time of the process's main
// thread (Linux: /proc/thread-self/schedstat), which load from other processes moves
// least (it leaves out the engine's compiler and GC helper threads, and time spent
// waiting for a core); the process's CPU time (all threads); the split into merge and
// render. Reported: the median and range of each.
//
// Each collector runs with the PM2 module's Node flags, as scrape.mjs runs its collector
// (package.json `apps` node_args: a small young generation, one V8 helper thread, a 64 MB
// first old-generation limit);
// --default-gc runs it with none (V8's and Node's defaults).
// --ab DIST: every other run imports the package from DIST instead (the dist/esm directory
// of another build, its dist/ copied somewhere under packages/core, e.g.
// packages/core/.base/dist, so that it finds the package's dependencies and loads its
// collector side as the package does): a before/after pair under the same load, reported apart.
// --cpu-prof DIR writes each collector's CPU profile there; --trace-gc prints the first
// run's GC trace; --script FILE runs FILE as the collector instead (it gets --dir, and
// prints one line of JSON whose numbers are reported); --node-flags adds Node/V8 flags to
// each collector (e.g. "--v8-pool-size=1"); --ab-flags adds them to every other run only
// (a pair with and without the flags under the same load, reported apart, like --ab).
//
// Every child is killed by pid when its cell is done; temp dirs are removed.
import { execFileSync, fork } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const thisFile = fileURLToPath(import.meta.url);
const here = path.dirname(thisFile);
const args = process.argv.slice(2);
/** Node flags of our collector processes: the PM2 module's (scrape.mjs runs its collector with them too). */
const COLLECTOR_EXEC_ARGV = JSON.parse(fs.readFileSync(path.join(here, '../packages/pm2-module/package.json'), 'utf8')).apps[0].node_args;
const argValue = (name) => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : undefined;
};

if (argValue('--role') === 'collector') await collector();
else await orchestrate();

/** Main-thread CPU time so far, ms (Linux), or NaN. */
function mainThreadCpuMs() {
  try {
    return Number(fs.readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e6;
  } catch {
    return Number.NaN;
  }
}

/** One fresh collector: imports the package, times its first scrape, prints one JSON line. */
async function collector() {
  const importStarted = process.hrtime.bigint();
  const { Collector } = await import(process.env.DIST ? path.join(process.env.DIST, 'index.js') : '@prom-multiproc/core');
  const importMs = Number(process.hrtime.bigint() - importStarted) / 1e6;
  const c = new Collector({ directory: argValue('--dir'), log: () => {} });
  const cpu = process.cpuUsage();
  const mainCpu = mainThreadCpuMs();
  const started = process.hrtime.bigint();
  const body = await c.scrapeWith('text', ({ bytes }) => bytes.toString('utf8'));
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  const mainCpuMs = mainThreadCpuMs() - mainCpu;
  const used = process.cpuUsage(cpu);
  process.stdout.write(`${JSON.stringify({ ms, mainCpuMs, cpuMs: (used.user + used.system) / 1e3, mergeMs: c.lastMergeSeconds * 1e3, renderMs: c.lastRenderSeconds * 1e3, importMs, bytes: body.length })}\n`);
}

async function orchestrate() {
  const cells = (argValue('--cells') ?? '1x1000,8x10000').split(',').map((c) => c.split('x').map(Number));
  const runs = Number(argValue('--runs') ?? 7);
  const profDir = argValue('--cpu-prof');
  const traceGc = args.includes('--trace-gc');
  const children = new Set();
  const dirs = new Set();
  const killAll = () => {
    for (const pid of children) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const summary = (xs) => `${median(xs).toFixed(1)} (${Math.min(...xs).toFixed(1)}-${Math.max(...xs).toFixed(1)})`;
  for (const [workers, series] of cells) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'prom-multiproc-cold-'));
    dirs.add(dir);
    const env = { ...process.env, PROMETHEUS_MULTIPROC_DIR: dir };
    const ready = [];
    const pids = [];
    for (let w = 0; w < workers; w++) {
      const child = fork(path.join(here, 'scrape.mjs'), ['--role', 'ours-worker', '--series', String(series), '--index', String(w)], { env, execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' });
      children.add(child.pid);
      pids.push(child.pid);
      ready.push(new Promise((resolve, reject) => {
        child.on('message', (m) => m.type === 'ready' && resolve());
        child.on('exit', (code) => reject(new Error(`worker exited (${code})`)));
      }));
    }
    await Promise.all(ready);
    const results = [];
    for (let r = 0; r < runs; r++) {
      const execArgv = args.includes('--default-gc') ? [] : [...COLLECTOR_EXEC_ARGV];
      if (argValue('--node-flags')) execArgv.push(...argValue('--node-flags').split(' ').filter(Boolean));
      if (argValue('--ab-flags') !== undefined && r % 2 === 1) execArgv.push(...argValue('--ab-flags').split(' ').filter(Boolean));
      if (profDir) execArgv.push('--cpu-prof', '--cpu-prof-interval', '250', '--cpu-prof-dir', profDir, '--cpu-prof-name', `cold-${workers}x${series}-${r}.cpuprofile`);
      if (traceGc) execArgv.push('--trace-gc');
      const script = argValue('--script') ? path.resolve(argValue('--script')) : thisFile;
      // --ab DIST: every other run imports the package from DIST instead (a before/after pair under the same load).
      const alt = argValue('--ab') !== undefined && r % 2 === 1 ? { DIST: path.resolve(argValue('--ab')) + '/' } : {};
      const out = execFileSync(process.execPath, [...execArgv, script, '--role', 'collector', '--dir', dir], { env: { ...process.env, PROMETHEUS_MULTIPROC_DIR: '', ...alt }, encoding: 'utf8' });
      if (traceGc && r === 0) process.stdout.write(out.split('\n').filter((l) => !l.startsWith('{')).join('\n') + '\n');
      results.push(JSON.parse(out.split('\n').find((l) => l.startsWith('{'))));
    }
    const report = (label, rows) => {
      const line = Object.keys(rows[0]).map((k) => `${k} ${summary(rows.map((x) => x[k]))}`).join(', ');
      console.log(`${workers}x${series}${label}: ${line}; load ${os.loadavg()[0].toFixed(1)}`);
    };
    const alternate = argValue('--ab') ?? (argValue('--ab-flags') !== undefined ? `with ${argValue('--ab-flags')}` : undefined);
    if (alternate === undefined) report('', results);
    else {
      report(' A (this build)', results.filter((_, i) => i % 2 === 0));
      report(` B (${alternate})`, results.filter((_, i) => i % 2 === 1));
    }
    for (const pid of pids) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } children.delete(pid); }
    fs.rmSync(dir, { recursive: true, force: true });
    dirs.delete(dir);
  }
}

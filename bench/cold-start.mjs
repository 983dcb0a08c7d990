// Cold-start benchmark: the first scrape of a NEW collector process, many times over the
// same directory, to see the first scrape's cost with less noise than scrape.mjs's one
// sample per cell (a loaded machine moves one sample by 2x).
//
//   node bench/cold-start.mjs [--cells 1x1000,8x10000] [--runs 7] [--cpu-prof DIR] [--trace-gc]
//
// For each cell: W workers of scrape.mjs's workload write S series each into one temp
// directory and stay alive, idle. Then, RUNS times, a fresh `node` process imports the
// package, makes a Collector, and times its first text scrape up to the body's string
// (as scrape.mjs's cold figure does): wall time, its CPU time (user + system, which load
// from other processes moves less), and the split into merge and render. Reported: the
// median and range of each. --cpu-prof DIR writes each collector's CPU profile there.
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
const argValue = (name) => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : undefined;
};

if (argValue('--role') === 'collector') await collector();
else await orchestrate();

/** One fresh collector: imports the package, times its first scrape, prints one JSON line. */
async function collector() {
  const importStarted = process.hrtime.bigint();
  const { Collector } = await import('@prom-multiproc/core');
  const importMs = Number(process.hrtime.bigint() - importStarted) / 1e6;
  const c = new Collector({ directory: argValue('--dir'), log: () => {} });
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  const body = await c.scrapeWith('text', ({ bytes }) => bytes.toString('utf8'));
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  const used = process.cpuUsage(cpu);
  process.stdout.write(`${JSON.stringify({ importMs, ms, cpuMs: (used.user + used.system) / 1e3, mergeMs: c.lastMergeSeconds * 1e3, renderMs: c.lastRenderSeconds * 1e3, bytes: body.length })}\n`);
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
      const execArgv = [];
      if (profDir) execArgv.push('--cpu-prof', '--cpu-prof-dir', profDir, '--cpu-prof-name', `cold-${workers}x${series}-${r}.cpuprofile`);
      if (traceGc) execArgv.push('--trace-gc');
      const script = argValue('--script') ? path.resolve(argValue('--script')) : thisFile;
      // --ab DIST: every other run imports the package from DIST instead (a before/after pair under the same load).
      const alt = argValue('--ab') !== undefined && r % 2 === 1 ? { DIST: path.resolve(argValue('--ab')) + '/' } : {};
      const out = execFileSync(process.execPath, [...execArgv, script, '--role', 'collector', '--dir', dir], { env: { ...process.env, PROMETHEUS_MULTIPROC_DIR: '', ...alt }, encoding: 'utf8' });
      if (traceGc && r === 0) process.stdout.write(out.split('\n').filter((l) => !l.startsWith('{')).join('\n') + '\n');
      results.push(JSON.parse(out.split('\n').find((l) => l.startsWith('{'))));
    }
    const pick = (k) => results.map((x) => x[k]);
    if (argValue('--ab') !== undefined) {
      for (const [label, parity] of [['A (this build)', 0], ['B (--ab)', 1]]) {
        const mine = results.filter((_, i) => i % 2 === parity);
        console.log(`${workers}x${series} ${label}: ` + Object.keys(mine[0]).map((k) => `${k} ${summary(mine.map((x) => x[k]))}`).join(', '));
      }
    } else if (argValue('--script')) {
      console.log(`${workers}x${series}: ` + Object.keys(results[0]).map((k) => `${k} ${summary(pick(k))}`).join(', '));
    } else {
    console.log(`${workers}x${series}: first scrape ${summary(pick('ms'))} ms wall, cpu ${summary(pick('cpuMs'))} ms, merge ${summary(pick('mergeMs'))}, render ${summary(pick('renderMs'))}; import ${summary(pick('importMs'))} ms; ${results[0].bytes} bytes; load ${os.loadavg()[0].toFixed(1)}`);
    }
    for (const pid of pids) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } children.delete(pid); }
    fs.rmSync(dir, { recursive: true, force: true });
    dirs.delete(dir);
  }
}

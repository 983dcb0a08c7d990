// A new collector's first scrape of directories written by Python's own client, ours
// against Python prometheus_client's MultiProcessCollector, in one run (issue 15's three
// shapes): (a) 20 processes, counter + histogram files: 40 files; (b) 4 processes: 8
// files; (c) 2,000 processes: 4,000 files. Each directory is written once by Python
// (one python3 process playing every pid, as MultiProcessValue allows); then, alternating,
// a fresh Python process times `generate_latest()` of a registry with a
// MultiProcessCollector (imports excluded) and a fresh Node process times the first
// `scrape('text')` of a new Collector (imports excluded). Both outputs must hold the same
// samples. Prints medians of REPS runs each and the ratio.
//
// Not part of `pnpm bench`: it needs python3 with prometheus_client >= 0.18 (not on PyPI
// here; Debian's package is 0.16, whose files have no timestamps), e.g. a checkout of
// prometheus/client_python on PYTHONPATH; skipped with a note without it.
// `pnpm build && PYTHONPATH=<client_python checkout> node bench/python-cold.mjs [--reps N]`.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PYTHON = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

// Writes `pids` processes' files: per pid, `counters` labeled counter series of
// app_requests_total and `histograms` series of app_latency_seconds (default buckets).
const WRITE_PY = `
import os, sys
pids, counters, histograms = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
from prometheus_client import values, Counter, Histogram, CollectorRegistry
current = [0]
values.ValueClass = values.MultiProcessValue(lambda: current[0])
for p in range(pids):
    current[0] = 1000 + p
    r = CollectorRegistry()
    c = Counter('app_requests_total', 'Requests handled.', ['method', 'route', 'status'], registry=r)
    h = Histogram('app_latency_seconds', 'Request latency.', ['method', 'route'], registry=r)
    for i in range(counters):
        c.labels(['GET', 'POST', 'PUT'][i % 3], '/api/v1/resource_%d' % i, ['200', '404', '500'][i % 3]).inc(1 + (i + p) % 5)
    for i in range(histograms):
        h.labels(['GET', 'POST'][i % 2], '/api/v1/resource_%d' % i).observe(((i * 7 + p) % 100) / 37.0)
`;

const COLLECT_PY = `
import sys, time
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
t = time.perf_counter()
r = CollectorRegistry()
MultiProcessCollector(r, sys.argv[1])
out = generate_latest(r)
ms = (time.perf_counter() - t) * 1000
sys.stderr.write('%f\\n' % ms)
sys.stdout.write(out.decode())
`;

if (process.argv[2] === 'ours') {
  const { Collector } = await import(path.join(ROOT, 'packages/core/dist/esm/index.js'));
  const started = performance.now();
  const collector = new Collector({ directory: process.argv[3], log: () => {} });
  const { body } = await collector.scrape('text');
  const ms = performance.now() - started;
  process.stderr.write(`${ms}\n`);
  process.stdout.write(body);
} else {
  const reps = Number(process.argv[process.argv.indexOf('--reps') + 1]) || 5;
  // prometheus_client 0.18 or later: entries with a timestamp (`_pack_two_doubles`), the format we read.
  const probe = spawnSync(PYTHON, ['-c', 'from prometheus_client.mmap_dict import _pack_two_doubles'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    console.log(`skipped: ${PYTHON} cannot import prometheus_client >= 0.18 (set PYTHONPATH to a checkout of prometheus/client_python; Debian's package is 0.16, the older format)`);
    process.exit(0);
  }
  const shapes = [
    { name: '40 files', pids: 20, counters: 100, histograms: 10 },
    { name: '8 files', pids: 4, counters: 1000, histograms: 150 },
    { name: '4,000 files', pids: 2000, counters: 2, histograms: 1 },
  ];
  for (const shape of shapes) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pmp-bench-python-'));
    try {
      run(PYTHON, ['-c', WRITE_PY, String(shape.pids), String(shape.counters), String(shape.histograms)], { PROMETHEUS_MULTIPROC_DIR: dir });
      const files = fs.readdirSync(dir).length;
      const entries = countEntries(dir);
      const python = [];
      const ours = [];
      let samples = 0;
      for (let i = 0; i < reps; i++) {
        const py = run(PYTHON, ['-c', COLLECT_PY, dir]);
        const js = run(process.execPath, [fileURLToPath(import.meta.url), 'ours', dir]);
        python.push(py.ms);
        ours.push(js.ms);
        if (i === 0) samples = sameSamples(py.body, js.body);
      }
      const p = median(python);
      const o = median(ours);
      console.log(`${shape.name} (${files} files, ${entries} entries, ${samples} merged samples): first scrape ours ${o.toFixed(1)} ms, Python ${p.toFixed(1)} ms: ${(p / o).toFixed(2)}x (medians of ${reps})`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
}

function run(cmd, args, env = {}) {
  const child = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 30, env: { ...process.env, ...env }, timeout: 300_000 });
  if (child.status !== 0) throw new Error(`${cmd} failed: ${child.stderr}`);
  return { ms: Number(child.stderr.trim().split('\n').pop()), body: child.stdout };
}

/** Entries in the directory's files (FORMAT.md: int32 used, then int32 key length, key, padding to 8, two doubles). */
function countEntries(dir) {
  let n = 0;
  for (const f of fs.readdirSync(dir)) {
    const image = fs.readFileSync(path.join(dir, f));
    const used = image.readInt32LE(0);
    for (let pos = 8; pos + 4 <= used; n++) {
      const keyLength = image.readInt32LE(pos);
      pos += 4 + keyLength + (8 - ((keyLength + 4) % 8)) + 16;
    }
  }
  return n;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

/** The merged samples of Python's output must be ours (values within 1e-9); returns their count. */
function sameSamples(python, ours) {
  const parse = (text) => {
    const m = new Map();
    for (const line of text.split('\n')) {
      if (line === '' || line.startsWith('#') || line.startsWith('prom_multiproc_')) continue;
      const at = line.lastIndexOf(' ');
      m.set(line.slice(0, at), Number(line.slice(at + 1)));
    }
    return m;
  };
  const a = parse(python);
  const b = parse(ours);
  if (a.size !== b.size) throw new Error(`Python has ${a.size} samples, ours ${b.size}`);
  for (const [k, v] of a) {
    const w = b.get(k);
    if (w === undefined || Math.abs(w - v) > 1e-9 * Math.max(1, Math.abs(v))) throw new Error(`sample ${k}: Python ${v}, ours ${w}`);
  }
  return a.size;
}

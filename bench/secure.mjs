// Secure scrape benchmark: scrapes per second of `prom-multiproc serve` over plain HTTP,
// over HTTPS, and over HTTPS with basic auth (bcrypt cost 10), in one run. No target: it
// shows what TLS and basic auth cost.
//
//   node bench/secure.mjs [--quick] [--out <file>] [--series 1000] [--seconds 3]
//
// Workload: one worker process writes S series (bench/workload.mjs: half labeled
// counters, half histograms) into a directory and exits; `prom-multiproc serve` (a child
// process, the real CLI) serves that directory with or without a web config file
// (certificates made by openssl for the run: EC P-256, TLS 1.3). This process scrapes it
// for a fixed time, gzip asked for as Prometheus does, one request at a time, the three
// servers taking turns in 250 ms rounds (a shared machine's load falls on all alike):
//
//   keep-alive      one connection reused (how Prometheus scrapes)
//   new connection  a TCP connection, and a TLS handshake, per scrape (the worst case)
//
// With basic auth, bcrypt runs once (the verified credential is remembered); the rate
// shows that no scrape pays it. Every response is checked (status 200, body size).
import { execFileSync, fork, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runWorkload } from './workload.mjs';

const thisFile = fileURLToPath(import.meta.url);
const here = path.dirname(thisFile);
const root = path.join(here, '..');
const args = process.argv.slice(2);
const argValue = (name) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);

if (args[0] === '--worker') {
  runWorkload(await import('@prom-multiproc/core'), Number(args[1]), 0);
  process.exit(0);
}

const quick = args.includes('--quick');
const series = Number(argValue('--series') ?? 1000);
const seconds = Number(argValue('--seconds') ?? (quick ? 1 : 3));
const outFile = argValue('--out') ? path.resolve(argValue('--out')) : path.join(here, 'results', quick ? 'tmp' : '', 'secure.json');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'pmp-bench-secure-'));
const bin = path.join(root, 'packages', 'core', 'bin', 'prom-multiproc.js');
const password = 'bench-password';

function openssl(...a) {
  execFileSync('openssl', a, { cwd: work, stdio: ['ignore', 'ignore', 'pipe'] });
}

function certificates() {
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
    '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', '/CN=bench-ca', '-addext', 'basicConstraints=critical,CA:TRUE');
  fs.writeFileSync(path.join(work, 'server.ext'), 'subjectAltName=IP:127.0.0.1\n');
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=bench');
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-out', 'server.crt', '-extfile', 'server.ext');
}

async function writeDirectory(dir) {
  const child = fork(thisFile, ['--worker', String(series)], { env: { ...process.env, PROMETHEUS_MULTIPROC_DIR: dir }, stdio: 'inherit' });
  const code = await new Promise((r) => child.once('exit', r));
  if (code !== 0) throw new Error(`workload process exited ${code}`);
}

/** Starts `prom-multiproc serve` on a free port; resolves with its URL and process. */
function serve(dir, webConfig) {
  const child = spawn(process.execPath, [bin, 'serve', '--dir', dir, '--port', '0', '--sweep-seconds', '0', ...(webConfig ? ['--web-config-file', webConfig] : [])], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /on (https?:\S+)/.exec(out);
      if (m) resolve({ child, url: m[1] });
    });
    child.stderr.on('data', (d) => (err += d));
    child.once('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
}

function get(url, agent, ca, auth) {
  const lib = url.startsWith('https:') ? https : http;
  return new Promise((resolve, reject) => {
    const headers = { 'Accept-Encoding': 'gzip' };
    if (auth) headers.Authorization = `Basic ${Buffer.from(auth).toString('base64')}`;
    const req = lib.get(url, { agent, ca, headers }, (res) => {
      let bytes = 0;
      res.on('data', (d) => (bytes += d.length));
      res.on('end', () => (res.statusCode === 200 && bytes > 0 ? resolve(bytes) : reject(new Error(`status ${res.statusCode}, ${bytes} bytes`))));
    });
    req.on('error', reject);
  });
}

/** Scrapes `url` for `ms` on `agent`; the number of scrapes, the time taken and the last body size. */
async function burst(url, agent, ca, auth, ms) {
  let n = 0;
  let bytes = 0;
  const t0 = process.hrtime.bigint();
  const until = t0 + BigInt(Math.round(ms * 1e6));
  while (process.hrtime.bigint() < until) {
    bytes = await get(url, agent, ca, auth);
    n++;
  }
  return { n, seconds: Number(process.hrtime.bigint() - t0) / 1e9, bytes };
}

const ROUND_MS = 250;

/**
 * Every setup's rate for one connection mode. The machine may be shared: the setups take
 * turns in short rounds (the order rotating), so each sees the same load from the rest.
 */
async function rates(setups, keepAlive, ca) {
  const agents = setups.map((s) => (keepAlive ? new (s.url.startsWith('https:') ? https : http).Agent({ keepAlive: true, maxSockets: 1 }) : false));
  for (const [i, s] of setups.entries()) for (let k = 0; k < 20; k++) await get(s.url, agents[i], ca, s.auth); // warm-up (and the one bcrypt)
  const totals = setups.map(() => ({ n: 0, seconds: 0, bytes: 0 }));
  const rounds = Math.max(1, Math.round((seconds * 1000) / ROUND_MS));
  for (let r = 0; r < rounds; r++) {
    for (let j = 0; j < setups.length; j++) {
      const i = (r + j) % setups.length;
      const b = await burst(setups[i].url, agents[i], ca, setups[i].auth, ROUND_MS);
      totals[i].n += b.n;
      totals[i].seconds += b.seconds;
      totals[i].bytes = b.bytes;
    }
  }
  for (const agent of agents) if (agent) agent.destroy();
  return totals.map((t) => ({ scrapes_per_second: Math.round(t.n / t.seconds), scrape_ms: Number(((t.seconds * 1000) / t.n).toFixed(3)), scrapes: t.n, gzip_bytes: t.bytes }));
}

async function main() {
  const loadavgStart = os.loadavg().map((x) => Number(x.toFixed(2)));
  const dir = path.join(work, 'metrics');
  fs.mkdirSync(dir);
  certificates();
  await writeDirectory(dir);
  const bcrypt = (await import(path.join(root, 'packages', 'core', 'node_modules', 'bcryptjs', 'index.js'))).default;
  const tlsFile = path.join(work, 'tls.yml');
  fs.writeFileSync(tlsFile, 'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n');
  const authFile = path.join(work, 'tls-auth.yml');
  fs.writeFileSync(authFile, `tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  prometheus: '${bcrypt.hashSync(password, 10)}'\n`);
  const ca = fs.readFileSync(path.join(work, 'ca.crt'));
  const setups = [
    { setup: 'http', webConfig: undefined },
    { setup: 'https', webConfig: tlsFile },
    { setup: 'https + basic auth', webConfig: authFile, auth: `prometheus:${password}` },
  ];
  const rows = [];
  const children = [];
  try {
    for (const s of setups) {
      const { child, url } = await serve(dir, s.webConfig);
      children.push(child);
      s.url = url;
    }
    for (const keepAlive of [true, false]) {
      const connection = keepAlive ? 'keep-alive' : 'new connection';
      const measured = await rates(setups, keepAlive, ca);
      for (const [i, r] of measured.entries()) {
        rows.push({ setup: setups[i].setup, connection, ...r });
        console.log(`  ${setups[i].setup.padEnd(19)} ${connection.padEnd(15)} ${String(r.scrapes_per_second).padStart(6)} scrapes/s  (${r.scrape_ms} ms each, ${r.gzip_bytes} B gzip)`);
      }
    }
  } finally {
    for (const child of children) {
      child.kill('SIGTERM');
      if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
    }
  }
  const base = Object.fromEntries(rows.filter((r) => r.setup === 'http').map((r) => [r.connection, r.scrapes_per_second]));
  for (const r of rows) r.relative_to_http = Number((r.scrapes_per_second / base[r.connection]).toFixed(2));
  const result = {
    what: 'scrapes per second of prom-multiproc serve, one request at a time, gzip; no target',
    series,
    seconds_per_case: seconds,
    tls: 'TLS 1.3, EC P-256 certificate',
    bcrypt_cost: 10,
    // 1/5/15-minute load averages: on a shared machine other work slows every setup.
    loadavg_start: loadavgStart,
    loadavg_end: os.loadavg().map((x) => Number(x.toFixed(2))),
    node: process.version,
    secure: rows,
  };
  fs.mkdirSync(path.dirname(outFile), { recursive: true });
  fs.writeFileSync(outFile, JSON.stringify(result, null, 2) + '\n');
  console.log(`wrote ${path.relative(process.cwd(), outFile)}`);
}

console.log(`secure scrape: ${series} series, ${seconds} s per case`);
try {
  await main();
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}

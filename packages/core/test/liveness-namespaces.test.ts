// Liveness across PID namespaces (a collector in a sidecar container, containers sharing
// the directory): real writers in their own PID namespaces (`unshare --pid`, needs root)
// with pids chosen through ns_last_pid. No live writer's file is ever folded, two writers
// with one pid keep apart, and PID reuse across users never makes a metric call throw.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Compactor } from '../src/collect/compactor.js';
import { judgeProcess } from '../src/collect/liveness.js';
import { DirectoryMerger } from '../src/collect/merge.js';
import { buildFileImage } from '../src/format/file-image.js';
import { encodeKey } from '../src/format/key.js';
import { tempDir } from './helpers/fixtures.js';

const WRITER = path.join(__dirname, 'helpers', 'namespace-writer.mjs');
const NOBODY = 65534;

interface Writer {
  child: ChildProcess;
  /** Its pid inside its namespace, and the id it writes under. */
  pid: number;
  id: string;
  send(line: string, reply: string): Promise<void>;
}

const writers: ChildProcess[] = [];
const dirs: string[] = [];
afterEach(() => {
  // Killing unshare (--kill-child) kills the namespace's init, and with it the writer.
  for (const child of writers.splice(0)) child.kill('SIGKILL');
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

beforeAll(() => {
  expect(process.getuid?.(), 'these tests start writers in new PID namespaces and need root').toBe(0);
  const probe = spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'true']);
  expect(probe.status, `unshare --pid failed: ${probe.stderr}`).toBe(0);
});

/** A pid that no process has in this namespace now. */
function freePidHere(): number {
  for (let pid = 20000 + Math.floor(Math.random() * 5000); ; pid++) {
    try {
      process.kill(pid, 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') return pid;
    }
  }
}

function newDir(mode = 0o755): string {
  const dir = tempDir('pmp-ns-');
  dirs.push(dir);
  fs.chmodSync(dir, mode);
  return dir;
}

/** Starts the writer in a new PID namespace, as pid `pid` there; optionally as another user. */
async function startWriter(dir: string, pid: number, uid?: number): Promise<Writer> {
  const asUser = uid === undefined ? '' : `setpriv --reuid=${uid} --regid=${uid} --clear-groups `;
  // The shell is the namespace's pid 1; the writer is the next fork, so it gets `pid`
  // (a background job's stdin would be /dev/null: it gets the shell's through fd 3).
  const script = `exec 3<&0; echo ${pid - 1} > /proc/sys/kernel/ns_last_pid; ${asUser}${process.execPath} ${WRITER} <&3 3<&- & wait`;
  const child = spawn('unshare', ['--pid', '--fork', '--mount-proc', '--kill-child', 'sh', '-c', script], {
    cwd: __dirname, env: { ...process.env, PROMETHEUS_MULTIPROC_DIR: dir }, stdio: ['pipe', 'pipe', 'pipe'],
  });
  writers.push(child);
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  child.on('exit', (code, signal) => {
    stderr += ` [exited ${code ?? signal}]`;
    waiter?.(`exited: ${stderr}`); // fail now, with its stderr, instead of at the timeout
  });
  const lines = readline.createInterface({ input: child.stdout! });
  const pending: string[] = [];
  let waiter: ((line: string) => void) | undefined;
  lines.on('line', (line) => (waiter ? waiter(line) : pending.push(line)));
  const next = () => new Promise<string>((resolve, reject) => {
    const line = pending.shift();
    if (line !== undefined) return resolve(line);
    const timer = setTimeout(() => reject(new Error(`writer said nothing in 60 s; stderr: ${stderr}`)), 60_000);
    waiter = (l) => {
      clearTimeout(timer);
      waiter = undefined;
      resolve(l);
    };
  });
  const ready = await next();
  const match = /^ready (\d+) (\S+)$/.exec(ready);
  if (!match) throw new Error(`unexpected writer output ${ready}; stderr: ${stderr}`);
  return {
    child, pid: Number(match[1]), id: match[2],
    async send(line, reply) {
      child.stdin!.write(`${line}\n`);
      expect(await next()).toBe(reply);
    },
  };
}

function total(dir: string): number {
  const family = new DirectoryMerger(dir).merge().families.find((f) => f.name === 'ns_jobs');
  return family ? family.samples.reduce((sum, s) => sum + s.value, 0) : 0;
}

describe('liveness across PID namespaces', () => {
  it('a live writer whose pid is free in the collector\'s namespace is never folded (start-up, sweeps, a blocked event loop)', async () => {
    const dir = newDir();
    const pid = freePidHere();
    const writer = await startWriter(dir, pid);
    expect(writer.pid).toBe(pid);
    expect(writer.id).toBe(String(pid));
    await writer.send('inc 100', 'ok');
    // The collector starts with --sweep-seconds 0: only its start-up fold runs.
    const compactor = await Compactor.start(dir, { sweepIntervalMs: 0, log: () => {} });
    try {
      expect(fs.existsSync(path.join(dir, `counter_${pid}.db`))).toBe(true);
      await writer.send('inc 100', 'ok');
      expect(total(dir)).toBe(200);
      // Even with its event loop stuck, the kernel answers for it.
      await writer.send('block 3000', 'blocking');
      expect(await compactor.sweep()).toEqual([]);
      expect(fs.existsSync(path.join(dir, `counter_${pid}.db`))).toBe(true);
      // Gone (SIGKILL): now it is folded, and nothing is lost.
      writer.child.kill('SIGKILL');
      let folded: string[] = [];
      for (let i = 0; i < 100 && folded.length === 0; i++) {
        folded = await compactor.sweep();
        if (folded.length === 0) await new Promise((r) => setTimeout(r, 100));
      }
      expect(folded).toEqual([String(pid)]);
      expect(total(dir)).toBe(200);
      // Its files are folded and its stale liveness socket is gone with them.
      expect(fs.readdirSync(dir).filter((n) => !n.startsWith('.prom-multiproc-compactor')).sort()).toEqual(['counter_archive.db']);
    } finally {
      await compactor.close();
    }
  }, 120_000);

  it('a stale socket whose files are gone is removed at start-up; a live one is kept', async () => {
    const dir = newDir();
    const live = await startWriter(dir, freePidHere());
    const gone = await startWriter(dir, freePidHere());
    gone.child.kill('SIGKILL');
    // Its namespace dies with unshare, a moment later: wait until its socket refuses.
    for (let i = 0; i < 200 && !(await judgeProcess(dir, gone.id)).staleSocket; i++) await new Promise((r) => setTimeout(r, 50));
    for (const name of fs.readdirSync(dir)) if (name.endsWith('.db')) fs.rmSync(path.join(dir, name)); // as --startup clear does
    const compactor = await Compactor.start(dir, { sweepIntervalMs: 0, log: () => {} });
    await compactor.close();
    expect(fs.readdirSync(dir).filter((n) => n.endsWith('.sock'))).toEqual([`.prom-multiproc-live.${live.id}.sock`]);
  }, 120_000);

  it('two live writers with one pid in two namespaces keep their own files', async () => {
    const dir = newDir();
    const pid = freePidHere();
    const first = await startWriter(dir, pid);
    const second = await startWriter(dir, pid);
    expect([first.pid, second.pid]).toEqual([pid, pid]);
    expect(first.id).toBe(String(pid));
    expect(second.id).toMatch(new RegExp(`^${pid}-\\d+$`)); // a fresh id: the pid's is taken
    await first.send('inc 100', 'ok');
    await second.send('inc 100', 'ok');
    expect(total(dir)).toBe(200);
    const compactor = await Compactor.start(dir, { sweepIntervalMs: 0, log: () => {} });
    try {
      await first.send('inc 100', 'ok');
      await second.send('inc 100', 'ok');
      expect(await compactor.sweep()).toEqual([]);
      expect(total(dir)).toBe(400);
      expect(fs.readdirSync(dir).filter((n) => n.endsWith('.db')).sort()).toEqual([`counter_${pid}.db`, `counter_${second.id}.db`].sort());
    } finally {
      await compactor.close();
    }
  }, 120_000);

  it('PID reuse across users in a sticky directory: the new process takes a fresh id instead of throwing', async () => {
    const dir = newDir(0o1777);
    const pid = freePidHere();
    // An earlier process with this pid (root's, exited) left its file; uid 65534 may not rename it.
    fs.writeFileSync(path.join(dir, `counter_${pid}.db`), buildFileImage([{ key: encodeKey('ns_jobs', 'ns_jobs_total', [], 'Jobs.'), value: 5, timestamp: 0 }]));
    const writer = await startWriter(dir, pid, NOBODY);
    expect(writer.pid).toBe(pid);
    expect(writer.id).toMatch(new RegExp(`^${pid}-\\d+$`));
    await writer.send('inc 100', 'ok');
    expect(fs.statSync(path.join(dir, `counter_${writer.id}.db`)).uid).toBe(NOBODY);
    expect(fs.existsSync(path.join(dir, `counter_${pid}.db`))).toBe(true);
    expect(total(dir)).toBe(105);
  }, 120_000);
});

// Which processes behind the files in a directory are gone. A writer that listens on a
// liveness socket (storage/liveness-socket.ts) is judged by it: the kernel accepts a
// connect while the process lives, whatever PID namespace it is in, and refuses it once
// the process is gone. Other writers (Python's, an explicit processId, a directory path
// too long for a socket) are judged by kill(pid, 0), which is only right when they share
// the collector's PID namespace.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ARCHIVE_ID, LIVENESS_SOCKET, isRetiredProcessId, livenessSocketName, parseDbFileName } from '../format/names.js';

/**
 * kill(pid, 0) of a numeric id (`<pid>`, `<pid>t<thread>`, `<pid>-<digits>`): true / false
 * when its pid is alive / gone in this PID namespace; undefined for ids that are not ours
 * to judge (archives, custom ids of Python processes). Does not look at liveness sockets:
 * for a directory, use `findDeadProcessIds`.
 */
export function isProcessAlive(id: string): boolean | undefined {
  if (id === ARCHIVE_ID) return undefined;
  if (isRetiredProcessId(id)) return false;
  const match = /^(\d+)(t\d+)?(-\d+)?$/.exec(id);
  if (!match) return undefined;
  try {
    process.kill(Number(match[1]), 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by another user
  }
}

/** How a process was judged: by its liveness socket, or by kill(pid, 0). */
export interface Verdict {
  id: string;
  alive: boolean | undefined;
  /** True when judged by a socket that refused: the socket file is stale and may go with the files. */
  staleSocket: boolean;
}

const CONNECT_TIMEOUT_MS = 2_000;

/** alive / dead / undefined (cannot tell: timeout, permissions) / 'gone' (no socket file after all). */
function probeSocket(file: string): Promise<boolean | undefined | 'gone'> {
  return new Promise((resolve) => {
    const socket = net.connect(file);
    const timer = setTimeout(() => done(undefined), CONNECT_TIMEOUT_MS);
    function done(result: boolean | undefined | 'gone') {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    }
    socket.once('connect', () => done(true));
    socket.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED') done(false); // nobody listens: its process is gone
      else if (err.code === 'ENOENT') done('gone');
      else if (err.code === 'EAGAIN') done(true); // a full backlog: someone listens
      else done(undefined);
    });
  });
}

/** Judges the writer of `id` in `dir`: by its liveness socket if it has one, else by kill(pid, 0). */
export async function judgeProcess(dir: string, id: string): Promise<Verdict> {
  if (id === ARCHIVE_ID || isRetiredProcessId(id)) return { id, alive: isProcessAlive(id), staleSocket: false };
  const file = path.join(dir, livenessSocketName(id));
  // lstat: a symlink planted under the socket's name is not a socket.
  if (fs.lstatSync(file, { throwIfNoEntry: false })?.isSocket()) {
    const answer = await probeSocket(file);
    if (answer !== 'gone') return { id, alive: answer, staleSocket: answer === false };
  }
  return { id, alive: isProcessAlive(id), staleSocket: false };
}

/** Ids with files in `dir`, each judged (the liveness sweep). */
export async function judgeProcesses(dir: string): Promise<Verdict[]> {
  const ids = new Set<string>();
  for (const name of fs.readdirSync(dir)) {
    const parsed = parseDbFileName(name);
    if (parsed && parsed.id !== ARCHIVE_ID) ids.add(parsed.id);
  }
  return Promise.all([...ids].map((id) => judgeProcess(dir, id)));
}

/** Ids of processes with files in `dir` that are dead. */
export async function findDeadProcessIds(dir: string): Promise<string[]> {
  return (await judgeProcesses(dir)).filter((v) => v.alive === false).map((v) => v.id);
}

/**
 * For a process judged dead by kill(pid, 0): false once a liveness socket has appeared
 * under its id. A new process with the same pid binds its socket before it writes a file,
 * so a compaction that lists the new file also sees the socket, and leaves both alone.
 */
export function stillDead(dir: string, verdict: Verdict): boolean {
  if (verdict.staleSocket) return true;
  return !fs.lstatSync(path.join(dir, livenessSocketName(verdict.id)), { throwIfNoEntry: false });
}

/** Deletes the stale liveness socket of a process whose files are all folded (it refused a connect, so nobody holds it). */
export function removeStaleSocket(dir: string, verdict: Verdict): void {
  if (!verdict.staleSocket) return;
  const file = path.join(dir, livenessSocketName(verdict.id));
  try {
    if (fs.lstatSync(file, { throwIfNoEntry: false })?.isSocket()) fs.unlinkSync(file);
  } catch {
    // Another user's, in a sticky directory: it stays; a new process with that pid takes a fresh id.
  }
}

/**
 * Deletes liveness sockets that no process listens on and no file uses (a SIGKILLed
 * writer's, after `--startup clear` removed its files). A socket with a listener is left:
 * a new writer binds its socket before its first file.
 */
export async function removeOrphanSockets(dir: string): Promise<void> {
  const names = fs.readdirSync(dir);
  const ids = new Set<string>();
  for (const name of names) {
    const parsed = parseDbFileName(name);
    if (parsed) ids.add(parsed.id);
  }
  const orphans = names.map((n) => LIVENESS_SOCKET.exec(n)?.[1]).filter((id): id is string => id !== undefined && !ids.has(id));
  await Promise.all(orphans.map(async (id) => {
    const verdict = await judgeProcess(dir, id);
    if (verdict.staleSocket) removeStaleSocket(dir, verdict);
  }));
}

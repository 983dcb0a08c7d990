// The landing page's view of a directory judges writers as the compactor does: a writer
// whose pid means nothing in this PID namespace is alive while its liveness socket answers.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { reportDirectory } from '../src/collect/directory-report.js';
import { livenessSocketName } from '../src/format/names.js';

const FIXTURE = path.join(__dirname, 'fixtures', 'python', 'counter_basic', 'counter_101.db');
// Above any pid_max Linux allows (2^22), so kill(pid, 0) says "no such process" here.
const FOREIGN_PID = '4194404';

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

function directoryWithWriter(id: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pmp-report-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.copyFileSync(FIXTURE, path.join(dir, `counter_${id}.db`));
  return dir;
}

describe('reportDirectory', () => {
  it('shows a writer alive while its liveness socket answers, though its pid is not in this namespace', async () => {
    const dir = directoryWithWriter(FOREIGN_PID);
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(path.join(dir, livenessSocketName(FOREIGN_PID)), resolve));
    cleanups.push(() => server.close());

    const alive = await reportDirectory(dir);
    expect(alive.processes.map((p) => [p.id, p.state])).toEqual([[FOREIGN_PID, 'alive']]);

    await new Promise<void>((resolve) => server.close(() => resolve()));
    // Its listener gone, the writer is dead (by a refused connect, or by kill(pid, 0) once the socket file is gone).
    const dead = await reportDirectory(dir);
    expect(dead.processes.map((p) => [p.id, p.state])).toEqual([[FOREIGN_PID, 'dead']]);
  });

  it('shows a writer without a socket dead when its pid is gone, and this process alive', async () => {
    const dir = directoryWithWriter(FOREIGN_PID);
    fs.copyFileSync(FIXTURE, path.join(dir, `counter_${process.pid}.db`));
    const report = await reportDirectory(dir);
    const states = Object.fromEntries(report.processes.map((p) => [p.id, p.state]));
    expect(states).toEqual({ [FOREIGN_PID]: 'dead', [String(process.pid)]: 'alive' });
  });
});

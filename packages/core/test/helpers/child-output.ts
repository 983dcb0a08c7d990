// Waiting on what a child process prints: tests start real writers and go on once they
// report (started, done N).
import type { ChildProcess } from 'node:child_process';

/** Resolves with the first match of `pattern` in the child's stdout; rejects if it exits first. */
export function waitForLine(child: ChildProcess, pattern: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    child.stdout!.on('data', (d) => {
      out += d;
      const match = out.match(pattern);
      if (match) resolve(match[0]);
    });
    child.once('exit', (code) => reject(new Error(`writer exited (${code}) before printing ${pattern}: ${err}`)));
  });
}

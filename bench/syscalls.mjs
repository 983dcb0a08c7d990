// Checks the "no system call" half of promise 7: runs bench/alloc.mjs under
// `strace -f` and counts the system calls its main thread makes between the
// "alloc-mark begin" and "alloc-mark end" writes that bracket each long run of updates.
//
//   node bench/syscalls.mjs [--ops 10000000]
//
// Needs strace and permission to ptrace (it says so and exits 2 otherwise).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const ops = args.includes('--ops') ? args[args.indexOf('--ops') + 1] : '10000000';
const here = path.dirname(fileURLToPath(import.meta.url));
const traceDir = fs.mkdtempSync(path.join(os.tmpdir(), 'prom-multiproc-strace-'));
const trace = path.join(traceDir, 'trace.txt');

const child = spawnSync('strace', ['-f', '-qq', '-s', '256', '-o', trace, process.execPath, '--expose-gc', path.join(here, 'alloc.mjs'), '--ops', ops], {
  stdio: ['ignore', 'ignore', 'inherit'],
});
if (child.error || !fs.existsSync(trace)) {
  console.error(`cannot run strace: ${child.error?.message ?? `exit ${child.status}`}`);
  process.exit(2);
}

// Lines look like `1234 write(21, "alloc-mark begin x\n", 20) = 20`; a call that another
// thread interrupts is split into `<unfinished ...>` and `<... name resumed>` halves, of
// which only the first is counted.
const windows = [];
let open;
for (const line of fs.readFileSync(trace, 'utf8').split('\n')) {
  const m = /^(\d+)\s+(?:<\.\.\. )?([a-z_0-9]+)[( ]/.exec(line);
  if (!m) continue;
  const [, tid, name] = m;
  const marker = /"alloc-mark (begin|end) (.*)\\n"/.exec(line);
  if (marker?.[1] === 'begin') {
    open = { path: marker[2], tid, main: {}, others: {} };
    continue;
  }
  if (marker?.[1] === 'end' && open && tid === open.tid) {
    windows.push(open);
    open = undefined;
    continue;
  }
  if (!open || line.includes(' resumed>')) continue;
  const bucket = tid === open.tid ? open.main : open.others;
  bucket[name] = (bucket[name] ?? 0) + 1;
}
fs.rmSync(traceDir, { recursive: true, force: true });

const total = (calls) => Object.values(calls).reduce((a, b) => a + b, 0);
const list = (calls) => Object.entries(calls).map(([k, v]) => `${k}×${v}`).join(' ') || '-';
console.log(`system calls during ${Number(ops).toLocaleString('en')} updates per path (strace -f; main thread = the one running the updates)\n`);
console.log(`${'path'.padEnd(56)}${'main thread'.padStart(12)}   other threads`);
for (const w of windows) console.log(`${w.path.padEnd(56)}${String(total(w.main)).padStart(12)}   ${list(w.others)}${total(w.main) ? `   main: ${list(w.main)}` : ''}`);
if (windows.length === 0) {
  console.error('no marked windows found in the trace');
  process.exit(2);
}

// A writer for the liveness tests: its storage comes from PROMETHEUS_MULTIPROC_DIR with the
// default (claimed) process id. Prints "ready <pid> <id>", then obeys stdin lines:
// "inc N" (prints "ok"), "block MS" (prints "blocking", then a busy event loop, then "unblocked"). Stays alive.
import { Counter, currentStorage } from '@prom-multiproc/core';
import readline from 'node:readline';

const jobs = new Counter({ name: 'ns_jobs_total', help: 'Jobs.' });
jobs.inc(0);
console.log(`ready ${process.pid} ${currentStorage().processId}`);
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const [cmd, arg] = line.trim().split(' ');
  if (cmd === 'inc') {
    for (let i = 0; i < Number(arg); i++) jobs.inc();
    console.log('ok');
  } else if (cmd === 'block') {
    console.log('blocking'); // (stdout to a pipe is synchronous on Linux: out before the loop)
    const until = Date.now() + Number(arg);
    while (Date.now() < until) { /* a worker stuck in a busy loop */ }
    console.log('unblocked');
  }
});
setInterval(() => {}, 60_000);

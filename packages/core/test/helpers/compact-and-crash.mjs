// Runs a compaction and SIGKILLs itself right after the named step: a collector that
// crashes mid-compaction. argv: dir ids(comma-separated) step
import { compactDeadProcesses } from '@prom-multiproc/core';

const [dir, ids, crashAfter] = process.argv.slice(2);
compactDeadProcesses(dir, ids.split(','), {
  afterStep(step) {
    if (step === crashAfter) process.kill(process.pid, 'SIGKILL');
  },
});
console.log('finished without crashing');

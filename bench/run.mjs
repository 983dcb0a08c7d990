// Entry point of `pnpm bench`: runs each benchmark in a fresh node process (so one
// benchmark's JIT state and heap never colour another's).
//
//   node --expose-gc bench/run.mjs [--quick] [hotpath] [scrape] [churn] [alloc] [syscalls]
//
// Without names it runs `hotpath`, `scrape` and `churn`. --quick makes each one shorter: hotpath runs fewer,
// shorter rounds and writes the same JSON shape to bench/results/tmp/ (never over the
// committed full results); alloc and syscalls do 1M instead of 10M updates per path.
// alloc writes bench/results/alloc.json (quick: bench/results/tmp/alloc.json).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const BENCHES = {
  hotpath: { file: 'hotpath.mjs', flags: ['--expose-gc'], fullArgs: [], quickArgs: ['--quick'] },
  alloc: {
    file: 'alloc.mjs',
    flags: ['--expose-gc'],
    fullArgs: ['--json', path.join(here, 'results', 'alloc.json')],
    quickArgs: ['--ops', '1000000', '--json', path.join(here, 'results', 'tmp', 'alloc.json')],
  },
  syscalls: { file: 'syscalls.mjs', flags: [], fullArgs: [], quickArgs: ['--ops', '1000000'] },
  // Writes bench/results/scrape.json (quick: a smaller grid, to bench/results/tmp/scrape.json).
  scrape: { file: 'scrape.mjs', flags: [], fullArgs: [], quickArgs: ['--quick'] },
  // Writes bench/results/churn.json (quick: 100 restarts instead of 1000, to bench/results/tmp/churn.json).
  churn: { file: 'churn.mjs', flags: [], fullArgs: [], quickArgs: ['--quick'] },
};

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const unknown = args.filter((a) => a.startsWith('-') && a !== '--quick');
const names = args.filter((a) => !a.startsWith('-'));
const bad = names.filter((n) => !(n in BENCHES));
if (unknown.length || bad.length) {
  console.error(`unknown ${[...unknown, ...bad].join(', ')}; usage: run.mjs [--quick] [${Object.keys(BENCHES).join('] [')}]`);
  process.exit(2);
}

let failed = false;
for (const name of names.length ? names : ['hotpath', 'scrape', 'churn']) {
  const bench = BENCHES[name];
  const benchArgs = quick ? bench.quickArgs : bench.fullArgs;
  const child = spawnSync(process.execPath, [...bench.flags, path.join(here, bench.file), ...benchArgs], { stdio: 'inherit' });
  if (child.status !== 0) {
    console.error(`bench ${name} failed (${child.error?.message ?? `exit ${child.status ?? child.signal}`})`);
    failed = true;
  }
  console.log();
}
process.exitCode = failed ? 1 : 0;

#!/usr/bin/env node
// Thin launcher: the CLI itself is compiled to dist/ during set-up.
import v8 from 'node:v8';

// `serve` is a collector process: its first scrape makes long-lived state, which makes V8
// grow the young generation to its maximum (2 × 16 MB), and a steady scrape allocates
// little, so that space would stay committed for nothing. Keep it at its initial size, as
// the PM2 module does with --max-semi-space-size=1 (bench/README.md: ~35 MB less RSS at
// 8 × 10,000, no slower). Unless the user chose the young generation's size.
// (`--v8-pool-size=1` and `--initial-old-space-size=64`, the PM2 module's other flags, can
// only be given when Node starts: docs/collector.md, "Memory".)
if (process.argv[2] === 'serve' && ![...process.execArgv, process.env.NODE_OPTIONS ?? ''].some((a) => a.includes('--max-semi-space-size'))) {
  v8.setFlagsFromString('--semi-space-growth-factor=1');
}
import('../dist/esm/cli/main.js').then((cli) => cli.main(process.argv.slice(2))).then(
  (code) => { process.exitCode = code; },
  (err) => { console.error(err instanceof Error ? err.message : err); process.exitCode = 1; },
);

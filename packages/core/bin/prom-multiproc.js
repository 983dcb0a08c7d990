#!/usr/bin/env node
// Thin launcher: the CLI itself is compiled to dist/ during set-up.
import('../dist/esm/cli/main.js').then((cli) => cli.main(process.argv.slice(2))).then(
  (code) => { process.exitCode = code; },
  (err) => { console.error(err instanceof Error ? err.message : err); process.exitCode = 1; },
);

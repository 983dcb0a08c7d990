import path from 'node:path';
import { defineConfig, type Plugin } from 'vitest/config';

// Core's TypeScript source loads its collector side up front in the tests: its lazy loader
// (src/lazy/heavy-modules.ts) require()s compiled .js files, which the source does not have.
const CORE_LAZY = path.resolve(__dirname, 'packages/core/src/lazy');
const eagerCoreSource: Plugin = {
  name: 'eager-core-source',
  enforce: 'pre',
  resolveId(source, importer) {
    if (source === './heavy-modules.js' && importer && path.dirname(importer) === CORE_LAZY) return path.join(CORE_LAZY, 'eager-modules.ts');
    return null;
  },
};

// The core's file-format, merge and lifecycle tests run twice: with the mmap addon, and
// with the storage that works where no binary loads (PROM_MULTIPROC_STORAGE=fallback).
const FALLBACK_SUITE = [
  'packages/core/test/format.test.ts',
  'packages/core/test/merge.test.ts',
  'packages/core/test/compaction.test.ts',
  'packages/core/test/processes.test.ts',
  'packages/core/test/metrics.test.ts',
  'packages/core/test/process-labels.test.ts',
  'packages/core/test/cli.test.ts',
  'packages/core/test/exemplar-processes.test.ts',
  'test/cluster.test.ts',
  'packages/core/test/native-histogram.test.ts',
  'test/native-histograms.test.ts',
  'packages/core/test/summary-window.test.ts',
  'packages/core/test/collector-churn.test.ts',
  'packages/core/test/series-cache.test.ts',
  'packages/core/test/rewritten-in-place.test.ts',
  'packages/core/test/known-keys.test.ts',
  'packages/core/test/merged-sample-values.test.ts',
  'packages/core/test/exit-flush.test.ts',
];

export default defineConfig({
  plugins: [eagerCoreSource],
  test: {
    // Tests start real processes; each file runs in its own forked process.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Every file removes the temp dirs it made with the shared tempDir() helper when it ends.
    setupFiles: [path.resolve(__dirname, 'packages/core/test/helpers/remove-temp-dirs.ts')],
    projects: [
      {
        extends: true,
        test: { name: 'mmap', include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'], env: { PROM_MULTIPROC_STORAGE: 'mmap' } },
      },
      {
        extends: true,
        test: { name: 'fallback', include: FALLBACK_SUITE, env: { PROM_MULTIPROC_STORAGE: 'fallback' } },
      },
    ],
  },
});

// Loads the modules only a collector, a server or a cluster primary needs (with yaml,
// protobufjs, bcryptjs, node:http/tls) on first use, so a worker that imports the package
// for its metrics does not hold them (~10 MB of RSS). The API stays synchronous:
// - each module is named in a literal require() below, which a bundler follows (esbuild:
//   tested) and bundles, still evaluated on first use;
// - unbundled, an ES module is loaded with createRequire's require() (Node >= 20.19,
//   22.12) into the same module graph as import;
// - a Node without require(esm) loads the package's CommonJS build of the module instead
//   (both builds share one registry and one storage: process-state.ts).
// No top-level await: a module graph with one cannot be require()d, and esbuild refuses it
// in CommonJS output. The CommonJS build uses heavy-modules-cjs.cts in place of this file;
// the tests that run the TypeScript source take eager-modules.ts (vitest.config.ts).
import { createRequire } from 'node:module';
import type { HeavyModules } from './eager-modules.js';
import { HEAVY_MODULE_PATHS } from './heavy-module-paths.js';

// Undefined in a bundle made CommonJS from this ES module build (esbuild, format 'cjs').
// @ts-ignore TS1470 in the CommonJS pass (tshy type-checks this file as CommonJS too; it is not emitted there)
const here: string | undefined = import.meta.url;
const canRequireEsm = (process.features as { require_module?: boolean }).require_module === true;
// In a bundle this file is not where the package puts it. Unbundled, a `require` in scope
// is not ours (`node -e` and the REPL make one global, relative to the working directory).
const bundled = here === undefined || !here.endsWith('/dist/esm/lazy/heavy-modules.js');
const requireHere = bundled ? undefined : createRequire(here);

type Loaders = { readonly [K in keyof HeavyModules]: () => HeavyModules[K] };
const BUNDLED: Loaders = {
  aggregatorRegistry: () => require('../interop/aggregator-registry.js'),
  collector: () => require('../collect/collector.js'),
  compaction: () => require('../collect/compaction.js'),
  compactor: () => require('../collect/compactor.js'),
  liveness: () => require('../collect/liveness.js'),
  merge: () => require('../collect/merge.js'),
  primary: () => require('../cluster/primary.js'),
  protobuf: () => require('../collect/protobuf.js'),
  pushgateway: () => require('../interop/pushgateway.js'),
  reader: () => require('../format/reader.js'),
  server: () => require('../serve/server.js'),
  webConfig: () => require('../serve/web-config.js'),
};

const loaded: Partial<HeavyModules> = {};

function load<K extends keyof HeavyModules>(name: K): HeavyModules[K] {
  if (bundled) return BUNDLED[name]();
  const file = HEAVY_MODULE_PATHS[name];
  return requireHere!(canRequireEsm ? file : `../../commonjs/${file.slice('../'.length)}`) as HeavyModules[K];
}

/** The module `name`, loaded now if it was not. */
export function heavy<K extends keyof HeavyModules>(name: K): HeavyModules[K] {
  return (loaded[name] ??= load(name));
}

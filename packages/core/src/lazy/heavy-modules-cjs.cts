// The CommonJS build's heavy-modules.ts (see there): require() loads a module on first use
// (and caches it). Literal require()s, so a bundler follows them as it did before.
import type { HeavyModules } from './eager-modules.js';

const LOADERS: { readonly [K in keyof HeavyModules]: () => HeavyModules[K] } = {
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

/** The module `name`, loaded now if it was not. */
export function heavy<K extends keyof HeavyModules>(name: K): HeavyModules[K] {
  return LOADERS[name]();
}

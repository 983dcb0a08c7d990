import type { HeavyModules } from './eager-modules.js';

/** Where each of the modules a worker does not need is, relative to this folder. */
export const HEAVY_MODULE_PATHS: { readonly [K in keyof HeavyModules]: string } = {
  aggregatorRegistry: '../interop/aggregator-registry.js',
  collector: '../collect/collector.js',
  compaction: '../collect/compaction.js',
  compactor: '../collect/compactor.js',
  liveness: '../collect/liveness.js',
  merge: '../collect/merge.js',
  primary: '../cluster/primary.js',
  protobuf: '../collect/protobuf.js',
  pushgateway: '../interop/pushgateway.js',
  reader: '../format/reader.js',
  server: '../serve/server.js',
  webConfig: '../serve/web-config.js',
};

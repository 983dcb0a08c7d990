// The modules only a collector, a server or a cluster primary needs, all loaded up front.
// `heavy-modules.ts` loads them on first use instead; the tests that run the TypeScript
// source use this file in its place (vitest.config.ts), and its type names them all.
import * as aggregatorRegistry from '../interop/aggregator-registry.js';
import * as collector from '../collect/collector.js';
import * as compaction from '../collect/compaction.js';
import * as compactor from '../collect/compactor.js';
import * as liveness from '../collect/liveness.js';
import * as merge from '../collect/merge.js';
import * as primary from '../cluster/primary.js';
import * as protobuf from '../collect/protobuf.js';
import * as pushgateway from '../interop/pushgateway.js';
import * as reader from '../format/reader.js';
import * as server from '../serve/server.js';
import * as webConfig from '../serve/web-config.js';

const modules = { aggregatorRegistry, collector, compaction, compactor, liveness, merge, primary, protobuf, pushgateway, reader, server, webConfig };

export type HeavyModules = typeof modules;

/** The module `name`, loaded. */
export function heavy<K extends keyof HeavyModules>(name: K): HeavyModules[K] {
  return modules[name];
}

// Loads the modules only a collector, a server or a cluster primary needs (with yaml,
// protobufjs, bcryptjs, node:http/tls) on first use, so a worker that imports the package
// for its metrics does not hold them (~10 MB of RSS). The API stays synchronous: an ES
// module is loaded synchronously with require() (Node >= 20.19, 22.12), into the same
// module graph as import. Where that is not possible (an older Node, or the TypeScript
// source run by the tests) everything is loaded up front, as before. The CommonJS build
// uses heavy-modules-cjs.cts in place of this file.
import { createRequire } from 'node:module';
import type { HeavyModules } from './eager-modules.js';
import { HEAVY_MODULE_PATHS } from './heavy-module-paths.js';

// The ts-ignores: tshy type-checks this file as CommonJS too, where it is not emitted.
// @ts-ignore TS1470 in the CommonJS pass
const here: string = import.meta.url;
const requireModule = createRequire(here);
const canRequireEsm = (process.features as { require_module?: boolean }).require_module === true && !here.endsWith('.ts');
// @ts-ignore TS1309 in the CommonJS pass
const eager = canRequireEsm ? undefined : await import('./eager-modules.js');
const loaded: Partial<HeavyModules> = {};

/** The module `name`, loaded now if it was not. */
export function heavy<K extends keyof HeavyModules>(name: K): HeavyModules[K] {
  if (eager) return eager.heavy(name);
  return (loaded[name] ??= requireModule(HEAVY_MODULE_PATHS[name]) as HeavyModules[K]);
}

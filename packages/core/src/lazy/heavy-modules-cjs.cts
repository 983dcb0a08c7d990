// The CommonJS build's heavy-modules.ts (see there): require() loads a module on first use.
import type { HeavyModules } from './eager-modules.js';
import { HEAVY_MODULE_PATHS } from './heavy-module-paths.js';

/** The module `name`, loaded now if it was not (require caches it). */
export function heavy<K extends keyof HeavyModules>(name: K): HeavyModules[K] {
  return require(HEAVY_MODULE_PATHS[name]) as HeavyModules[K];
}

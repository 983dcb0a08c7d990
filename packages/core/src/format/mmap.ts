// Loads the mmap addon (`mmap-io` API) once, with an error that says how to fix a
// missing or unbuilt addon instead of a bare MODULE_NOT_FOUND.
import { packageRequire } from './package-require.js';

export interface MmapAddon {
  map(size: number, protection: number, flags: number, fd: number, offset?: number): Buffer;
  readonly PROT_READ: number;
  readonly PROT_WRITE: number;
  readonly MAP_SHARED: number;
}

let addon: MmapAddon | undefined;

export function loadMmap(): MmapAddon {
  if (addon) return addon;
  try {
    addon = packageRequire('@riaskov/mmap-io') as MmapAddon;
  } catch (err) {
    const reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new Error(
      `prom-multiproc: the mmap addon @riaskov/mmap-io could not be loaded (${reason}). ` +
        'It is a native addon built from source at install time: install python3, make and a C++ ' +
        'compiler (Debian: apt-get install python3 make g++), allow its build script ' +
        "(pnpm: onlyBuiltDependencies: ['@riaskov/mmap-io'] in pnpm-workspace.yaml) and run " +
        '`pnpm rebuild @riaskov/mmap-io` (npm: `npm rebuild @riaskov/mmap-io`).',
      { cause: err },
    );
  }
  return addon;
}

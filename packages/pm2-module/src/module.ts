// Entry point PM2 runs (package.json `apps`): reads the module's settings, serves the
// merged directory, and stops cleanly on PM2's SIGINT (stop, restart, `pm2 set`, uninstall).
import fs from 'node:fs';
import { readConfig, MODULE_NAME } from './config.js';
import { startPm2Collector, type Pm2Collector } from './collector.js';
import { Pm2Client, loadPm2 } from './pm2.js';

/** Time allowed to stop: below PM2's default kill_timeout (1.6 s), after which it SIGKILLs. */
const STOP_MS = 1_200;
/** A module that cannot start waits before it exits, so PM2's restarts do not spin. */
const FAILED_START_DELAY_MS = 10_000;

const log = (message: string) => console.log(message);

async function main(): Promise<void> {
  const pkg = JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string; config?: Record<string, unknown> };
  const { config, problems } = readConfig(pkg.config ?? {});
  for (const problem of problems) console.error(`${MODULE_NAME}: ${problem}`);
  const { api, from } = loadPm2();
  log(`${MODULE_NAME} ${pkg.version ?? ''} (pm2 from ${from}, node flags ${process.execArgv.join(' ') || 'none'}): ${JSON.stringify(config)}`);

  let stopping = false;
  let started: Promise<Pm2Collector | undefined> = Promise.resolve(undefined);
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log(`${MODULE_NAME}: ${signal}, stopping`);
    setTimeout(() => process.exit(0), STOP_MS).unref();
    // A stop that comes while starting waits for the start (it may be taking the
    // compaction lock), then releases everything, so the next start can compact at once.
    void started.then((running) => running?.close()).finally(() => process.exit(0));
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));

  started = startPm2Collector({ config, pm2: new Pm2Client(api), log }).catch((err: unknown) => {
    console.error(`${MODULE_NAME}: cannot start: ${err instanceof Error ? err.message : String(err)}; exiting in ${FAILED_START_DELAY_MS / 1000} s (pm2 set ${MODULE_NAME}:<key> <value> to fix the settings)`);
    if (!stopping) setTimeout(() => process.exit(1), FAILED_START_DELAY_MS);
    return undefined;
  });
}

void main();

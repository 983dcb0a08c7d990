// pm2-prom-multiproc: a PM2 module that serves the merged metrics of PM2 apps. PM2 runs
// dist/module.js; these exports are for tests and for embedding the same collector.
export { MODULE_NAME, readConfig, defaultDirectory, type ModuleConfig } from './config.js';
export { startPm2Collector, type Pm2Collector, type Pm2CollectorOptions } from './collector.js';
export { ProcessTable, fromListEntry, type Pm2Process } from './processes.js';
export { Pm2Client, loadPm2, type Pm2Api, type Pm2ListEntry, type ProcessEventPacket } from './pm2.js';

// Placeholder until the PM2 module issue: the package builds and names its purpose.
export const moduleName = 'pm2-prom-multiproc';

// A CommonJS Express 5 app instrumented by express-prom-bundle (real prom-client), run by
// PM2 in cluster mode and moved to prom-multiproc by following docs/migration.md: the
// import changed, prom-client's register bridged, default metrics ours. It has no signal
// handler of its own, like most apps: PM2's SIGINT ends it at once.
const express = require('express');
const promBundle = require('express-prom-bundle');
const promClient = require('prom-client');
const { Counter, bridgePromClient, collectDefaultMetrics } = require('@prom-multiproc/core/prom-client');

// A native counter next to the bundle's bridged histogram: counted before the answer goes out.
const requests = new Counter({ name: 'http_requests_total', help: 'Requests answered.', labelNames: ['route'] });
const work = requests.labels('/work');
collectDefaultMetrics();

const app = express();
app.use(promBundle({
  includeMethod: true,
  includePath: true,
  autoregister: false, // the module serves /metrics, not the app
  includeUp: false, // Prometheus has its own `up`
  // Left in place on purpose although the guide says to drop it: prom-client's default
  // metrics then shadow ours by name, which must cost one log line per process, no more.
  promClient: { collectDefaultMetrics: {} },
}));
bridgePromClient(promClient.register);

app.get('/work', (req, res) => {
  work.inc();
  res.set('Connection', 'close').send(String(process.pid));
});

app.listen(Number(process.env.APP_PORT), '127.0.0.1');

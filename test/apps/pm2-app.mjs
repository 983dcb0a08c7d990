// An HTTP app for the PM2 end-to-end test, run by PM2 (cluster mode or fork mode). Every
// request is counted before it is answered; it stops gracefully on PM2's SIGINT so that
// an answered request is a counted one and a counted one is answered.
import http from 'node:http';

const { Counter, Gauge, Histogram } = await import('@prom-multiproc/core');

const requests = new Counter({ name: 'app_requests_total', help: 'Requests answered.', labelNames: ['route'] });
const up = new Gauge({ name: 'app_workers_up', help: 'Live workers.' }); // livesum
const size = new Histogram({ name: 'app_request_bytes', help: 'Request path length.', buckets: [1, 10] });
up.set(1);
const counted = requests.labels('/work');

const server = http.createServer((req, res) => {
  counted.inc();
  size.observe(req.url.length);
  res.writeHead(200, { 'Content-Type': 'text/plain', Connection: 'close' });
  res.end(`${process.pid}\n`);
});
server.keepAliveTimeout = 1;
server.listen(Number(process.env.APP_PORT), '127.0.0.1', () => process.send?.('ready'));

let stopping = false;
process.on('SIGINT', () => {
  if (stopping) return;
  stopping = true;
  server.close(() => process.exit(0));
  server.closeIdleConnections();
  setTimeout(() => process.exit(0), 1000).unref();
});

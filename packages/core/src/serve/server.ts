// Serves a collector's scrape on its own port with node:http. Everything it does per
// request is read files and render; a worker is never asked for anything.
import http from 'node:http';
import { gzipSync } from 'node:zlib';
import type { Collector, ExpositionFormat } from '../collect/collector.js';
import { LANDING_PAGE_CSP, renderLandingPage } from './landing-page.js';

export interface MetricsServerOptions {
  collector: Collector;
  port: number;
  /** Default 127.0.0.1; use 0.0.0.0 to be scraped from other hosts. */
  host?: string;
  path?: string;
  /** Whole-request timeout in ms (default 10 s). */
  requestTimeoutMs?: number;
  log?: (message: string) => void;
}

export interface MetricsServer {
  server: http.Server;
  /** The bound address, e.g. http://127.0.0.1:9464/metrics */
  url: string;
  close(): Promise<void>;
}

function wantsOpenMetrics(accept: string | undefined): boolean {
  return accept !== undefined && accept.includes('application/openmetrics-text');
}

function acceptsGzip(acceptEncoding: string | undefined): boolean {
  return acceptEncoding !== undefined && /\bgzip\b/.test(acceptEncoding) && !/\bgzip;\s*q=0(\.0+)?\b/.test(acceptEncoding);
}

export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const { collector, port, host = '127.0.0.1', path = '/metrics' } = options;
  const log = options.log ?? ((m: string) => console.error(m));
  const server = http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const landing = url.pathname === '/' && path !== '/';
      if (url.pathname !== path && !landing) {
        res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`Not found. Metrics are at ${path}\n`);
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' }).end('Method not allowed\n');
        return;
      }
      if (landing) {
        const page = Buffer.from(renderLandingPage(collector, path), 'utf8');
        res.writeHead(200, {
          'Content-Type': 'text/html; charset=utf-8', 'Content-Length': page.length,
          'Content-Security-Policy': LANDING_PAGE_CSP, 'X-Content-Type-Options': 'nosniff',
        });
        res.end(req.method === 'HEAD' ? undefined : page);
        return;
      }
      const format: ExpositionFormat = wantsOpenMetrics(req.headers.accept) ? 'openmetrics' : 'text';
      const { body, contentType } = await collector.scrape(format);
      let payload: Buffer = Buffer.from(body, 'utf8');
      const headers: http.OutgoingHttpHeaders = { 'Content-Type': contentType, Vary: 'Accept, Accept-Encoding' };
      if (acceptsGzip(req.headers['accept-encoding'])) {
        payload = gzipSync(payload);
        headers['Content-Encoding'] = 'gzip';
      }
      headers['Content-Length'] = payload.length;
      res.writeHead(200, headers);
      res.end(req.method === 'HEAD' ? undefined : payload);
    } catch (err) {
      log(`prom-multiproc: scrape failed: ${err instanceof Error ? err.stack : String(err)}`);
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('Scrape failed; see the collector log\n');
    }
  });
  server.requestTimeout = options.requestTimeoutMs ?? 10_000;
  server.headersTimeout = Math.min(server.requestTimeout, 5_000);
  server.keepAliveTimeout = 5_000;
  // A malformed request gets a 400 and its socket closed; the server goes on.
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'EADDRINUSE'
          ? new Error(`prom-multiproc: port ${port} on ${host} is already in use`)
          : new Error(`prom-multiproc: cannot listen on ${host}:${port} (${err.code ?? err.message})`),
      );
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const address = server.address();
  const boundPort = typeof address === 'object' && address ? address.port : port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    server,
    url: `http://${shownHost}:${boundPort}${path}`,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

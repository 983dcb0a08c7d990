// Serves a collector's scrape on its own port with node:http. Everything it does per
// request is read files and render; a worker is never asked for anything.
import http from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
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
  /**
   * Open connections at most (default 64). At the cap a new connection closes the
   * connection that has been idle longest, so idle connections (a slow-loris, a
   * misbehaving client) can neither exhaust file descriptors nor lock scrapes out.
   */
  maxConnections?: number;
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
  const maxConnections = options.maxConnections ?? 64;
  const open = new Set<Socket>();
  const busy = new Set<Socket>();
  const idleSince = new WeakMap<Socket, number>();
  // Idle connections are checked every second, not every 30 s (Node's default), so the
  // header and keep-alive timeouts below close them promptly.
  const server = http.createServer({ connectionsCheckingInterval: 1_000 }, async (req, res) => {
    const socket = req.socket;
    busy.add(socket);
    res.once('close', () => {
      busy.delete(socket);
      idleSince.set(socket, performance.now());
    });
    try {
      // The path only, as sent: `new URL` would throw on `//` and friends.
      const target = req.url ?? '/';
      const query = target.search(/[?#]/);
      const pathname = query === -1 ? target : target.slice(0, query);
      const landing = pathname === '/' && path !== '/';
      if (pathname !== path && !landing) {
        res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`Not found. Metrics are at ${path}\n`);
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' }).end('Method not allowed\n');
        return;
      }
      if (landing) {
        const page = Buffer.from(await renderLandingPage(collector, path), 'utf8');
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
      log(`prom-multiproc: scrape failed: ${err instanceof Error ? err.message : String(err)}`);
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('Scrape failed; see the collector log\n');
    }
  });
  server.requestTimeout = options.requestTimeoutMs ?? 10_000;
  server.headersTimeout = Math.min(server.requestTimeout, 5_000);
  server.keepAliveTimeout = 5_000;
  // Connection cap: at the cap, a new connection evicts the longest-idle one (a connection
  // between requests or that has sent nothing yet); if every connection is busy, the new
  // one is refused. Keeps descriptors bounded and scrapes served.
  server.on('connection', (socket: Socket) => {
    if (open.size >= maxConnections) {
      let oldest: Socket | undefined;
      for (const s of open) {
        if (busy.has(s)) continue;
        if (!oldest || (idleSince.get(s) ?? 0) < (idleSince.get(oldest) ?? 0)) oldest = s;
      }
      if (oldest) oldest.destroy();
      else {
        socket.destroy();
        return;
      }
    }
    open.add(socket);
    idleSince.set(socket, performance.now());
    socket.once('close', () => {
      open.delete(socket);
      busy.delete(socket);
    });
  });
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

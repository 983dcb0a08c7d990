// Serves a collector's scrape on its own port with node:http, or node:https when a web
// config file (exporter-toolkit's format, web-config.ts) asks for TLS. Everything it does
// per request is check credentials, read files and render; a worker is never asked for
// anything.
//
// Every request, whatever its path, passes the same gate: client certificate (checked
// once per connection), rate limit, extra headers, basic auth. Then the metrics path is
// the scrape, `/` the landing page for people, anything else 404.
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type tls from 'node:tls';
import { gzipSync } from 'node:zlib';
import type { Collector, ExpositionFormat } from '../collect/collector.js';
import type { Family } from '../collect/exposition.js';
import { BasicAuth } from './basic-auth.js';
import { GzipParts } from './gzip-parts.js';
import { refuseClient, requestsCertificate } from './client-certificate.js';
import { wantsProtobuf } from '../collect/protobuf-negotiation.js';
import { LANDING_PAGE_CSP, renderLandingPage } from './landing-page.js';
import { RateLimit } from './rate-limit.js';
import { loadWebConfig, type TlsSettings, type WebConfig } from './web-config.js';
import { WebConfigWatch } from './web-config-watch.js';

type RequestHandler = (req: http.IncomingMessage, res: http.ServerResponse) => void | Promise<void>;

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
  /**
   * exporter-toolkit web config file (Prometheus' `--web.config.file`): TLS, client
   * certificates, basic auth, extra headers. Read now (a bad file throws WebConfigError
   * naming the field) and again whenever it or a file it names changes.
   */
  webConfigFile?: string;
  /** How often the web config and its files are checked for changes, in ms (default 1000). */
  webConfigCheckMs?: number;
}

export interface MetricsServer {
  server: http.Server | https.Server;
  /** The bound address, e.g. http://127.0.0.1:9464/metrics (https:// with TLS). */
  url: string;
  close(): Promise<void>;
}

function wantsOpenMetrics(accept: string | undefined): boolean {
  return accept !== undefined && accept.includes('application/openmetrics-text');
}

function acceptsGzip(acceptEncoding: string | undefined): boolean {
  return acceptEncoding !== undefined && /\bgzip\b/.test(acceptEncoding) && !/\bgzip;\s*q=0(\.0+)?\b/.test(acceptEncoding);
}

/** Connections and requests the server turned away, for the collector's self-metrics. */
class Refusals {
  readonly byReason = new Map<string, number>([['basic_auth', 0], ['client_certificate', 0], ['tls_handshake', 0], ['rate_limit', 0]]);
  count(reason: 'basic_auth' | 'client_certificate' | 'tls_handshake' | 'rate_limit'): void {
    this.byReason.set(reason, (this.byReason.get(reason) ?? 0) + 1);
  }
}

export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const { collector, port, host = '127.0.0.1', path = '/metrics' } = options;
  const log = options.log ?? ((m: string) => console.error(m));
  const initial: WebConfig | undefined = options.webConfigFile !== undefined ? loadWebConfig(options.webConfigFile) : undefined;
  let tlsSettings: TlsSettings | undefined = initial?.tls;
  let auth = new BasicAuth(initial?.users ?? new Map());
  let headers: Array<[string, string]> = initial?.headers ?? [];
  const limiterFor = (config: WebConfig | undefined) => (config?.rateLimit ? new RateLimit(config.rateLimit.burst, config.rateLimit.intervalMs) : undefined);
  let limiter = limiterFor(initial);
  const refusals = new Refusals();
  const said = new Set<string>();
  const logOnce = (message: string) => {
    if (said.has(message) || said.size > 100) return;
    said.add(message);
    log(message);
  };

  // Per text format: the compressed parts of its previous body, reused where the bytes are the same.
  const gzipParts = new Map<ExpositionFormat, GzipParts>();
  const serveMetrics: RequestHandler = async (req, res) => {
    let payload: Buffer;
    let contentType: string;
    const gzip = acceptsGzip(req.headers['accept-encoding']);
    if (wantsProtobuf(req.headers.accept)) {
      const scrape = await collector.scrapeProtobuf();
      payload = Buffer.from(scrape.body.buffer, scrape.body.byteOffset, scrape.body.byteLength);
      if (gzip) payload = gzipSync(payload);
      contentType = scrape.contentType;
    } else {
      const format: ExpositionFormat = wantsOpenMetrics(req.headers.accept) ? 'openmetrics' : 'text';
      // The renderer's own bytes: compressed or copied before anything else runs.
      [payload, contentType] = await collector.scrapeWith(format, (exposition) => {
        if (!gzip) return [Buffer.from(exposition.bytes), exposition.contentType] as const;
        let parts = gzipParts.get(format);
        if (!parts) gzipParts.set(format, (parts = new GzipParts()));
        return [parts.compress(exposition.bytes, exposition.partEnds, exposition.changes), exposition.contentType] as const;
      });
    }
    const responseHeaders: http.OutgoingHttpHeaders = { 'Content-Type': contentType, Vary: 'Accept, Accept-Encoding' };
    if (gzip) responseHeaders['Content-Encoding'] = 'gzip';
    responseHeaders['Content-Length'] = payload.length;
    res.writeHead(200, responseHeaders);
    res.end(req.method === 'HEAD' ? undefined : payload);
  };
  const serveLandingPage: RequestHandler = async (req, res) => {
    const page = Buffer.from(await renderLandingPage(collector, path), 'utf8');
    res.writeHead(200, {
      'Content-Type': 'text/html; charset=utf-8', 'Content-Length': page.length,
      'Content-Security-Policy': LANDING_PAGE_CSP, 'X-Content-Type-Options': 'nosniff',
    });
    res.end(req.method === 'HEAD' ? undefined : page);
  };

  const maxConnections = options.maxConnections ?? 64;
  const open = new Set<Socket>();
  const busy = new Set<Socket>();
  const idleSince = new WeakMap<Socket, number>();
  /** The TCP socket under a request (under TLS, the one the TLS socket wraps): what the cap counts. */
  const tcpSocket = (req: http.IncomingMessage): Socket => ((req.socket as Socket & { _parent?: Socket })._parent ?? req.socket);

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const socket = tcpSocket(req);
    busy.add(socket);
    res.once('close', () => {
      busy.delete(socket);
      idleSince.set(socket, performance.now());
    });
    try {
      if (limiter && !limiter.allow()) {
        refusals.count('rate_limit');
        res.writeHead(429, { 'Content-Type': 'text/plain; charset=utf-8' }).end('Too many requests\n');
        return;
      }
      for (const [name, value] of headers) res.setHeader(name, value);
      if (auth.enabled) {
        const outcome = await auth.check(req.headers.authorization);
        if (outcome !== 'ok') {
          refusals.count('basic_auth');
          res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="prom-multiproc", charset="UTF-8"', 'Content-Type': 'text/plain; charset=utf-8' });
          res.end('Unauthorized\n');
          return;
        }
      }
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
      await (landing ? serveLandingPage : serveMetrics)(req, res);
    } catch (err) {
      log(`prom-multiproc: ${req.method} ${req.url} failed: ${err instanceof Error ? err.message : String(err)}`);
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('Request failed; see the collector log\n');
    }
  };

  let server: http.Server | https.Server;
  if (tlsSettings) {
    const secure = https.createServer({
      ...tlsSettings.context,
      // Idle connections are checked every second, not every 30 s (Node's default), so the
      // header and keep-alive timeouts below close them promptly.
      connectionsCheckingInterval: 1_000,
      requestCert: requestsCertificate(tlsSettings.clientAuth),
      // Whether an unverified certificate matters depends on client_auth_type: decided below.
      rejectUnauthorized: false,
      // Node's default is 120 s: a client that never finishes its handshake holds a socket that long.
      handshakeTimeout: 10_000,
    }, handle);
    // Runs before node:http sees the connection: a refused client never gets a request read.
    secure.prependListener('secureConnection', (socket: tls.TLSSocket) => {
      const why = tlsSettings ? refuseClient(socket, tlsSettings) : undefined;
      if (!why) return;
      refusals.count('client_certificate');
      logOnce(`prom-multiproc: refused a connection from ${socket.remoteAddress}: ${why}`);
      socket.destroy();
    });
    secure.on('tlsClientError', (err: NodeJS.ErrnoException) => {
      refusals.count('tls_handshake');
      logOnce(`prom-multiproc: TLS handshake failed: ${err.code ?? err.message}`);
    });
    server = secure;
  } else {
    server = http.createServer({ connectionsCheckingInterval: 1_000 }, handle);
  }

  const watch = initial && new WebConfigWatch(initial, (next) => {
    if (Boolean(next.tls) !== Boolean(tlsSettings)) return `switching between HTTP and HTTPS needs a restart`;
    if (next.tls) {
      const secure = server as https.Server & { requestCert: boolean };
      secure.setSecureContext(next.tls.context);
      secure.requestCert = requestsCertificate(next.tls.clientAuth); // read by node:tls for each new connection
    }
    tlsSettings = next.tls;
    auth = new BasicAuth(next.users);
    headers = next.headers;
    limiter = limiterFor(next);
    said.clear();
    return undefined;
  }, log, options.webConfigCheckMs);
  if (watch) {
    collector.addSelfMetrics(() => webSelfMetrics(refusals, watch));
  }

  server.requestTimeout = options.requestTimeoutMs ?? 10_000;
  server.headersTimeout = Math.min(server.requestTimeout, 5_000);
  server.keepAliveTimeout = 5_000;
  // Connection cap: at the cap, a new connection evicts the longest-idle one (a connection
  // between requests or that has sent nothing yet); if every connection is busy, the new
  // one is refused. Keeps descriptors bounded and scrapes served. (Under TLS, 'connection'
  // gives the TCP socket, before the handshake.)
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
  try {
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
  } catch (err) {
    watch?.close();
    throw err;
  }
  const address = server.address();
  const boundPort = typeof address === 'object' && address ? address.port : port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    server,
    url: `${tlsSettings ? 'https' : 'http'}://${shownHost}:${boundPort}${path}`,
    close: () => new Promise<void>((resolve) => {
      watch?.close();
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

function webSelfMetrics(refusals: Refusals, watch: WebConfigWatch): Family[] {
  return [
    {
      name: 'prom_multiproc_http_refused',
      help: 'Requests and connections refused by the web config: basic_auth (401), client_certificate (missing, unverified or SAN not allowed), tls_handshake (failed handshakes), rate_limit (429).',
      type: 'counter',
      samples: [...refusals.byReason].map(([reason, value]) => ({ name: 'prom_multiproc_http_refused_total', labels: [['reason', reason]], value })),
    },
    {
      name: 'prom_multiproc_web_config_last_reload_successful',
      help: 'Whether the last reload of the web config file succeeded (0: the previous configuration is still in force).',
      type: 'gauge',
      samples: [{ name: 'prom_multiproc_web_config_last_reload_successful', labels: [], value: watch.lastReloadSuccessful }],
    },
  ];
}

// prom-client's Pushgateway client: pushes a registry's exposition to a Prometheus
// Pushgateway (POST adds, PUT replaces, DELETE removes a job's group). In multiprocess
// mode a worker's registry holds that worker's values only; to push the merged
// directory, pass `{ metrics: () => new AggregatorRegistry().clusterMetrics(), contentType }`.
// 'http', not 'node:http': an app's tests that mock the module (jest.mock('http')) for
// prom-client's Pushgateway then mock it for this one too.
import http from 'http';
import https from 'https';
import { gzipSync } from 'node:zlib';
import { globalRegistry, type Registry } from '../metrics/registry.js';

/** Anything that renders an exposition: a Registry, or the merged directory. */
export interface ExpositionSource {
  metrics(): Promise<string>;
  readonly contentType: string;
}

export interface PushgatewayParameters {
  jobName?: string;
  groupings?: Record<string, string | number>;
}

export type PushgatewayOptions = http.RequestOptions & { requireJobName?: boolean };

export interface PushgatewayResponse {
  resp: http.IncomingMessage;
  body: string;
}

export declare namespace Pushgateway {
  /** prom-client's name for the parameters of push, pushAdd and delete. */
  interface Parameters {
    jobName: string;
    groupings?: { [key: string]: string };
  }
}

/**
 * Pushes a registry's exposition as prom-client does: `new Pushgateway(url, options?,
 * registry?)` where a missing or null `options` or `registry` takes the default (no
 * options, the global registry). The request is prom-client's: the gateway URL's path
 * before `/metrics/job/...`, the request options merged over the parsed URL, the body
 * written then ended (chunked), a gzip body if the headers ask for it.
 */
export class Pushgateway<T extends string = string> {
  readonly registry: ExpositionSource;
  readonly gatewayUrl: string;
  private readonly requireJobName: boolean;
  private readonly requestOptions: http.RequestOptions;

  constructor(gatewayUrl: string, options?: PushgatewayOptions | null, registry?: ExpositionSource | Registry<any> | null) {
    this.registry = (registry ?? globalRegistry) as ExpositionSource;
    this.gatewayUrl = gatewayUrl;
    const { requireJobName, ...requestOptions } = { requireJobName: true, ...options };
    this.requireJobName = requireJobName;
    this.requestOptions = requestOptions;
  }

  pushAdd(params: PushgatewayParameters = {}): Promise<PushgatewayResponse> {
    return this.send('POST', params);
  }

  push(params: PushgatewayParameters = {}): Promise<PushgatewayResponse> {
    return this.send('PUT', params);
  }

  delete(params: PushgatewayParameters = {}): Promise<PushgatewayResponse> {
    return this.send('DELETE', params);
  }

  private send(method: string, { jobName, groupings }: PushgatewayParameters): Promise<PushgatewayResponse> {
    if (this.requireJobName && !jobName) throw new Error('Missing jobName parameter');
    const base = new URL(this.gatewayUrl);
    const prefix = base.pathname && base.pathname !== '/' ? base.pathname : '';
    const groups = Object.keys(groupings ?? {}).map((k) => `/${encodeURIComponent(k)}/${encodeURIComponent(String(groupings![k]))}`).join('');
    const target = new URL(`${prefix}/metrics${jobName ? `/job/${encodeURIComponent(jobName)}${groups}` : ''}`, base);
    const options: http.RequestOptions = {
      protocol: target.protocol,
      hostname: target.hostname.replace(/^\[|\]$/g, ''),
      port: target.port || undefined,
      path: target.pathname + target.search,
      auth: target.username ? `${decodeURIComponent(target.username)}:${decodeURIComponent(target.password)}` : undefined,
      ...this.requestOptions,
      method,
    };
    const headers = options.headers as Record<string, string> | undefined;
    // prom-client deletes it from the caller's headers object itself: a DELETE has no body to encode.
    if (method === 'DELETE' && headers) delete headers['Content-Encoding'];
    const client = /^https/.test(target.href) ? https : http;
    return new Promise((resolve, reject) => {
      const req = client.request(options, (resp) => {
        let body = '';
        resp.setEncoding('utf8');
        resp.on('data', (chunk: string) => (body += chunk));
        resp.on('end', () => {
          if ((resp.statusCode ?? 0) >= 400) reject(new Error(`push failed with status ${resp.statusCode}, ${body}`));
          else resolve({ resp, body });
        });
      });
      req.on('error', reject);
      req.on('timeout', () => req.destroy(new Error('Pushgateway request timed out')));
      if (method === 'DELETE') {
        req.end();
        return;
      }
      this.registry.metrics().then((text) => {
        req.write(headers?.['Content-Encoding'] === 'gzip' ? gzipSync(text) : text);
        req.end();
      }, reject);
    });
  }
}

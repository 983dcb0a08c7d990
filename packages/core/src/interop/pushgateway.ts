// prom-client's Pushgateway client: pushes a registry's exposition to a Prometheus
// Pushgateway (POST adds, PUT replaces, DELETE removes a job's group). In multiprocess
// mode a worker's registry holds that worker's values only; to push the merged
// directory, pass `{ metrics: () => new AggregatorRegistry().clusterMetrics(), contentType }`.
import http from 'node:http';
import https from 'node:https';
import { gzipSync } from 'node:zlib';
import { globalRegistry } from '../metrics/registry.js';

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

export class Pushgateway {
  private readonly requireJobName: boolean;
  private readonly requestOptions: http.RequestOptions;

  constructor(readonly gatewayUrl: string, options: PushgatewayOptions = {}, readonly registry: ExpositionSource = globalRegistry) {
    const { requireJobName = true, ...requestOptions } = options;
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
    const prefix = base.pathname === '/' ? '' : base.pathname.replace(/\/$/, '');
    const groups = Object.entries(groupings ?? {}).map(([k, v]) => `/${encodeURIComponent(k)}/${encodeURIComponent(String(v))}`).join('');
    const target = new URL(`${prefix}/metrics${jobName ? `/job/${encodeURIComponent(jobName)}${groups}` : ''}`, base);
    const headers = { ...(this.requestOptions.headers as Record<string, string> | undefined) };
    if (method === 'DELETE') delete headers['Content-Encoding']; // no body to encode
    const client = target.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = client.request(target, { ...this.requestOptions, method, headers }, (resp) => {
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
        req.end(headers['Content-Encoding'] === 'gzip' ? gzipSync(text) : text);
      }, (err) => {
        req.destroy();
        reject(err);
      });
    });
  }
}

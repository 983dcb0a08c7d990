// A real Prometheus server (Debian package) on 127.0.0.1 with its own temp config and
// storage, started and stopped (by pid) by the test.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { httpGet } from './cluster.js';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

export class PrometheusServer {
  private constructor(readonly process: ChildProcess, readonly url: string, private readonly home: string) {}

  /**
   * Scrapes `target` (or several) every second; `ruleFiles` are loaded and evaluated every
   * second; `flags` are added to the command line (`--enable-feature=exemplar-storage`).
   * `scrapeConfigs`, if given, replaces the scrape job: YAML list items for
   * `scrape_configs:` (e.g. jobs with `scheme: https`, `tls_config` and `basic_auth`).
   */
  static async start(target: string | string[], metricsPath = '/metrics', options: { ruleFiles?: string[]; flags?: string[]; scrapeConfigs?: string } = {}): Promise<PrometheusServer> {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'pmp-prometheus-'));
    const targets = (Array.isArray(target) ? target : [target]).map((t) => `'${t}'`).join(', ');
    const rules = options.ruleFiles?.length ? ['rule_files:', ...options.ruleFiles.map((f) => `  - '${f}'`)] : [];
    const jobs = options.scrapeConfigs ?? [
      '  - job_name: prom-multiproc',
      `    metrics_path: ${metricsPath}`,
      '    static_configs:',
      `      - targets: [${targets}]`,
      '',
    ].join('\n');
    fs.writeFileSync(
      path.join(home, 'prometheus.yml'),
      ['global:', '  scrape_interval: 1s', '  evaluation_interval: 1s', ...rules, 'scrape_configs:', jobs].join('\n'),
    );
    const port = await freePort();
    const child = spawn('prometheus', [
      `--config.file=${path.join(home, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(home, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
      ...(options.flags ?? []),
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.once('error', (err) => (stderr += `cannot start prometheus: ${err.message}`));
    child.stderr!.on('data', (d) => (stderr += d));
    const server = new PrometheusServer(child, `http://127.0.0.1:${port}`, home);
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (child.exitCode !== null || child.pid === undefined) {
        fs.rmSync(home, { recursive: true, force: true });
        throw new Error(`prometheus exited: ${stderr}`);
      }
      try {
        if ((await httpGet(`${server.url}/-/ready`)).status === 200) return server;
      } catch { /* not listening yet */ }
      if (Date.now() > deadline) {
        server.stop();
        throw new Error(`prometheus not ready in 15 s: ${stderr}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  async query(promql: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> {
    const res = await httpGet(`${this.url}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const parsed = JSON.parse(res.body) as { status: string; data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
    if (parsed.status !== 'success') throw new Error(`query ${promql} failed: ${res.body}`);
    return parsed.data.result;
  }

  /** Polls `promql` until `accept` holds for its result (Prometheus waits ~5 s before its first scrape). */
  async waitFor(promql: string, accept: (r: Array<{ metric: Record<string, string>; value: [number, string] }>) => boolean, timeoutMs = 20_000) {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    while (Date.now() < deadline) {
      last = await this.query(promql);
      if (accept(last as never)) return last as Array<{ metric: Record<string, string>; value: [number, string] }>;
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error(`${promql} never matched; last result ${JSON.stringify(last)}`);
  }

  /** `/api/v1/query_exemplars` over the last `seconds` (Prometheus's exemplar storage must be on). */
  async queryExemplars(promql: string, seconds = 300): Promise<Array<{ seriesLabels: Record<string, string>; exemplars: Array<{ labels: Record<string, string>; value: string; timestamp: number }> }>> {
    const end = Date.now() / 1000;
    const res = await httpGet(`${this.url}/api/v1/query_exemplars?query=${encodeURIComponent(promql)}&start=${end - seconds}&end=${end + 60}`);
    const parsed = JSON.parse(res.body) as { status: string; data: never };
    if (parsed.status !== 'success') throw new Error(`query_exemplars ${promql} failed: ${res.body}`);
    return parsed.data;
  }

  stop(): void {
    if (this.process.exitCode === null && this.process.pid) {
      try { process.kill(this.process.pid, 'SIGKILL'); } catch { /* gone */ }
    }
    fs.rmSync(this.home, { recursive: true, force: true });
  }
}

// The collector behind TLS, client certificates and basic auth, end to end: the CLI
// scraped by a real Prometheus over https, the node:cluster primary with the same web
// config file, promtool on the documentation's examples, and the CLI's answer to a bad file.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadWebConfig } from '@prom-multiproc/core';
import { bcryptHash, httpsGet, makeCertificates, type TestCertificates } from '../packages/core/test/helpers/certs.js';
import { ClusterApp, sampleValue } from './helpers/cluster.js';
import { PrometheusServer, freePort } from './helpers/prometheus.js';

const ROOT = path.resolve(__dirname, '..');
const BIN = path.join(ROOT, 'packages', 'core', 'bin', 'prom-multiproc.js');
let certs: TestCertificates;
let webConfig: string;
const cleanups: Array<() => unknown> = [];

beforeAll(async () => {
  certs = makeCertificates();
  // Relative paths: resolved against the file's directory, as exporter-toolkit does.
  webConfig = path.join(certs.dir, 'web.yml');
  fs.writeFileSync(webConfig, [
    'tls_server_config:',
    '  cert_file: server.crt',
    '  key_file: server.key',
    '  client_auth_type: RequireAndVerifyClientCert',
    '  client_ca_file: ca.crt',
    'basic_auth_users:',
    `  prometheus: '${await bcryptHash('scrape-secret')}'`,
    '',
  ].join('\n'));
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(() => certs.remove());

function startServe(args: string[]): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [BIN, 'serve', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  cleanups.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const m = out.match(/serving .* on (https?:\S+)/);
      if (m) resolve({ child, url: m[1] });
    });
    child.stderr!.on('data', (d) => (err += d));
    child.once('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
}

function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe('secure endpoint', () => {
  it('Prometheus scrapes over https with a client certificate and basic auth; a wrong password or no certificate is refused while the right client goes on', async () => {
    const dir = tempDir('pmp-secure-');
    const node = spawnSync(process.execPath, ['--input-type=module', '-e', `
      import { Counter } from '@prom-multiproc/core';
      new Counter({ name: 'secure_jobs_total', help: 'Jobs.' }).inc(42);
    `], { cwd: ROOT, env: { ...process.env, PROMETHEUS_MULTIPROC_DIR: dir }, encoding: 'utf8' });
    expect(node.stderr).toBe('');
    const port = await freePort();
    const { url } = await startServe(['--dir', dir, '--port', String(port), '--web.config.file', webConfig]);
    expect(url).toBe(`https://127.0.0.1:${port}/metrics`);

    const passwordFile = path.join(certs.dir, 'password');
    fs.writeFileSync(passwordFile, 'scrape-secret');
    const job = (name: string, tls: string[], password: string) => [
      `  - job_name: ${name}`,
      '    scheme: https',
      '    tls_config:',
      ...tls.map((line) => `      ${line}`),
      '    basic_auth:',
      '      username: prometheus',
      `      password: ${password}`,
      '    static_configs:',
      `      - targets: ['127.0.0.1:${port}']`,
    ].join('\n');
    const clientCert = [`ca_file: ${certs.caCert}`, `cert_file: ${certs.clientCert}`, `key_file: ${certs.clientKey}`];
    const prometheus = await PrometheusServer.start([], '/metrics', { scrapeConfigs: [
      job('good', clientCert, 'scrape-secret'),
      job('wrong-password', clientCert, 'not-the-secret'),
      job('no-client-cert', [`ca_file: ${certs.caCert}`], 'scrape-secret'),
      '',
    ].join('\n') });
    cleanups.push(() => prometheus.stop());

    const up = async (job: string) => (await prometheus.query(`up{job="${job}"}`))[0]?.value[1];
    await prometheus.waitFor('up', (r) => r.length === 3, 20_000);
    await prometheus.waitFor('up{job="good"}', (r) => r[0]?.value[1] === '1');
    expect(await up('wrong-password')).toBe('0');
    expect(await up('no-client-cert')).toBe('0');
    // The right client saw the directory and the refusals of the others, and is still up.
    await prometheus.waitFor('secure_jobs_total{job="good"}', (r) => r[0]?.value[1] === '42');
    await prometheus.waitFor('prom_multiproc_http_refused_total{job="good",reason="basic_auth"}', (r) => Number(r[0]?.value[1]) >= 2);
    await prometheus.waitFor('prom_multiproc_http_refused_total{job="good",reason="client_certificate"}', (r) => Number(r[0]?.value[1]) >= 2);
    expect(await up('good')).toBe('1');
    expect(await prometheus.query('secure_jobs_total{job!="good"}')).toEqual([]);
  });

  it('the CLI refuses a bad web config file with one line naming the field, exit code 2', () => {
    const bad = path.join(certs.dir, 'bad.yml');
    fs.writeFileSync(bad, 'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  min_version: TLS11\n');
    const dir = tempDir('pmp-secure-');
    const run = spawnSync(process.execPath, [BIN, 'serve', '--dir', dir, '--port', '0', '--web-config-file', bad], { encoding: 'utf8', timeout: 30_000 });
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/^prom-multiproc serve: web config .*bad\.yml: tls_server_config\.min_version: TLS11: Node's OpenSSL refuses TLS 1\.0 and 1\.1.*\n$/);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(fs.readdirSync(dir)).toEqual([]); // nothing started, nothing locked
  });

  it('promtool check web-config accepts every example web config in docs/security.md, and so do we', () => {
    const markdown = fs.readFileSync(path.join(ROOT, 'docs', 'security.md'), 'utf8');
    const examples = [...markdown.matchAll(/```yaml\n(# web-config\.yml\n[\s\S]*?)```/g)].map((m) => m[1]);
    expect(examples.length).toBeGreaterThanOrEqual(3);
    examples.forEach((example, i) => {
      const file = path.join(certs.dir, `example-${i}.yml`); // next to server.crt, server.key, ca.crt
      fs.writeFileSync(file, example);
      const check = spawnSync('promtool', ['check', 'web-config', file], { encoding: 'utf8' });
      expect(`${check.status} ${check.stdout}${check.stderr}`, `example ${i}:\n${example}`).toMatch(/^0 .*SUCCESS/);
      expect(() => loadWebConfig(file), `example ${i}`).not.toThrow();
    });
  });

  it('the node:cluster primary serves over TLS with the same file', async () => {
    const app = await ClusterApp.start(2, { WEB_CONFIG_FILE: webConfig });
    cleanups.push(() => app.stop());
    expect(app.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const client = { ca: certs.caCert, cert: certs.clientCert, key: certs.clientKey };
    const ok = await httpsGet(app.url, { ...client, user: 'prometheus', password: 'scrape-secret' });
    expect(ok.status).toBe(200);
    expect(sampleValue(ok.body, 'app_workers_up')).toBe(2);
    expect((await httpsGet(app.url, { ...client, user: 'prometheus', password: 'nope' })).status).toBe(401);
    await expect(httpsGet(app.url, { ca: certs.caCert, user: 'prometheus', password: 'scrape-secret' })).rejects.toThrow();
  });
});

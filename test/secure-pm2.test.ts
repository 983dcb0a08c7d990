// The PM2 module behind TLS, a client certificate and basic auth: the packed module in a
// real PM2 daemon (temporary PM2_HOME), `pm2 set pm2-prom-multiproc:web_config_file`, and
// an app under PM2 whose series come back over https only to the right client.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bcryptHash, httpsGet, makeCertificates, type TestCertificates } from '../packages/core/test/helpers/certs.js';
import { httpGet, sampleValue } from './helpers/cluster.js';
import { Pm2Daemon, ROOT, drive, eventually, freePort, packModule } from './helpers/pm2.js';

const MODULE = 'pm2-prom-multiproc';
const APP = path.join(ROOT, 'test', 'apps', 'pm2-app.mjs');
let certs: TestCertificates;
let pm2: Pm2Daemon;
let work: string;

beforeAll(async () => {
  certs = makeCertificates();
  pm2 = new Pm2Daemon();
  work = path.join(pm2.home, 'work');
  fs.mkdirSync(work);
}, 30_000);

afterAll(async () => {
  await pm2?.kill();
  certs?.remove();
}, 60_000);

describe('PM2 module over TLS', () => {
  it('serves over https with the web config file set by pm2 set; refuses a wrong password and a missing client certificate', async () => {
    const webConfig = path.join(certs.dir, 'web.yml');
    fs.writeFileSync(webConfig, [
      'tls_server_config:',
      `  cert_file: ${certs.serverCert}`,
      `  key_file: ${certs.serverKey}`,
      '  client_auth_type: RequireAndVerifyClientCert',
      `  client_ca_file: ${certs.caCert}`,
      'basic_auth_users:',
      `  prometheus: '${await bcryptHash('pm2-secret')}'`,
      '',
    ].join('\n'));
    const dir = path.join(work, 'metrics');
    const [modulePort, appPort] = await Promise.all([freePort(), freePort()]);
    const url = `https://127.0.0.1:${modulePort}/metrics`;
    await pm2.cli(['install', await packModule(work)]);
    await pm2.cli(['set', `${MODULE}:directory`, dir]);
    await pm2.cli(['set', `${MODULE}:port`, String(modulePort)]);
    await pm2.cli(['set', `${MODULE}:web_config_file`, webConfig]);
    await pm2.cli(['start', APP, '--name', 'web'], { APP_PORT: String(appPort), PROMETHEUS_MULTIPROC_DIR: dir });
    await eventually('the app answering', async () => (await drive(appPort, 1)).ok === 1, 20_000);
    const sent = (await drive(appPort, 5)).ok + 1;

    const client = { ca: certs.caCert, cert: certs.clientCert, key: certs.clientKey };
    const body = await eventually('the module serving over https', async () => {
      const res = await httpsGet(url, { ...client, user: 'prometheus', password: 'pm2-secret' });
      const total = res.body.split('\n').filter((l) => l.startsWith('app_requests_total{')).reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
      return res.status === 200 && total === sent ? res.body : undefined;
    }, 30_000).catch((err) => {
      throw new Error(`${(err as Error).message}\nmodule log:\n${pm2.log(MODULE)}`);
    });
    expect(sampleValue(body, 'prom_multiproc_http_refused_total{reason="basic_auth"}')).toBe(0);
    expect((await httpsGet(url, { ...client, user: 'prometheus', password: 'wrong' })).status).toBe(401);
    await expect(httpsGet(url, { ca: certs.caCert, user: 'prometheus', password: 'pm2-secret' })).rejects.toThrow();
    await expect(httpGet(url.replace('https:', 'http:'))).rejects.toThrow(); // no plain HTTP on the port
    const after = await httpsGet(url, { ...client, user: 'prometheus', password: 'pm2-secret' });
    expect(sampleValue(after.body, 'prom_multiproc_http_refused_total{reason="basic_auth"}')).toBe(1);
    expect(sampleValue(after.body, 'prom_multiproc_http_refused_total{reason="client_certificate"}')).toBe(1);
  });
}, 180_000);

// The web config file (exporter-toolkit's format) on a real https server in this process,
// with real TLS clients holding certificates that openssl made for the test.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { Collector } from '../src/collect/collector.js';
import { BasicAuth } from '../src/serve/basic-auth.js';
import { startMetricsServer, type MetricsServer } from '../src/serve/server.js';
import { loadWebConfig, WebConfigError } from '../src/serve/web-config.js';
import { bcryptHash, fingerprint, httpsGet, makeCertificates, type TestCertificates } from './helpers/certs.js';

let certs: TestCertificates;
let work: string;
let passwordHash: string;
const servers: MetricsServer[] = [];

beforeAll(async () => {
  certs = makeCertificates();
  passwordHash = await bcryptHash('s3cret');
});
afterAll(() => certs.remove());
beforeEach(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'pmp-webcfg-'));
});
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
  fs.rmSync(work, { recursive: true, force: true });
});

function writeConfig(yaml: string, name = 'web.yml'): string {
  const file = path.join(work, name);
  fs.writeFileSync(file, yaml);
  return file;
}

function tlsYaml(extra = ''): string {
  return `tls_server_config:\n  cert_file: ${certs.serverCert}\n  key_file: ${certs.serverKey}\n${extra}`;
}

async function serve(webConfigFile: string, extra: Partial<Parameters<typeof startMetricsServer>[0]> = {}) {
  const logs: string[] = [];
  const collector = new Collector({ directory: work, log: () => {} });
  const server = await startMetricsServer({ collector, port: 0, webConfigFile, log: (m) => logs.push(m), ...extra });
  servers.push(server);
  return { server, logs, url: server.url };
}

/** 'ok' if the scrape got 200, else why it did not. */
async function attempt(url: string, client: 'none' | 'trusted' | 'stranger'): Promise<string> {
  const cert = client === 'trusted' ? { cert: certs.clientCert, key: certs.clientKey } : client === 'stranger' ? { cert: certs.strangerCert, key: certs.strangerKey } : {};
  try {
    const res = await httpsGet(url, { ca: certs.caCert, ...cert });
    return res.status === 200 ? 'ok' : `status ${res.status}`;
  } catch (err) {
    return `refused: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
  }
}

function sample(body: string, name: string): number | undefined {
  const line = body.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

describe('client_auth_type', () => {
  const cases: Array<[string, boolean, { none: boolean; trusted: boolean; stranger: boolean }]> = [
    ['NoClientCert', false, { none: true, trusted: true, stranger: true }],
    ['RequestClientCert', true, { none: true, trusted: true, stranger: true }],
    ['RequireAnyClientCert', true, { none: false, trusted: true, stranger: true }],
    ['VerifyClientCertIfGiven', true, { none: true, trusted: true, stranger: false }],
    ['RequireAndVerifyClientCert', true, { none: false, trusted: true, stranger: false }],
  ];
  it.each(cases)('%s lets in exactly the clients it should, and counts the others', async (type, withCa, expected) => {
    const { url } = await serve(writeConfig(tlsYaml(`  client_auth_type: ${type}\n${withCa ? `  client_ca_file: ${certs.caCert}\n` : ''}`)));
    expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const got = {
      none: await attempt(url, 'none'),
      trusted: await attempt(url, 'trusted'),
      stranger: await attempt(url, 'stranger'),
    };
    for (const client of ['none', 'trusted', 'stranger'] as const) {
      if (expected[client]) expect(got[client], `${type}, client ${client}`).toBe('ok');
      else expect(got[client], `${type}, client ${client}`).toMatch(/^refused/);
    }
    const refused = Object.values(expected).filter((ok) => !ok).length;
    const body = (await httpsGet(url, { ca: certs.caCert, cert: certs.clientCert, key: certs.clientKey })).body;
    expect(sample(body, 'prom_multiproc_http_refused_total{reason="client_certificate"}') ?? 0).toBe(refused);
  });

  it('client_allowed_sans: a verified certificate must also carry an allowed DNS name or email', async () => {
    const base = `  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ${certs.caCert}\n`;
    const dns = await serve(writeConfig(tlsYaml(`${base}  client_allowed_sans: [other.test, scraper.test]\n`), 'a.yml'));
    expect(await attempt(dns.url, 'trusted')).toBe('ok');
    const email = await serve(writeConfig(tlsYaml(`${base}  client_allowed_sans: ['ops@scraper.test']\n`), 'b.yml'));
    expect(await attempt(email.url, 'trusted')).toBe('ok');
    const other = await serve(writeConfig(tlsYaml(`${base}  client_allowed_sans: [other.test]\n`), 'c.yml'));
    expect(await attempt(other.url, 'trusted')).toMatch(/^refused/);
    expect(other.logs.join('\n')).toMatch(/SANs \["scraper\.test","ops@scraper\.test"\] are not in client_allowed_sans/);
  });
});

describe('basic auth and headers', () => {
  it('401 with WWW-Authenticate for missing, wrong and unknown credentials on every path, the landing page included; headers on every response; counted', async () => {
    const { url } = await serve(writeConfig(tlsYaml([
      'http_server_config:',
      '  headers:',
      '    X-Frame-Options: deny',
      '    Strict-Transport-Security: max-age=31536000',
      'basic_auth_users:',
      `  prometheus: '${passwordHash}'`,
      '',
    ].join('\n'))));
    const root = url.replace(/\/metrics$/, '/');
    const tries = [
      await httpsGet(url, { ca: certs.caCert }),
      await httpsGet(url, { ca: certs.caCert, user: 'prometheus', password: 'wrong' }),
      await httpsGet(url, { ca: certs.caCert, user: 'nobody', password: 's3cret' }),
      await httpsGet(root, { ca: certs.caCert }),
      await httpsGet(url.replace(/\/metrics$/, '/nowhere'), { ca: certs.caCert }),
    ];
    for (const res of tries) {
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toMatch(/^Basic realm=/);
      expect(res.headers['x-frame-options']).toBe('deny');
      expect(res.body).not.toMatch(/prom_multiproc|<html/i);
    }
    const ok = await httpsGet(url, { ca: certs.caCert, user: 'prometheus', password: 's3cret' });
    expect(ok.status).toBe(200);
    expect(ok.headers['strict-transport-security']).toBe('max-age=31536000');
    expect(sample(ok.body, 'prom_multiproc_http_refused_total{reason="basic_auth"}')).toBe(5);
    const landing = await httpsGet(root, { ca: certs.caCert, user: 'prometheus', password: 's3cret' });
    expect(landing.status).toBe(200);
    expect(landing.headers['content-type']).toMatch(/^text\/html/);
    expect(landing.headers['x-frame-options']).toBe('deny');
  });

  it('basic auth without TLS serves plain HTTP behind the password', async () => {
    const { url } = await serve(writeConfig(`basic_auth_users:\n  u: '${passwordHash}'\n`));
    expect(url).toMatch(/^http:\/\//);
    const get = (auth?: string) => new Promise<number>((resolve, reject) => {
      http.get(url, { headers: auth ? { Authorization: `Basic ${Buffer.from(auth).toString('base64')}` } : {} }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on('error', reject);
    });
    expect(await get()).toBe(401);
    expect(await get('u:s3cret')).toBe(200);
  });

  it('bcrypt runs once per credential: a verified or refused credential is remembered', async () => {
    const compare = vi.spyOn(bcrypt, 'compare');
    try {
      const auth = new BasicAuth(new Map([['prometheus', passwordHash]]));
      const header = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
      for (let i = 0; i < 5; i++) expect(await auth.check(header('prometheus', 's3cret'))).toBe('ok');
      for (let i = 0; i < 5; i++) expect(await auth.check(header('prometheus', 'wrong'))).toBe('wrong');
      expect(await auth.check(header('prometheus', 's3cret!'))).toBe('wrong'); // a different password is checked
      expect(await auth.check(undefined)).toBe('missing');
      expect(await auth.check('Bearer x')).toBe('missing');
      expect(compare).toHaveBeenCalledTimes(3);
    } finally {
      compare.mockRestore();
    }
  });
});

describe('rate_limit', () => {
  it('a burst of requests beyond the bucket gets 429, counted; tokens come back at the interval', async () => {
    const collector = new Collector({ directory: work, log: () => {} });
    const server = await startMetricsServer({ collector, port: 0, webConfigFile: writeConfig(tlsYaml('rate_limit:\n  burst: 2\n  interval: 1h\n')), log: () => {} });
    servers.push(server);
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await httpsGet(server.url, { ca: certs.caCert })).status);
    expect(statuses).toEqual([200, 200, 429, 429]);
    const families = await collector.collect();
    const refused = families.find((f) => f.name === 'prom_multiproc_http_refused')!.samples.find((x) => x.labels[0][1] === 'rate_limit');
    expect(refused?.value).toBe(2);
    const fast = await serve(writeConfig(tlsYaml('rate_limit:\n  burst: 1\n  interval: 100ms\n'), 'fast.yml'));
    expect((await httpsGet(fast.url, { ca: certs.caCert })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 250));
    expect((await httpsGet(fast.url, { ca: certs.caCert })).status).toBe(200);
  });
});

describe('what Node cannot honour, or is wrong, is an error naming the field', () => {
  const cases: Array<[string, () => string, RegExp]> = [
    ['unknown top-level key', () => 'tls_config:\n  cert_file: x\n', /tls_config: unknown field/],
    ['unknown tls key', () => tlsYaml('  client_cert: x\n'), /tls_server_config\.client_cert: unknown field/],
    ['bad client_auth_type', () => tlsYaml('  client_auth_type: Sometimes\n'), /tls_server_config\.client_auth_type: "Sometimes" is not one of/],
    ['TLS 1.0', () => tlsYaml('  min_version: TLS10\n'), /tls_server_config\.min_version: TLS10: Node's OpenSSL refuses/],
    ['min above max', () => tlsYaml('  min_version: TLS13\n  max_version: TLS12\n'), /tls_server_config\.min_version: is above max_version/],
    ['unknown cipher', () => tlsYaml('  cipher_suites: [TLS_FAST]\n'), /tls_server_config\.cipher_suites: unknown cipher suite "TLS_FAST"/],
    ['cipher OpenSSL lacks', () => tlsYaml('  cipher_suites: [TLS_RSA_WITH_RC4_128_SHA]\n'), /tls_server_config\.cipher_suites: TLS_RSA_WITH_RC4_128_SHA \(OpenSSL RC4-SHA\) is not available/],
    ['unknown curve', () => tlsYaml('  curve_preferences: [CurveP999]\n'), /tls_server_config\.curve_preferences: unknown curve "CurveP999"/],
    ['CA without client auth', () => tlsYaml(`  client_ca_file: ${certs.caCert}\n`), /tls_server_config\.client_ca_file: a client CA is configured but client_auth_type/],
    ['missing key', () => `tls_server_config:\n  cert_file: ${certs.serverCert}\n`, /tls_server_config\.key_file: missing/],
    ['unreadable cert', () => `tls_server_config:\n  cert_file: nope.crt\n  key_file: ${certs.serverKey}\n`, /tls_server_config\.cert_file: cannot read .*nope\.crt \(ENOENT\)/],
    ['key of another certificate', () => `tls_server_config:\n  cert_file: ${certs.serverCert}\n  key_file: ${certs.otherServerKey}\n`, /tls_server_config\.key_file: not usable by TLS/],
    ['http2', () => 'http_server_config:\n  http2: true\n', /http_server_config\.http2: true is not supported/],
    ['forbidden header', () => 'http_server_config:\n  headers:\n    Server: me\n', /http_server_config\.headers\.Server: cannot be set/],
    ['bad header value', () => 'http_server_config:\n  headers:\n    X-Frame-Options: allow\n', /http_server_config\.headers\.X-Frame-Options: "allow" is not one of deny, sameorigin/],
    ['plain password', () => 'basic_auth_users:\n  alice: hunter2\n', /basic_auth_users\.alice: is not a bcrypt hash/],
    ['rate_limit interval', () => 'rate_limit:\n  burst: 1\n  interval: fast\n', /rate_limit\.interval: "fast" is not a duration/],
    ['rate_limit burst', () => 'rate_limit:\n  burst: -1\n  interval: 1s\n', /rate_limit\.burst: must be a whole number/],
    ['not YAML', () => 'tls_server_config: [\n', /is not valid YAML/],
  ];
  it.each(cases)('%s', (_name, yaml, message) => {
    const file = writeConfig(yaml());
    let error: unknown;
    try {
      loadWebConfig(file);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(WebConfigError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain('\n');
  });

  it('startMetricsServer throws it before listening', async () => {
    const collector = new Collector({ directory: work, log: () => {} });
    await expect(startMetricsServer({ collector, port: 0, webConfigFile: writeConfig('http_server_config:\n  http2: true\n') }))
      .rejects.toThrow(WebConfigError);
  });

  it('cipher_suites, versions and curves that Node can honour are honoured', async () => {
    const { url } = await serve(writeConfig(tlsYaml([
      '  min_version: TLS12',
      '  max_version: TLS12',
      '  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384]',
      '  curve_preferences: [CurveP384]',
      '  prefer_server_cipher_suites: true',
      '',
    ].join('\n'))));
    const tls = await import('node:tls');
    const u = new URL(url);
    const handshake = (options: import('node:tls').ConnectionOptions) => new Promise<{ cipher: string; version: string | null; curve: string | undefined }>((resolve, reject) => {
      const socket = tls.connect({ host: u.hostname, port: Number(u.port), ca: fs.readFileSync(certs.caCert), ...options }, () => {
        const result = { cipher: socket.getCipher().name, version: socket.getProtocol(), curve: socket.getEphemeralKeyInfo()?.name as string | undefined };
        socket.end();
        resolve(result);
      });
      socket.on('error', reject);
    });
    expect(await handshake({})).toEqual({ cipher: 'ECDHE-ECDSA-AES256-GCM-SHA384', version: 'TLSv1.2', curve: 'secp384r1' });
    await expect(handshake({ minVersion: 'TLSv1.3' })).rejects.toThrow();
    await expect(handshake({ ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256', maxVersion: 'TLSv1.2' })).rejects.toThrow();
  });
});

describe('reload', () => {
  it('rotates the certificate without a restart; a broken replacement keeps the old one; the password changes too', async () => {
    const cert = path.join(work, 'server.crt');
    const key = path.join(work, 'server.key');
    fs.copyFileSync(certs.serverCert, cert);
    fs.copyFileSync(certs.serverKey, key);
    const config = writeConfig(`tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  u: '${passwordHash}'\n`);
    const { server, url, logs } = await serve(config, { webConfigCheckMs: 100 });
    const get = (password = 's3cret') => httpsGet(url, { ca: certs.caCert, user: 'u', password });
    expect((await get()).serverFingerprint).toBe(fingerprint(certs.serverCert));

    // Replaced the way certificate tools do: new files renamed over the old ones.
    fs.copyFileSync(certs.otherServerCert, `${cert}.new`);
    fs.copyFileSync(certs.otherServerKey, `${key}.new`);
    fs.renameSync(`${key}.new`, key);
    fs.renameSync(`${cert}.new`, cert);
    await eventually(async () => (await get()).serverFingerprint === fingerprint(certs.otherServerCert));

    // A broken certificate: logged once, the rotated one stays in force.
    fs.writeFileSync(cert, '-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n');
    await eventually(() => logs.some((l) => /keeping the previous web config/.test(l)));
    const after = await get();
    expect(after.serverFingerprint).toBe(fingerprint(certs.otherServerCert));
    expect(sample(after.body, 'prom_multiproc_web_config_last_reload_successful')).toBe(0);
    fs.appendFileSync(config, '\n'); // another change, same problem: not logged again
    await new Promise((r) => setTimeout(r, 600));
    expect(logs.filter((l) => /keeping the previous web config/.test(l))).toHaveLength(1);

    // Fixed, and a new password: both in force, same server object.
    const newHash = await bcryptHash('n3w');
    fs.copyFileSync(certs.serverCert, cert);
    fs.writeFileSync(config, `tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  u: '${newHash}'\n`);
    fs.copyFileSync(certs.serverKey, key);
    await eventually(async () => (await get('n3w')).status === 200);
    const fixed = await get('n3w');
    expect(fixed.serverFingerprint).toBe(fingerprint(certs.serverCert));
    expect(sample(fixed.body, 'prom_multiproc_web_config_last_reload_successful')).toBe(1);
    expect((await get('s3cret')).status).toBe(401);
    expect(server.server.listening).toBe(true);
  });

  it('client_auth_type changes on reload: the next connection must bring a verified certificate', async () => {
    const config = writeConfig(tlsYaml());
    const { url } = await serve(config, { webConfigCheckMs: 100 });
    expect(await attempt(url, 'none')).toBe('ok');
    fs.writeFileSync(config, tlsYaml(`  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ${certs.caCert}\n`));
    await eventually(async () => (await attempt(url, 'none')).startsWith('refused'));
    expect(await attempt(url, 'stranger')).toMatch(/^refused/);
    expect(await attempt(url, 'trusted')).toBe('ok');
  });

  it('a change between HTTP and HTTPS is refused until a restart', async () => {
    const config = writeConfig(`basic_auth_users:\n  u: '${passwordHash}'\n`);
    const { logs } = await serve(config, { webConfigCheckMs: 100 });
    fs.writeFileSync(config, tlsYaml());
    await eventually(() => logs.some((l) => /switching between HTTP and HTTPS needs a restart; keeping the previous web config/.test(l))).catch((err) => {
      throw new Error(`${err}; logs: ${logs.join(' | ')}`);
    });
  });
});

async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch { /* not yet */ }
    if (Date.now() > until) throw new Error(`condition not met in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

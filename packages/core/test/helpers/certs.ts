// Certificates made by `openssl` for a test: a CA, server certificates for 127.0.0.1, a
// client certificate signed by the CA and one signed by nobody we trust. EC P-256 keys:
// quick to make. Everything lives in one temp directory the caller removes.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface TestCertificates {
  dir: string;
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** Signed by a CA the server does not trust. */
  strangerCert: string;
  strangerKey: string;
  /** A second server certificate for 127.0.0.1, for rotation. */
  otherServerCert: string;
  otherServerKey: string;
  remove(): void;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function makeCa(dir: string, name: string): void {
  openssl(dir, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-keyout', `${name}.key`, '-out', `${name}.crt`, '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
}

function makeSigned(dir: string, name: string, ca: string, extensions: string): void {
  fs.writeFileSync(path.join(dir, `${name}.ext`), extensions);
  openssl(dir, ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial',
    '-days', '2', '-out', `${name}.crt`, '-extfile', `${name}.ext`]);
}

export function makeCertificates(): TestCertificates {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pmp-certs-'));
  makeCa(dir, 'ca');
  makeCa(dir, 'stranger-ca');
  const server = 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n';
  makeSigned(dir, 'server', 'ca', server);
  makeSigned(dir, 'server2', 'ca', server);
  makeSigned(dir, 'client', 'ca', 'subjectAltName=DNS:scraper.test,email:ops@scraper.test\nextendedKeyUsage=clientAuth\n');
  makeSigned(dir, 'stranger', 'stranger-ca', 'subjectAltName=DNS:scraper.test\nextendedKeyUsage=clientAuth\n');
  const at = (f: string) => path.join(dir, f);
  return {
    dir,
    caCert: at('ca.crt'), caKey: at('ca.key'),
    serverCert: at('server.crt'), serverKey: at('server.key'),
    clientCert: at('client.crt'), clientKey: at('client.key'),
    strangerCert: at('stranger.crt'), strangerKey: at('stranger.key'),
    otherServerCert: at('server2.crt'), otherServerKey: at('server2.key'),
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

/** SHA-256 fingerprint of a PEM certificate file, as node:tls reports `fingerprint256`. */
export function fingerprint(certFile: string): string {
  return new crypto.X509Certificate(fs.readFileSync(certFile)).fingerprint256;
}

/** A bcrypt hash made by `htpasswd`-compatible bcryptjs at the lowest cost (tests only). */
export async function bcryptHash(password: string): Promise<string> {
  const bcrypt = (await import('bcryptjs')).default;
  return bcrypt.hash(password, 4);
}

export interface HttpsResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** fingerprint256 of the certificate the server presented. */
  serverFingerprint: string;
}

/**
 * One GET on a new TLS connection (a new handshake each time). `ca` trusts the server;
 * `cert`/`key` are the client certificate; `user`/`password` basic auth. Rejects on a
 * refused handshake or a connection closed by the server.
 */
export async function httpsGet(url: string, options: { ca?: string; cert?: string; key?: string; user?: string; password?: string } = {}): Promise<HttpsResult> {
  const https = await import('node:https');
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (options.user !== undefined) headers.Authorization = `Basic ${Buffer.from(`${options.user}:${options.password ?? ''}`).toString('base64')}`;
    const req = https.get(url, {
      agent: false,
      headers,
      ca: options.ca ? fs.readFileSync(options.ca) : undefined,
      cert: options.cert ? fs.readFileSync(options.cert) : undefined,
      key: options.key ? fs.readFileSync(options.key) : undefined,
    }, (res) => {
      const serverFingerprint = (res.socket as import('node:tls').TLSSocket).getPeerCertificate().fingerprint256;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, serverFingerprint }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
  });
}

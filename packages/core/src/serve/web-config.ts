// The web configuration file of Prometheus' exporters (exporter-toolkit's
// `--web.config.file`): TLS, client certificates, basic auth users and extra headers.
// Read, checked and turned into what node:tls needs. Every setting is either honoured or
// an error naming its field: a setting quietly ignored would be a hole the user thinks
// is closed. Relative paths are relative to the file, as exporter-toolkit resolves them.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { parse as parseYaml } from 'yaml';
import { CLIENT_AUTH_TYPES, type ClientAuthType } from './client-auth-types.js';
import { parseGoDuration } from './rate-limit.js';

export { CLIENT_AUTH_TYPES, type ClientAuthType };

/** A web config that cannot be used: `field` is its path in the file, e.g. `tls_server_config.min_version`. */
export class WebConfigError extends Error {
  constructor(readonly file: string, readonly field: string, problem: string) {
    super(`web config ${file}: ${field ? `${field}: ` : ''}${problem}`);
    this.name = 'WebConfigError';
  }
}

export interface TlsSettings {
  /** What tls.createSecureContext / server.setSecureContext take. */
  context: tls.SecureContextOptions;
  clientAuth: ClientAuthType;
  /** Client certificates must carry one of these SANs (DNS, email, IP or URI); undefined: any. */
  allowedSans?: string[];
}

export interface WebConfig {
  file: string;
  /** Undefined: plain HTTP. */
  tls?: TlsSettings;
  /** Extra response headers (http_server_config.headers). */
  headers: Array<[string, string]>;
  /** basic_auth_users: user -> bcrypt hash. Empty: no basic auth. */
  users: Map<string, string>;
  /** rate_limit: at most `burst` requests at once, one more every `intervalMs`. Undefined: no limit. */
  rateLimit?: { burst: number; intervalMs: number };
  /** Every file the configuration was read from (itself, certificates, keys, CAs) with its version when read: a change to one reloads it. */
  files: Map<string, string>;
}

/** What changes when a file is rewritten or replaced: compared by the reload watch. */
export function fileVersion(file: string): string {
  const stat = fs.statSync(file, { throwIfNoEntry: false, bigint: true });
  return stat ? `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeNs}:${stat.ctimeNs}` : 'missing';
}

// exporter-toolkit lets only these headers be set, some only to these values.
const HEADERS: Record<string, readonly string[] | null> = {
  'Strict-Transport-Security': null,
  'X-Content-Type-Options': ['nosniff'],
  'X-Frame-Options': ['deny', 'sameorigin'],
  'X-XSS-Protection': null,
  'Content-Security-Policy': null,
};

const VERSIONS: Record<string, tls.SecureVersion | 'refused'> = { TLS10: 'refused', TLS11: 'refused', TLS12: 'TLSv1.2', TLS13: 'TLSv1.3' };

const CURVES: Record<string, string> = { CurveP256: 'P-256', CurveP384: 'P-384', CurveP521: 'P-521', X25519: 'X25519' };

// Go's cipher suite names (crypto/tls) -> OpenSSL's. TLS 1.3 suites have the same name in both.
const CIPHERS: Record<string, string> = {
  TLS_RSA_WITH_RC4_128_SHA: 'RC4-SHA',
  TLS_RSA_WITH_3DES_EDE_CBC_SHA: 'DES-CBC3-SHA',
  TLS_RSA_WITH_AES_128_CBC_SHA: 'AES128-SHA',
  TLS_RSA_WITH_AES_256_CBC_SHA: 'AES256-SHA',
  TLS_RSA_WITH_AES_128_CBC_SHA256: 'AES128-SHA256',
  TLS_RSA_WITH_AES_128_GCM_SHA256: 'AES128-GCM-SHA256',
  TLS_RSA_WITH_AES_256_GCM_SHA384: 'AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_RC4_128_SHA: 'ECDHE-ECDSA-RC4-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: 'ECDHE-ECDSA-AES128-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: 'ECDHE-ECDSA-AES256-SHA',
  TLS_ECDHE_RSA_WITH_RC4_128_SHA: 'ECDHE-RSA-RC4-SHA',
  TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA: 'ECDHE-RSA-DES-CBC3-SHA',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: 'ECDHE-RSA-AES128-SHA',
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: 'ECDHE-RSA-AES256-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256: 'ECDHE-ECDSA-AES128-SHA256',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256: 'ECDHE-RSA-AES128-SHA256',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_AES_128_GCM_SHA256: 'TLS_AES_128_GCM_SHA256',
  TLS_AES_256_GCM_SHA384: 'TLS_AES_256_GCM_SHA384',
  TLS_CHACHA20_POLY1305_SHA256: 'TLS_CHACHA20_POLY1305_SHA256',
};
const TLS13_DEFAULT_SUITES = 'TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256';

const BCRYPT_HASH = /^\$2[aby]\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}$/;

type Fields = Record<string, unknown>;

/** Reads and checks `file` and everything it names. Throws WebConfigError naming the field at fault. */
export function loadWebConfig(file: string): WebConfig {
  const resolved = path.resolve(file);
  const fail = (field: string, problem: string): never => {
    throw new WebConfigError(file, field, problem);
  };
  // Versions are taken before reading: a change while reading shows as a change later.
  const files = new Map([[resolved, fileVersion(resolved)]]);
  let text: string;
  try {
    text = fs.readFileSync(resolved, 'utf8');
  } catch (err) {
    return fail('', `cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let doc: unknown;
  try {
    // YAML 1.1, as Go's yaml.v2 reads exporter-toolkit's file (yes/no are booleans there).
    doc = parseYaml(text, { version: '1.1', uniqueKeys: true, prettyErrors: false });
  } catch (err) {
    return fail('', `is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  const top = section(doc ?? {}, '', fail, ['tls_server_config', 'http_server_config', 'basic_auth_users', 'rate_limit']);

  const dir = path.dirname(resolved);
  const readNamed = (field: string, name: unknown): Buffer => {
    const full = path.resolve(dir, stringField(name, field, fail));
    files.set(full, fileVersion(full));
    try {
      return fs.readFileSync(full);
    } catch (err) {
      return fail(field, `cannot read ${full} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  };

  // --- tls_server_config ---------------------------------------------------------
  let tlsSettings: TlsSettings | undefined;
  const t = section(top.tls_server_config ?? {}, 'tls_server_config', fail, [
    'cert_file', 'key_file', 'cert', 'key', 'client_ca_file', 'client_ca', 'client_auth_type', 'client_allowed_sans',
    'min_version', 'max_version', 'cipher_suites', 'curve_preferences', 'prefer_server_cipher_suites',
  ]);
  const f = (key: string) => `tls_server_config.${key}`;
  const given = (key: string) => t[key] !== undefined && t[key] !== null && t[key] !== '';
  if (['cert_file', 'cert', 'key_file', 'key', 'client_ca_file', 'client_ca', 'client_auth_type'].some(given)) {
    if (given('cert_file') && given('cert')) fail(f('cert'), 'give cert or cert_file, not both');
    if (given('key_file') && given('key')) fail(f('key'), 'give key or key_file, not both');
    if (given('client_ca_file') && given('client_ca')) fail(f('client_ca'), 'give client_ca or client_ca_file, not both');
    if (!given('cert_file') && !given('cert')) fail(f('cert_file'), 'missing: TLS needs cert_file (or cert)');
    if (!given('key_file') && !given('key')) fail(f('key_file'), 'missing: TLS needs key_file (or key)');
    const cert = given('cert_file') ? readNamed(f('cert_file'), t.cert_file) : Buffer.from(stringField(t.cert, f('cert'), fail));
    const key = given('key_file') ? readNamed(f('key_file'), t.key_file) : Buffer.from(stringField(t.key, f('key'), fail));
    const caField = given('client_ca_file') ? f('client_ca_file') : f('client_ca');
    const ca = given('client_ca_file') ? readNamed(caField, t.client_ca_file)
      : given('client_ca') ? Buffer.from(stringField(t.client_ca, caField, fail)) : undefined;

    const clientAuth = (given('client_auth_type') ? stringField(t.client_auth_type, f('client_auth_type'), fail) : 'NoClientCert') as ClientAuthType;
    // RequireClientCert: exporter-toolkit's old name for RequireAnyClientCert.
    const authType = (clientAuth as string) === 'RequireClientCert' ? 'RequireAnyClientCert' : clientAuth;
    if (!CLIENT_AUTH_TYPES.includes(authType)) fail(f('client_auth_type'), `"${clientAuth}" is not one of ${CLIENT_AUTH_TYPES.join(', ')}`);
    if (ca && authType === 'NoClientCert') fail(caField, 'a client CA is configured but client_auth_type does not ask for client certificates');
    if (ca) checkCertificates(ca, caField, fail);
    checkCertificates(cert, given('cert_file') ? f('cert_file') : f('cert'), fail);

    const version = (key: string, fallback: tls.SecureVersion): tls.SecureVersion => {
      if (!given(key)) return fallback;
      const name = stringField(t[key], f(key), fail);
      const v = VERSIONS[name];
      if (v === undefined) fail(f(key), `"${name}" is not one of ${Object.keys(VERSIONS).join(', ')}`);
      if (v === 'refused') fail(f(key), `${name}: Node's OpenSSL refuses TLS 1.0 and 1.1 at its default security level; use TLS12 or TLS13`);
      return v as tls.SecureVersion;
    };
    const minVersion = version('min_version', 'TLSv1.2');
    const maxVersion = version('max_version', 'TLSv1.3');
    if (minVersion > maxVersion) fail(f('min_version'), `is above max_version`);

    const context: tls.SecureContextOptions = { cert, key, ca, minVersion, maxVersion };
    if (given('cipher_suites')) context.ciphers = cipherList(stringList(t.cipher_suites, f('cipher_suites'), fail), f('cipher_suites'), fail);
    if (given('curve_preferences')) {
      context.ecdhCurve = stringList(t.curve_preferences, f('curve_preferences'), fail).map((name) => {
        if (!Object.hasOwn(CURVES, name)) fail(f('curve_preferences'), `unknown curve "${name}" (known: ${Object.keys(CURVES).join(', ')})`);
        return CURVES[name];
      }).join(':');
    }
    context.honorCipherOrder = given('prefer_server_cipher_suites') ? booleanField(t.prefer_server_cipher_suites, f('prefer_server_cipher_suites'), fail) : true;
    try {
      tls.createSecureContext(context); // the key matches the certificate, OpenSSL takes the options
    } catch (err) {
      const message = (err as Error).message;
      const field = /key|pem|certificate|asn1|decoder/i.test(message) ? (given('key_file') ? f('key_file') : f('key')) : f('cipher_suites');
      fail(field, `not usable by TLS: ${message}`);
    }
    const allowedSans = given('client_allowed_sans') ? stringList(t.client_allowed_sans, f('client_allowed_sans'), fail) : undefined;
    if (allowedSans && authType === 'NoClientCert') fail(f('client_allowed_sans'), 'is set but client_auth_type does not ask for client certificates');
    tlsSettings = { context, clientAuth: authType, allowedSans };
  } else {
    for (const key of Object.keys(t)) if (given(key)) fail(f(key), 'is set but TLS is not: TLS needs cert_file and key_file');
  }

  // --- http_server_config --------------------------------------------------------
  const h = section(top.http_server_config ?? {}, 'http_server_config', fail, ['http2', 'headers']);
  if (h.http2 !== undefined && h.http2 !== null && booleanField(h.http2, 'http_server_config.http2', fail)) {
    fail('http_server_config.http2', 'true is not supported: this server speaks HTTP/1.1 (Prometheus scrapes it the same); set false or remove it');
  }
  const headers: Array<[string, string]> = [];
  for (const [name, value] of Object.entries(section(h.headers ?? {}, 'http_server_config.headers', fail))) {
    const field = `http_server_config.headers.${name}`;
    if (!Object.hasOwn(HEADERS, name)) fail(field, `cannot be set (allowed: ${Object.keys(HEADERS).join(', ')})`);
    const text = stringField(value, field, fail);
    const allowed = HEADERS[name];
    if (allowed && !allowed.includes(text)) fail(field, `"${text}" is not one of ${allowed.join(', ')}`);
    if (/[\r\n]/.test(text)) fail(field, 'contains a line break');
    headers.push([name, text]);
  }

  // --- basic_auth_users ----------------------------------------------------------
  const users = new Map<string, string>();
  for (const [user, hash] of Object.entries(section(top.basic_auth_users ?? {}, 'basic_auth_users', fail))) {
    const field = `basic_auth_users.${user}`;
    if (user.includes(':')) fail(field, 'a user name cannot contain ":" (basic auth splits there)');
    if (typeof hash !== 'string' || !BCRYPT_HASH.test(hash)) fail(field, 'is not a bcrypt hash ($2a$, $2b$ or $2y$, cost 4-31; make one with `htpasswd -nBC 10 "" | tr -d \':\\n\'`)');
    users.set(user, hash as string);
  }
  // --- rate_limit ------------------------------------------------------------------
  let rateLimit: WebConfig['rateLimit'];
  const r = section(top.rate_limit ?? {}, 'rate_limit', fail, ['burst', 'interval']);
  const interval = r.interval === undefined || r.interval === null ? 0 : parseGoDuration(String(r.interval));
  if (interval === undefined) fail('rate_limit.interval', `"${String(r.interval)}" is not a duration (e.g. 1s, 500ms)`);
  if (interval! > 0) {
    const burst = r.burst ?? 0;
    if (typeof burst !== 'number' || !Number.isInteger(burst) || burst < 0) fail('rate_limit.burst', 'must be a whole number');
    rateLimit = { burst: burst as number, intervalMs: interval! };
  }
  return { file: resolved, tls: tlsSettings, headers, users, rateLimit, files };
}

/** A YAML mapping whose keys are all among `known` (exporter-toolkit reads the file strictly). */
function section(value: unknown, field: string, fail: (field: string, problem: string) => never, known?: string[]): Fields {
  if (value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) return fail(field, 'must be a mapping');
  const fields = value as Fields;
  if (known) {
    for (const key of Object.keys(fields)) {
      if (!known.includes(key)) fail(field ? `${field}.${key}` : key, `unknown field (known here: ${known.join(', ')})`);
    }
  }
  return fields;
}

function stringField(value: unknown, field: string, fail: (field: string, problem: string) => never): string {
  if (typeof value !== 'string') return fail(field, 'must be a string');
  return value;
}

function booleanField(value: unknown, field: string, fail: (field: string, problem: string) => never): boolean {
  if (typeof value !== 'boolean') return fail(field, 'must be true or false');
  return value;
}

function stringList(value: unknown, field: string, fail: (field: string, problem: string) => never): string[] {
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) return fail(field, 'must be a list of strings');
  return value as string[];
}

/** Go's suite names as an OpenSSL cipher string; a suite this Node's OpenSSL lacks is an error. */
function cipherList(names: string[], field: string, fail: (field: string, problem: string) => never): string {
  const available = new Set(tls.getCiphers());
  const openssl = names.map((name) => {
    if (!Object.hasOwn(CIPHERS, name)) fail(field, `unknown cipher suite "${name}" (use Go's names, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)`);
    const mapped = CIPHERS[name];
    if (!available.has(mapped.toLowerCase())) fail(field, `${name} (OpenSSL ${mapped}) is not available in this Node's OpenSSL`);
    return mapped;
  });
  // Go's cipher_suites do not apply to TLS 1.3, whose suites stay on; listing some restricts them here.
  if (!openssl.some((c) => c.startsWith('TLS_'))) openssl.unshift(TLS13_DEFAULT_SUITES);
  return openssl.join(':');
}

function checkCertificates(pem: Buffer, field: string, fail: (field: string, problem: string) => never): void {
  const blocks = pem.toString('latin1').match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g);
  if (!blocks) fail(field, 'holds no PEM certificate');
  for (const block of blocks!) {
    try {
      new crypto.X509Certificate(block);
    } catch (err) {
      fail(field, `holds a certificate that does not parse: ${(err as Error).message}`);
    }
  }
}

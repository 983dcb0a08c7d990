// The checks on a client certificate that node:tls leaves to us, per client_auth_type
// (exporter-toolkit's names for Go's tls.ClientAuthType), and client_allowed_sans.
// Node verifies the chain during the handshake and reports the result on the socket
// (`authorized`); whether that result matters is decided here, right after the handshake
// and before any request on the connection is read.
import crypto from 'node:crypto';
import type tls from 'node:tls';
import type { ClientAuthType, TlsSettings } from './web-config.js';

/** What the server must do with the handshake for each type: ask for a certificate at all? */
export function requestsCertificate(type: ClientAuthType): boolean {
  return type !== 'NoClientCert';
}

/** Why the connection must be closed, or undefined when the client may go on. */
export function refuseClient(socket: tls.TLSSocket, settings: TlsSettings): string | undefined {
  const type = settings.clientAuth;
  if (type === 'NoClientCert') return undefined;
  const peer = socket.getPeerCertificate();
  const presented = peer !== null && typeof peer === 'object' && peer.raw !== undefined;
  if (!presented) {
    if (type === 'RequireAnyClientCert' || type === 'RequireAndVerifyClientCert') return 'no client certificate';
    return settings.allowedSans ? 'no client certificate (client_allowed_sans needs one)' : undefined;
  }
  if ((type === 'VerifyClientCertIfGiven' || type === 'RequireAndVerifyClientCert') && !socket.authorized) {
    return `client certificate not verified (${String(socket.authorizationError)})`;
  }
  if (settings.allowedSans) {
    const sans = subjectAltNames(peer.raw);
    if (!sans.some((san) => settings.allowedSans!.includes(san))) return `client certificate SANs ${JSON.stringify(sans)} are not in client_allowed_sans`;
  }
  return undefined;
}

/**
 * The SAN values of a DER certificate (DNS names, emails, IP addresses, URIs), as
 * exporter-toolkit compares them. Node renders them as `DNS:a, IP Address:1.2.3.4`, with
 * a value JSON-quoted when it holds a separator.
 */
export function subjectAltNames(der: Buffer): string[] {
  const text = new crypto.X509Certificate(der).subjectAltName;
  if (!text) return [];
  const values: string[] = [];
  const entry = /\s*([A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)(?:,|$)/g;
  for (let m = entry.exec(text); m && m[0] !== ''; m = entry.exec(text)) {
    const type = m[1].trim();
    if (!['DNS', 'email', 'IP Address', 'URI'].includes(type)) continue;
    values.push(m[2].startsWith('"') ? (JSON.parse(m[2]) as string) : m[2].trim());
  }
  return values;
}

import type { TLSSocket } from 'node:tls';
import type { TlsPeer } from './types.ts';

/** Bounds on what a peer's certificate can make us keep per connection. */
const MAX_ALT_NAMES = 32;
const MAX_NAME_LENGTH = 256;

/**
 * A socket wrapped by hand (so that connection caps apply before any handshake work) misses
 * what tls.Server does on 'secure': reading OpenSSL's verify result into `authorized`. This
 * does the same, as lib/_tls_wrap.js onServerSocketSecure does; if that internal is ever
 * gone, the peer is reported unverified rather than trusted.
 */
export function settleServerAuthorization(socket: TLSSocket): void {
  const handle = (socket as unknown as { _handle?: { verifyError?: () => Error | null } })._handle;
  if (typeof handle?.verifyError !== 'function') {
    socket.authorized = false;
    socket.authorizationError = new Error('SW_ERR_TLS_UNVERIFIED');
    return;
  }
  const error = handle.verifyError();
  if (error) {
    socket.authorized = false;
    socket.authorizationError = error;
  } else {
    socket.authorized = true;
  }
}

/** What the peer's certificate says, read once when the handshake completes. Never throws. */
export function describeTlsPeer(socket: TLSSocket): TlsPeer {
  try {
    return readTlsPeer(socket);
  } catch {
    return Object.freeze({ authorized: false, authorizationError: 'SW_ERR_TLS_UNREADABLE', altNames: [] });
  }
}

function readTlsPeer(socket: TLSSocket): TlsPeer {
  const certificate = socket.getPeerCertificate();
  // Node's own sockets carry an Error with an OpenSSL code here, despite the typing.
  const error = socket.authorizationError as Error | string | null | undefined;
  const code =
    typeof error === 'object' && error !== null
      ? ((error as { code?: unknown }).code ?? error.message)
      : error;
  const base = {
    authorized: socket.authorized,
    ...(code ? { authorizationError: String(code).slice(0, MAX_NAME_LENGTH) } : {}),
  };
  // An object without a subject means the peer sent no certificate.
  if (certificate === null || typeof certificate !== 'object' || certificate.subject === undefined) {
    return Object.freeze({ ...base, altNames: Object.freeze([]) });
  }
  const commonName = certificate.subject.CN as string | string[] | undefined;
  const subjectCommonName = Array.isArray(commonName) ? commonName[0] : commonName;
  return Object.freeze({
    ...base,
    ...(subjectCommonName === undefined
      ? {}
      : { subjectCommonName: subjectCommonName.slice(0, MAX_NAME_LENGTH) }),
    altNames: Object.freeze(parseAltNames(certificate.subjectaltname ?? '')),
    ...(certificate.fingerprint256 ? { fingerprint256: certificate.fingerprint256 } : {}),
  });
}

/**
 * Splits Node's subjectaltname text ("DNS:a, URI:sip:b"). Values holding a comma or quote
 * arrive quoted as JSON strings (`DNS:"a, b"`), so a plain split would let a certificate
 * forge an extra entry.
 */
export function parseAltNames(text: string): string[] {
  const names: string[] = [];
  let i = 0;
  while (i < text.length && names.length < MAX_ALT_NAMES) {
    const colon = text.indexOf(':', i);
    if (colon < 0) break;
    const type = text.slice(i, colon);
    let value: string;
    let next: number;
    if (text[colon + 1] === '"') {
      const end = closingQuote(text, colon + 2);
      if (end < 0) break;
      try {
        value = JSON.parse(text.slice(colon + 1, end + 1)) as string;
      } catch {
        break;
      }
      next = text.indexOf(', ', end + 1);
    } else {
      next = text.indexOf(', ', colon + 1);
      value = text.slice(colon + 1, next < 0 ? text.length : next);
    }
    names.push(`${type}:${value}`.slice(0, MAX_NAME_LENGTH));
    if (next < 0) break;
    i = next + 2;
  }
  return names;
}

function closingQuote(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === '"') return i;
  }
  return -1;
}

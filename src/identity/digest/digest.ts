/**
 * HTTP Digest as a SIP server speaks it (RFC 3261 22.4 on RFC 7616, SHA-256 from RFC 8760):
 * the challenge values it sends, the credentials it reads, and the response it expects,
 * compared in constant time. Only `qop=auth` is offered; MD5 and SHA-256, not their `-sess`
 * forms (RFC 8760 section 2.5: a SIP UA hashes no body and needs no session key).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { authParam } from '../../security/credentials.ts';

export type DigestAlgorithm = 'SHA-256' | 'MD5';

/** The algorithms challenged, in the order of the challenge headers: the preferred first (RFC 8760 section 2.4). */
export const CHALLENGE_ALGORITHMS: readonly DigestAlgorithm[] = Object.freeze(['SHA-256', 'MD5']);

const HASH_NAME: Readonly<Record<DigestAlgorithm, string>> = { 'SHA-256': 'sha256', MD5: 'md5' };
const HEX_LENGTH: Readonly<Record<DigestAlgorithm, number>> = { 'SHA-256': 64, MD5: 32 };

/** Lower-case hex of the algorithm's hash of `text` (RFC 7616 3.4: H(data)). */
export function digestHash(algorithm: DigestAlgorithm, text: string): string {
  return createHash(HASH_NAME[algorithm]).update(text, 'utf8').digest('hex');
}

/** What the response of a request is computed from, besides HA1. */
export interface ResponseInput {
  readonly algorithm: DigestAlgorithm;
  readonly method: string;
  /** The digest-uri as the client sent it. */
  readonly uri: string;
  readonly nonce: string;
  /** Present with `qop=auth`; absent for a client of RFC 2069 (no qop). */
  readonly qop?: { readonly nc: string; readonly cnonce: string };
}

/**
 * The expected response (RFC 7616 3.4.1): with qop=auth
 * H(HA1 ":" nonce ":" nc ":" cnonce ":" "auth" ":" HA2), without qop (RFC 2617 3.2.2.1)
 * H(HA1 ":" nonce ":" HA2); HA2 = H(method ":" digest-uri) (RFC 7616 3.4.3).
 */
export function computeResponse(ha1: string, input: ResponseInput): string {
  const ha2 = digestHash(input.algorithm, `${input.method}:${input.uri}`);
  const text = input.qop
    ? `${ha1}:${input.nonce}:${input.qop.nc}:${input.qop.cnonce}:auth:${ha2}`
    : `${ha1}:${input.nonce}:${ha2}`;
  return digestHash(input.algorithm, text);
}

/** True when `response` (as received) is the expected one; constant time in its content. */
export function responseMatches(expected: string, response: string): boolean {
  if (expected.length !== response.length) return false;
  return timingSafeEqual(Buffer.from(expected, 'latin1'), Buffer.from(response.toLowerCase(), 'latin1'));
}

/** A `quoted-string` (RFC 3261 25.1) of a value sipwarden writes (a realm, a nonce). */
function quoted(value: string): string {
  return `"${value.replace(/["\\]/g, '\\$&')}"`;
}

/** One challenge value for WWW-Authenticate / Proxy-Authenticate (RFC 8760 section 2.4). */
export function challengeValue(
  realm: string,
  nonce: string,
  algorithm: DigestAlgorithm,
  stale: boolean,
): string {
  return `Digest realm=${quoted(realm)}, nonce=${quoted(nonce)}, algorithm=${algorithm}, qop="auth"${
    stale ? ', stale=true' : ''
  }`;
}

/** Digest credentials as a request carries them (RFC 7616 3.4), checked for form only. */
export interface DigestCredentials {
  readonly username: string;
  readonly realm: string;
  readonly nonce: string;
  readonly uri: string;
  /** Lower-case hex, of the length of the algorithm's hash. */
  readonly response: string;
  readonly algorithm: DigestAlgorithm;
  /** With `qop=auth`: the nonce count (1 and up) and the client nonce as sent. */
  readonly qop?: { readonly nc: string; readonly count: number; readonly cnonce: string };
}

/** Why credentials cannot be checked at all (a 400, RFC 7616 3.4). */
export type CredentialsProblem =
  | 'missing-parameter'
  | 'unsupported-algorithm'
  | 'unsupported-qop'
  | 'bad-nonce-count'
  | 'bad-response'
  | 'too-long'
  | 'userhash';

/** Bounds of what is read: longer values are refused, not cut (a cut value cannot verify). */
const MAX_USERNAME = 128;
const MAX_URI = 1024;
const MAX_CNONCE = 256;
const MAX_REALM = 256;
const MAX_NONCE = 256;
const NC = /^[0-9a-fA-F]{8}$/;
const HEX = /^[0-9a-fA-F]+$/;

/** True when a header value is Digest credentials (the scheme is case-insensitive, RFC 7235 2.1). */
export function isDigest(value: string): boolean {
  return value.length > 7 && value.slice(0, 7).toLowerCase() === 'digest ';
}

/** The realm named by a credentials value, or undefined. */
export function realmOf(value: string): string | undefined {
  return authParam(value, 'realm');
}

/** Reads Digest credentials from an Authorization / Proxy-Authorization value. */
export function parseCredentials(value: string): DigestCredentials | CredentialsProblem {
  const username = authParam(value, 'username');
  const realm = authParam(value, 'realm');
  const nonce = authParam(value, 'nonce');
  const uri = authParam(value, 'uri');
  const response = authParam(value, 'response');
  if (
    username === undefined ||
    realm === undefined ||
    nonce === undefined ||
    uri === undefined ||
    response === undefined
  ) {
    return 'missing-parameter';
  }
  if (
    username.length > MAX_USERNAME ||
    realm.length > MAX_REALM ||
    nonce.length > MAX_NONCE ||
    uri.length > MAX_URI
  ) {
    return 'too-long';
  }
  // RFC 7616 3.4.4: a hashed user name, which needs a lookup by hash this store does not keep.
  if (authParam(value, 'userhash')?.toLowerCase() === 'true') return 'userhash';
  const algorithmText = (authParam(value, 'algorithm') ?? 'MD5').toUpperCase();
  const algorithm = CHALLENGE_ALGORITHMS.find((a) => a === algorithmText);
  if (algorithm === undefined) return 'unsupported-algorithm';
  if (response.length !== HEX_LENGTH[algorithm] || !HEX.test(response)) return 'bad-response';
  const base = { username, realm, nonce, uri, response: response.toLowerCase(), algorithm };
  const qop = authParam(value, 'qop');
  if (qop === undefined) return base;
  if (qop.toLowerCase() !== 'auth') return 'unsupported-qop';
  const nc = authParam(value, 'nc');
  const cnonce = authParam(value, 'cnonce');
  if (nc === undefined || cnonce === undefined) return 'missing-parameter';
  if (cnonce.length > MAX_CNONCE) return 'too-long';
  if (!NC.test(nc)) return 'bad-nonce-count';
  const count = Number.parseInt(nc, 16);
  if (count < 1) return 'bad-nonce-count';
  return { ...base, qop: { nc, count, cnonce } };
}

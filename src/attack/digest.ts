/**
 * HTTP Digest as SIP uses it (RFC 3261 22.4 on RFC 2617; SHA-256 from RFC 7616 and
 * RFC 8760): the challenge parsed from WWW-Authenticate / Proxy-Authenticate, and the
 * response computed for a password guess, with qop=auth, a client nonce and a nonce count.
 */
import { createHash, randomBytes } from 'node:crypto';

export type DigestAlgorithm = 'MD5' | 'MD5-sess' | 'SHA-256' | 'SHA-256-sess';

export interface DigestChallenge {
  readonly realm: string;
  readonly nonce: string;
  readonly algorithm: DigestAlgorithm;
  /** `auth` when offered (we never use auth-int: no body is hashed). */
  readonly qop?: 'auth';
  readonly opaque?: string;
  readonly stale: boolean;
}

export interface DigestCredentials {
  readonly username: string;
  readonly password: string;
  readonly method: string;
  /** The digest-uri: the Request-URI as sent. */
  readonly uri: string;
  /** Client nonce and nonce count, required with qop (RFC 7616 3.4). */
  readonly cnonce?: string;
  readonly nc?: number;
}

const ALGORITHMS: Readonly<Record<string, DigestAlgorithm>> = {
  md5: 'MD5',
  'md5-sess': 'MD5-sess',
  'sha-256': 'SHA-256',
  'sha-256-sess': 'SHA-256-sess',
};

/** Parameters of a `Digest a=b, c="d"` value, names lower-cased; bounded to 32 of them. */
export function parseAuthParams(value: string): Map<string, string> | undefined {
  const trimmed = value.trim();
  if (!/^digest\s/i.test(trimmed)) return undefined;
  const params = new Map<string, string>();
  const text = trimmed.slice(6);
  let i = 0;
  while (i < text.length && params.size < 32) {
    while (i < text.length && (text[i] === ' ' || text[i] === ',' || text[i] === '\t')) i++;
    const eq = text.indexOf('=', i);
    if (eq < 0) break;
    const name = text.slice(i, eq).trim().toLowerCase();
    i = eq + 1;
    while (text[i] === ' ') i++;
    let valueText = '';
    if (text[i] === '"') {
      i++;
      while (i < text.length && text[i] !== '"') {
        if (text[i] === '\\' && i + 1 < text.length) i++;
        valueText += text[i];
        i++;
      }
      i++;
    } else {
      const end = text.indexOf(',', i);
      valueText = (end < 0 ? text.slice(i) : text.slice(i, end)).trim();
      i = end < 0 ? text.length : end;
    }
    params.set(name, valueText);
  }
  return params;
}

/** The challenge in a WWW-Authenticate or Proxy-Authenticate value; undefined if not Digest we can answer. */
export function parseChallenge(value: string): DigestChallenge | undefined {
  const params = parseAuthParams(value);
  if (!params) return undefined;
  const realm = params.get('realm');
  const nonce = params.get('nonce');
  if (realm === undefined || nonce === undefined) return undefined;
  const algorithm = ALGORITHMS[(params.get('algorithm') ?? 'MD5').toLowerCase()];
  if (algorithm === undefined) return undefined;
  const qops = (params.get('qop') ?? '').split(',').map((q) => q.trim().toLowerCase());
  const opaque = params.get('opaque');
  return {
    realm,
    nonce,
    algorithm,
    ...(qops.includes('auth') ? { qop: 'auth' as const } : {}),
    ...(opaque === undefined ? {} : { opaque }),
    stale: (params.get('stale') ?? '').toLowerCase() === 'true',
  };
}

function hashOf(algorithm: DigestAlgorithm): (text: string) => string {
  const name = algorithm.startsWith('SHA-256') ? 'sha256' : 'md5';
  return (text) => createHash(name).update(text, 'utf8').digest('hex');
}

/** The `response` value (RFC 7616 3.4.1, RFC 2617 3.2.2.1). */
export function digestResponse(challenge: DigestChallenge, credentials: DigestCredentials): string {
  const H = hashOf(challenge.algorithm);
  let ha1 = H(`${credentials.username}:${challenge.realm}:${credentials.password}`);
  if (challenge.algorithm.endsWith('-sess')) {
    // RFC 7616 3.4.2: the session variant hashes in both nonces.
    ha1 = H(`${ha1}:${challenge.nonce}:${credentials.cnonce ?? ''}`);
  }
  const ha2 = H(`${credentials.method}:${credentials.uri}`);
  if (challenge.qop === 'auth') {
    const nc = formatNonceCount(credentials.nc ?? 1);
    return H(`${ha1}:${challenge.nonce}:${nc}:${credentials.cnonce ?? ''}:auth:${ha2}`);
  }
  // RFC 2069 compatibility (no qop).
  return H(`${ha1}:${challenge.nonce}:${ha2}`);
}

export function formatNonceCount(nc: number): string {
  return nc.toString(16).padStart(8, '0');
}

export function newCnonce(): string {
  return randomBytes(8).toString('hex');
}

function quoted(text: string): string {
  return `"${text.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/** The Authorization / Proxy-Authorization value for a guess. */
export function authorizationValue(challenge: DigestChallenge, credentials: DigestCredentials): string {
  const cnonce = credentials.cnonce ?? newCnonce();
  const nc = credentials.nc ?? 1;
  const response = digestResponse(challenge, { ...credentials, cnonce, nc });
  const parts = [
    `username=${quoted(credentials.username)}`,
    `realm=${quoted(challenge.realm)}`,
    `nonce=${quoted(challenge.nonce)}`,
    `uri=${quoted(credentials.uri)}`,
    `response=${quoted(response)}`,
    `algorithm=${challenge.algorithm}`,
  ];
  if (challenge.qop === 'auth')
    parts.push(`cnonce=${quoted(cnonce)}`, 'qop=auth', `nc=${formatNonceCount(nc)}`);
  if (challenge.opaque !== undefined) parts.push(`opaque=${quoted(challenge.opaque)}`);
  return `Digest ${parts.join(', ')}`;
}

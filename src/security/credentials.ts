/**
 * Just enough of HTTP Digest as SIP uses it (RFC 3261 22.4, RFC 8760) for the detectors:
 * whether a request carries credentials and for which user name, and whether a challenge
 * says the nonce was merely stale (RFC 7616 3.3: `stale=true` means the credentials were
 * right, so a 401/407 that says so is not a failed password).
 */
import type { SipRequest, SipResponse } from '../sip/message.ts';
import { boundedText } from './attributes.ts';

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/**
 * The value of one auth-param of a challenge or credentials header value (`Digest
 * username="100", realm="x", ...`), unquoted; undefined when absent. One linear pass.
 */
export function authParam(value: string, wanted: string): string | undefined {
  const n = value.length;
  let i = 0;
  // The scheme token (`Digest`).
  while (i < n && !isSpace(value.charCodeAt(i))) i++;
  while (i < n) {
    let c = value.charCodeAt(i);
    while (i < n && (isSpace(c) || c === 0x2c)) c = value.charCodeAt(++i);
    const nameStart = i;
    while (i < n && c !== 0x3d && c !== 0x2c && !isSpace(c)) c = value.charCodeAt(++i);
    const nameEnd = i;
    while (i < n && isSpace(c)) c = value.charCodeAt(++i);
    if (c !== 0x3d) continue; // not `name=value`: go on at the next separator
    c = value.charCodeAt(++i);
    while (i < n && isSpace(c)) c = value.charCodeAt(++i);
    let v = '';
    if (c === 0x22) {
      // quoted-string with quoted-pair (RFC 3261 25.1)
      i++;
      const start = i;
      let escaped = false;
      while (i < n) {
        const d = value.charCodeAt(i);
        if (d === 0x5c && i + 1 < n) {
          escaped = true;
          i += 2;
          continue;
        }
        if (d === 0x22) break;
        i++;
      }
      v = value.slice(start, i);
      if (escaped) v = v.replace(/\\(.)/g, '$1');
      i++;
    } else {
      const start = i;
      while (i < n && value.charCodeAt(i) !== 0x2c && !isSpace(value.charCodeAt(i))) i++;
      v = value.slice(start, i);
    }
    if (nameEnd - nameStart === wanted.length && value.slice(nameStart, nameEnd).toLowerCase() === wanted)
      return v;
  }
  return undefined;
}

export interface Credentials {
  /** The digest user name, lower-cased and bounded; '' when the header names none. */
  readonly username: string;
}

/** The credentials a request carries (Authorization or Proxy-Authorization), if any. */
export function credentialsOf(request: SipRequest): Credentials | undefined {
  let found = false;
  for (const h of request.headers) {
    if (h.name !== 'authorization' && h.name !== 'proxy-authorization') continue;
    found = true;
    const username = authParam(h.value, 'username');
    if (username !== undefined && username.length > 0)
      return { username: boundedText(username.toLowerCase()) };
  }
  return found ? { username: '' } : undefined;
}

/** True when a 401/407 challenge says the nonce was stale (the password was right). */
export function isStaleChallenge(response: SipResponse): boolean {
  for (const h of response.headers) {
    if (h.name !== 'www-authenticate' && h.name !== 'proxy-authenticate') continue;
    if (authParam(h.value, 'stale')?.toLowerCase() === 'true') return true;
  }
  return false;
}

/**
 * Header parameters: *( SEMI generic-param ), generic-param = token [ EQUAL gen-value ],
 * gen-value = token / host / quoted-string (RFC 3261 section 25.1). SEMI and EQUAL allow
 * whitespace on either side (after unfolding, LWS is SP / HTAB).
 */
import { CHAR, HEX, skipWs, TOKEN } from '../chars.ts';
import { isIPv6 } from '../host.ts';

export const PARAM_BAD = -1;
export const PARAM_TOO_LONG = -2;
export const PARAM_DUPLICATE = -3;

/**
 * Scans a quoted-string starting at the DQUOTE at `i`; returns the index after the closing
 * DQUOTE, or -1. qdtext = LWS / %x21 / %x23-5B / %x5D-7E / UTF8-NONASCII;
 * quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F).
 */
export function scanQuoted(s: string, i: number): number {
  const n = s.length;
  i++;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c === 0x22) return i + 1;
    if (c === 0x5c) {
      const q = s.charCodeAt(i + 1);
      if (!(q <= 0x7f) || q === 0x0a || q === 0x0d) return -1;
      i += 2;
      continue;
    }
    if (c < 0x20 ? c !== 0x09 : c === 0x7f || c > 0xff) return -1;
    i++;
  }
  return -1;
}

/** The content of a quoted-string (without DQUOTEs) with quoted-pairs resolved. */
export function unquote(s: string, start: number, end: number): string {
  const inner = s.slice(start + 1, end - 1);
  if (inner.indexOf('\\') < 0) return inner;
  let out = '';
  for (let k = 0; k < inner.length; k++) {
    const c = inner[k]!;
    if (c === '\\' && k + 1 < inner.length) {
      out += inner[k + 1]!;
      k++;
    } else out += c;
  }
  return out;
}

/** Quotes a string as a quoted-string, escaping DQUOTE and backslash. */
export function quote(text: string): string {
  let out = '"';
  for (let k = 0; k < text.length; k++) {
    const c = text[k]!;
    out += c === '"' || c === '\\' ? '\\' + c : c;
  }
  return out + '"';
}

export function scanToken(s: string, i: number): number {
  const n = s.length;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c > 255 || (CHAR[c]! & TOKEN) === 0) break;
    i++;
  }
  return i;
}

/**
 * Parses `*( SEMI generic-param )` from `p` into `params` (names lower-cased, values as
 * written, quoted strings with their quotes). Returns the index of the first character that
 * is not part of the parameters (after trailing whitespace), or a negative PARAM_* code.
 */
export function parseParams(
  s: string,
  p: number,
  params: Map<string, string | null>,
  max: number,
  bareIPv6Received = false,
): number {
  p = skipWs(s, p);
  while (s.charCodeAt(p) === 0x3b) {
    p = skipWs(s, p + 1);
    const nameEnd = scanToken(s, p);
    if (nameEnd === p) return PARAM_BAD;
    if (nameEnd - p > max) return PARAM_TOO_LONG;
    const name = s.slice(p, nameEnd).toLowerCase();
    p = skipWs(s, nameEnd);
    let value: string | null = null;
    if (s.charCodeAt(p) === 0x3d) {
      p = skipWs(s, p + 1);
      const c = s.charCodeAt(p);
      let end: number;
      if (c === 0x22) {
        end = scanQuoted(s, p);
      } else if (c === 0x5b) {
        const close = s.indexOf(']', p + 1);
        end = close > 0 && isIPv6(s, p + 1, close) ? close + 1 : -1;
      } else {
        end = scanToken(s, p);
        // Via received may hold a bare IPv6 address (RFC 5118 section 4.5).
        if (bareIPv6Received && name === 'received' && s.charCodeAt(end) === 0x3a) end = scanIPv6Chars(s, p);
        if (end === p) end = -1;
      }
      if (end < 0) return PARAM_BAD;
      if (end - p > max) return PARAM_TOO_LONG;
      value = s.slice(p, end);
      p = skipWs(s, end);
    }
    if (params.has(name)) return PARAM_DUPLICATE;
    params.set(name, value);
  }
  return p;
}

function scanIPv6Chars(s: string, i: number): number {
  const n = s.length;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c !== 0x3a && c !== 0x2e && (c > 255 || (CHAR[c]! & HEX) === 0)) break;
    i++;
  }
  return i;
}

export function formatParams(params: ReadonlyMap<string, string | null>): string {
  let out = '';
  for (const [k, v] of params) out += v === null ? `;${k}` : `;${k}=${v}`;
  return out;
}

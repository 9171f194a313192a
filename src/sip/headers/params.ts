/**
 * Header parameters: *( SEMI generic-param ), generic-param = token [ EQUAL gen-value ],
 * gen-value = token / host / quoted-string (RFC 3261 section 25.1). SEMI and EQUAL allow
 * whitespace on either side (after unfolding, LWS is SP / HTAB).
 */
import { CHAR, HEX, skipWs, TOKEN } from '../chars.ts';
import { isIPv4, isIPv6, scanHost } from '../host.ts';

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

/** An empty map that refuses to change: one instance is shared by every value without parameters. */
class SharedEmptyMap<K, V> extends Map<K, V> {
  override set(): this {
    throw new TypeError('a shared empty SIP parameter map cannot change: copy it with new Map(...)');
  }
  override delete(): boolean {
    return false;
  }
  override clear(): void {}
}

/** Shared empty parameter map for values without parameters. */
export const NO_PARAMS: ReadonlyMap<string, string | null> = new SharedEmptyMap<string, string | null>();
/** Shared empty URI header map. */
export const NO_HEADERS: ReadonlyMap<string, string> = new SharedEmptyMap<string, string>();

/** The parameters read by the last parseParams call (NO_PARAMS when there were none). */
export let parsedParams: ReadonlyMap<string, string | null> = NO_PARAMS;

/** Most parameters one header value or URI may carry. */
export const MAX_PARAMS = 64;

/** parseParams modes: generic header parameters, or Via parameters (values checked). */
export const GENERIC_PARAMS = 0;
export const VIA_PARAMS = 1;
/** A Via parameter RFC 3261 defines had a bad value. */
export const PARAM_BAD_VIA_VALUE = -4;

function isDigitsUpTo(s: string, max: number): boolean {
  if (s.length === 0 || s.length > 5) return false;
  let v = 0;
  for (let k = 0; k < s.length; k++) {
    const c = s.charCodeAt(k);
    if (c < 0x30 || c > 0x39) return false;
    v = v * 10 + (c - 0x30);
  }
  return v <= max;
}

/** Checks the value of a Via parameter RFC 3261 20.42 / RFC 3581 define. */
export function viaValueOk(name: string, value: string | null): boolean {
  switch (name) {
    case 'branch':
      // branch = token; quoted strings and IPv6 references are not tokens.
      return value !== null && value.charCodeAt(0) !== 0x22 && value.charCodeAt(0) !== 0x5b;
    case 'ttl':
      return value !== null && value.length <= 3 && isDigitsUpTo(value, 255); // 1*3DIGIT, 0 to 255
    case 'maddr':
      return value !== null && scanHost(value, 0) === value.length;
    case 'received':
      // received = IPv4address / IPv6address; RFC 5118 4.5 allows the bracketed form too.
      return (
        value !== null &&
        (isIPv4(value, 0, value.length) ||
          isIPv6(value, 0, value.length) ||
          (value.charCodeAt(0) === 0x5b &&
            value.charCodeAt(value.length - 1) === 0x5d &&
            isIPv6(value, 1, value.length - 1)))
      );
    case 'rport':
      return value === null || isDigitsUpTo(value, 65535); // RFC 3581: rport [ "=" 1*DIGIT ]
    default:
      return true;
  }
}

/**
 * Parses `*( SEMI generic-param )` from `p`; the map (names lower-cased, values as written,
 * quoted strings with their quotes) is left in `parsedParams`. Returns the index of the first
 * character that is not part of the parameters (after trailing whitespace), or a negative
 * PARAM_* code.
 */
export function parseParams(s: string, p: number, max: number, mode: number): number {
  let params: Map<string, string | null> | undefined;
  parsedParams = NO_PARAMS;
  p = skipWs(s, p);
  while (s.charCodeAt(p) === 0x3b) {
    p = skipWs(s, p + 1);
    const nameEnd = scanToken(s, p);
    if (nameEnd === p) return PARAM_BAD;
    if (nameEnd - p > max) return PARAM_TOO_LONG;
    const name = lowerSlice(s, p, nameEnd);
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
        if (mode === VIA_PARAMS && s.charCodeAt(end) === 0x3a && name === 'received')
          end = scanIPv6Chars(s, p);
        if (end === p) end = -1;
      }
      if (end < 0) return PARAM_BAD;
      if (end - p > max) return PARAM_TOO_LONG;
      value = s.slice(p, end);
      p = skipWs(s, end);
    }
    if (mode === VIA_PARAMS && !viaValueOk(name, value)) return PARAM_BAD_VIA_VALUE;
    if (params === undefined) params = new Map();
    else if (params.has(name)) return PARAM_DUPLICATE;
    else if (params.size >= MAX_PARAMS) return PARAM_BAD;
    params.set(name, value);
  }
  if (params !== undefined) parsedParams = params;
  return p;
}

/**
 * The parameter map of `*( ";" name [ "=" value ] )` text in `s` from `p` to `end` that a
 * fast-path expression has already matched: no whitespace, and neither names nor values hold
 * ";" or "=". Names lower-cased, values as written, as parseParams gives them. Returns
 * undefined on a repeated name, too many parameters or (for Via) a bad value of a parameter
 * RFC 3261 defines, so the walk reports the error. `bytes`, when given, holds the code of
 * s[i] at bytes[offset + i] (see lowerSliceOfBytes).
 */
export function paramsOfMatched(
  s: string,
  p: number,
  end: number,
  via: boolean,
  bytes?: Uint8Array,
  offset = 0,
): ReadonlyMap<string, string | null> | undefined {
  if (p >= end) return NO_PARAMS;
  const params = new Map<string, string | null>();
  // The next "=" after p, or -1 when there is none before the end; only ever searched
  // forward, so the whole is linear.
  let eq = s.indexOf('=', p + 1);
  if (eq >= end) eq = -1;
  while (p < end) {
    let semi = s.indexOf(';', p + 1);
    if (semi < 0 || semi > end) semi = end;
    if (eq >= 0 && eq <= p) {
      eq = s.indexOf('=', p + 1);
      if (eq >= end) eq = -1;
    }
    const nameEnd = eq >= 0 && eq < semi ? eq : semi;
    const name =
      bytes === undefined
        ? lowerSlice(s, p + 1, nameEnd)
        : lowerSliceOfBytes(s, bytes, offset, p + 1, nameEnd);
    const value = nameEnd === semi ? null : s.slice(eq + 1, semi);
    if (via && !viaValueOk(name, value)) return undefined;
    if (params.size > 0 && (params.has(name) || params.size >= MAX_PARAMS)) return undefined;
    params.set(name, value);
    p = semi;
  }
  return params;
}

const COMMON_NAMES = ['q', 'lr', 'tag', 'user', 'rport', 'branch', 'expires', 'received', 'transport'];
/** Parameter names seen in nearly every message, by length, returned as shared constants. */
const COMMON_BY_LENGTH: readonly (string | undefined)[] = (() => {
  const out: (string | undefined)[] = [];
  for (const name of COMMON_NAMES) out[name.length] = name;
  return out;
})();
/** The same names as bytes, for lowerSliceOfBytes. */
const COMMON_BYTES_BY_LENGTH: readonly (Uint8Array | undefined)[] = (() => {
  const out: (Uint8Array | undefined)[] = [];
  for (const name of COMMON_NAMES) out[name.length] = new Uint8Array(Buffer.from(name, 'latin1'));
  return out;
})();

/**
 * lowerSlice reading the characters from `bytes`, where bytes[offset + i] is the code of
 * s[i] (the message buffer behind a value sliced from its latin1 text). Same result; typed
 * array reads cost far less than startsWith or charCodeAt on a sliced string.
 */
export function lowerSliceOfBytes(
  s: string,
  bytes: Uint8Array,
  offset: number,
  start: number,
  end: number,
): string {
  const len = end - start;
  const from = offset + start;
  const common = COMMON_BYTES_BY_LENGTH[len];
  if (common !== undefined) {
    let k = 0;
    while (k < len && bytes[from + k] === common[k]) k++;
    if (k === len) return COMMON_BY_LENGTH[len]!;
  }
  for (let k = from; k < from + len; k++) {
    const c = bytes[k]!;
    if (c >= 0x41 && c <= 0x5a) return s.slice(start, end).toLowerCase();
  }
  return s.slice(start, end);
}

/** s.slice(start, end) lower-cased, without a second string when it is lower-case already. */
export function lowerSlice(s: string, start: number, end: number): string {
  const common = COMMON_BY_LENGTH[end - start];
  if (common !== undefined && s.startsWith(common, start)) return common;
  for (let k = start; k < end; k++) {
    const c = s.charCodeAt(k);
    if (c >= 0x41 && c <= 0x5a) return s.slice(start, end).toLowerCase();
  }
  return s.slice(start, end);
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

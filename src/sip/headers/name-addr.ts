/**
 * name-addr / addr-spec with header parameters (From, To, Contact, Route, Record-Route,
 * Reply-To...), RFC 3261 sections 20.10 and 25.1:
 *   ( name-addr / addr-spec ) *( SEMI generic-param )
 *   name-addr = [ display-name ] LAQUOT addr-spec RAQUOT
 *   display-name = *(token LWS) / quoted-string
 */
import { skipWs } from '../chars.ts';
import { SipParseError, sipError } from '../errors.ts';
import { TOKEN_RE } from '../grammar-regex.ts';
import type { NameAddr } from '../message.ts';
import { FAST_URI_BODY_USER, formatUri, matchedSipUri, parseUri } from '../uri.ts';
import {
  formatParams,
  GENERIC_PARAMS,
  PARAM_DUPLICATE,
  PARAM_TOO_LONG,
  paramsOfMatched,
  parsedParams,
  parseParams,
  quote,
  scanQuoted,
  scanToken,
  unquote,
} from './params.ts';

const DEFAULT_MAX = 1024;

function bad(reason: string): SipParseError {
  return sipError('SW_ERR_BAD_NAME_ADDR', reason);
}

/** Index after the last value parsed by parseOne (no result object per value). */
let parsedEnd = 0;

/** Parses one name-addr / addr-spec with parameters starting at `p`; stops at "," or the end. */
function parseOne(s: string, p: number, max: number): NameAddr | SipParseError {
  p = skipWs(s, p);
  let displayName: string | undefined;
  let c = s.charCodeAt(p);
  let bracketed = false;
  if (c === 0x22) {
    const end = scanQuoted(s, p);
    if (end < 0) return bad('unterminated or malformed quoted display name');
    if (end - p > max) return sipError('SW_ERR_TOKEN_TOO_LONG', 'display name too long', 'maxTokenBytes');
    displayName = unquote(s, p, end);
    p = skipWs(s, end);
    if (s.charCodeAt(p) !== 0x3c) return bad('expected < after display name');
    bracketed = true;
  } else if (c === 0x3c) {
    bracketed = true;
  } else {
    // Either *(token LWS) "<" (a display name), or an addr-spec. LAQUOT = SWS "<", so the
    // last token may touch the "<" (RFC 4475 section 3.1.1.6).
    let t = p;
    for (;;) {
      const te = scanToken(s, t);
      if (te === t) break;
      const ws = skipWs(s, te);
      if (s.charCodeAt(ws) === 0x3c) {
        if (te - p > max) return sipError('SW_ERR_TOKEN_TOO_LONG', 'display name too long', 'maxTokenBytes');
        displayName = s.slice(p, te);
        p = ws;
        bracketed = true;
        break;
      }
      if (ws === te) break;
      t = ws;
    }
  }
  let uriText: string;
  if (bracketed) {
    // RAQUOT: the URI runs to the first ">" (a URI holds no unescaped ">"), with no LWS
    // inside (addr-spec has none: RFC 4475 section 3.1.2.14).
    const close = s.indexOf('>', p + 1);
    if (close < 0) return bad('missing >');
    uriText = s.slice(p + 1, close);
    p = close + 1;
  } else {
    // addr-spec without <>: it may hold no ";", "," or "?" (RFC 3261 section 20.10), so
    // it ends at the first of ";", ",", or whitespace.
    const start = p;
    const n = s.length;
    while (p < n) {
      c = s.charCodeAt(p);
      if (c === 0x3b || c === 0x2c || c === 0x20 || c === 0x09) break;
      if (c === 0x3f) return bad('URI with ? must be enclosed in <>');
      p++;
    }
    if (p === start) return bad('missing URI');
    uriText = s.slice(start, p);
  }
  const uri = parseUri(uriText, max);
  if (uri instanceof SipParseError) {
    return uri.code === 'SW_ERR_TOKEN_TOO_LONG' ? uri : bad(`bad URI in name-addr (${uri.reason})`);
  }
  const end = parseParams(s, p, max, GENERIC_PARAMS);
  if (end < 0) {
    if (end === PARAM_TOO_LONG)
      return sipError('SW_ERR_TOKEN_TOO_LONG', 'header parameter too long', 'maxTokenBytes');
    return bad(end === PARAM_DUPLICATE ? 'repeated header parameter' : 'malformed header parameter');
  }
  parsedEnd = end;
  return { displayName, uriText, uri, params: parsedParams };
}

/**
 * name-addr in its common spelling: an optional display name (a quoted-string without
 * quoted-pairs, or tokens), a SIP URI with a user part in <>, and header parameters with token
 * values, no whitespace around separators (RFC 3261 25.1). Once matched, the parts are found
 * with indexOf: the quoted display name ends at the next DQUOTE, the URI at the first ">".
 */
const FAST_NAME_ADDR = new RegExp(
  '^(?:"[\\t\\x20\\x21\\x23-\\x5b\\x5d-\\x7e\\x80-\\xff]*"[ \\t]*|' +
    `${TOKEN_RE}(?:[ \\t]+${TOKEN_RE})*[ \\t]*)?` +
    `<sips?:${FAST_URI_BODY_USER}>` +
    `(?:;${TOKEN_RE}(?:=${TOKEN_RE})?)*$`,
);

/**
 * A From / To value of the common spelling in one native match; undefined for anything else
 * (an addr-spec without <>, quoted-pairs, whitespace around separators, quoted parameter
 * values, another URI form, a value over the limit, any error), which the walk then decides.
 * Same result as parseOne. `bytes`: see parseNameAddr.
 */
export function fastNameAddr(
  value: string,
  max: number,
  bytes?: Uint8Array,
  offset = 0,
): NameAddr | undefined {
  if (value.length > max || !FAST_NAME_ADDR.test(value)) return undefined;
  let displayName: string | undefined;
  let lt = 0;
  const c0 = codeAt(value, bytes, offset, 0);
  if (c0 === 0x22) {
    const q = value.indexOf('"', 1);
    displayName = value.slice(1, q);
    lt = codeAt(value, bytes, offset, q + 1) === 0x3c ? q + 1 : value.indexOf('<', q + 1);
  } else if (c0 !== 0x3c) {
    lt = value.indexOf('<');
    let te = lt;
    while (value.charCodeAt(te - 1) === 0x20 || value.charCodeAt(te - 1) === 0x09) te--;
    displayName = value.slice(0, te);
  }
  const gt = value.indexOf('>', lt + 1);
  const sips = codeAt(value, bytes, offset, lt + 4) === 0x73;
  const uriText = value.slice(lt + 1, gt);
  const uri = matchedSipUri(uriText, sips ? 'sips' : 'sip', bytes, offset + lt + 1);
  if (uri === undefined) return undefined;
  const params = paramsOfMatched(value, gt + 1, value.length, false, bytes, offset);
  if (params === undefined) return undefined;
  return { displayName, uriText, uri, params };
}

/** The code of value[i], from the message bytes when given (cheaper than charCodeAt on a slice). */
function codeAt(value: string, bytes: Uint8Array | undefined, offset: number, i: number): number {
  return bytes === undefined ? value.charCodeAt(i) : bytes[offset + i]!;
}

/**
 * Parses a single name-addr / addr-spec with parameters (From, To). The parser passes the
 * message buffer as `bytes`, holding the code of value[i] at bytes[offset + i].
 */
export function parseNameAddr(
  value: string,
  max: number = DEFAULT_MAX,
  bytes?: Uint8Array,
  offset = 0,
): NameAddr | SipParseError {
  return fastNameAddr(value, max, bytes, offset) ?? parseNameAddrWalk(value, max);
}

/** parseNameAddr by the character walk alone: the reference the fast path is tested against. */
export function parseNameAddrWalk(value: string, max: number = DEFAULT_MAX): NameAddr | SipParseError {
  const r = parseOne(value, 0, max);
  if (r instanceof SipParseError) return r;
  if (parsedEnd !== value.length) return bad('unexpected character after name-addr');
  return r;
}

/**
 * Parses a comma-separated list of name-addr / addr-spec (Contact, Route, Record-Route).
 * A lone `*` (Contact in a REGISTER, RFC 3261 section 10.2.2) returns `'*'`.
 * `maxValues` bounds the list.
 */
export function parseNameAddrList(
  value: string,
  max: number = DEFAULT_MAX,
  maxValues = 64,
): NameAddr[] | '*' | SipParseError {
  const first = skipWs(value, 0);
  if (value.charCodeAt(first) === 0x2a && skipWs(value, first + 1) === value.length) return '*';
  const out: NameAddr[] = [];
  let p = 0;
  for (;;) {
    const r = parseOne(value, p, max);
    if (r instanceof SipParseError) return r;
    out.push(r);
    const end = parsedEnd;
    if (end === value.length) return out;
    if (value.charCodeAt(end) !== 0x2c) return bad('unexpected character in name-addr list');
    if (out.length >= maxValues) return bad('too many values in list');
    p = end + 1;
  }
}

/** Writes a name-addr: always in `<>` so parameters are never mistaken for URI ones. */
export function formatNameAddr(na: NameAddr): string {
  let out = '';
  if (na.displayName !== undefined) out = quote(na.displayName) + ' ';
  return out + '<' + (na.uriText || formatUri(na.uri)) + '>' + formatParams(na.params);
}

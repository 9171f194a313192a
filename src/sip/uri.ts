/**
 * URIs: SIP-URI / SIPS-URI (RFC 3261 section 19.1 and 25.1, IPv6 references per RFC 5118),
 * tel URIs (RFC 3966) and any other absoluteURI (kept as text).
 */
import { ALPHA, CHAR, DIGIT, HNV, PARAMCHAR, PASSWORD, PHONE, scanEscaped, URIC, USER } from './chars.ts';
import { type SipParseError, sipError } from './errors.ts';
import { HOST_RE, PARAMCHAR_RE, PASSWORD_RE, USER_RE } from './grammar-regex.ts';
import { lowerSlice, MAX_PARAMS, NO_HEADERS, NO_PARAMS, paramsOfMatched } from './headers/params.ts';
import { scanHost, scanPort } from './host.ts';
import type { OtherUri, SipUri, TelUri, Uri } from './message.ts';

const DEFAULT_MAX_COMPONENT = 1024;

function bad(reason: string): SipParseError {
  return sipError('SW_ERR_BAD_URI', reason);
}

function tooLong(what: string): SipParseError {
  return sipError('SW_ERR_TOKEN_TOO_LONG', `URI ${what} too long`, 'maxTokenBytes');
}

/**
 * Parses URI text (no surrounding `<>` and no whitespace). `maxComponent` bounds every
 * component (user, password, host, parameter, header).
 */
export function parseUri(text: string, maxComponent: number = DEFAULT_MAX_COMPONENT): Uri | SipParseError {
  // Fast path for the schemes nearly every URI has.
  if (text.startsWith('sip:'))
    return fastSipUri(text, 4, 'sip', maxComponent) ?? parseSipUri(text, 4, 'sip', maxComponent);
  if (text.startsWith('sips:'))
    return fastSipUri(text, 5, 'sips', maxComponent) ?? parseSipUri(text, 5, 'sips', maxComponent);
  return parseUriWalk(text, maxComponent);
}

/**
 * The character-walking URI grammar alone, without the fast path: the reference the fast
 * path is tested against.
 */
export function parseUriWalk(
  text: string,
  maxComponent: number = DEFAULT_MAX_COMPONENT,
): Uri | SipParseError {
  if (text.startsWith('sip:')) return parseSipUri(text, 4, 'sip', maxComponent);
  if (text.startsWith('sips:')) return parseSipUri(text, 5, 'sips', maxComponent);
  // scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
  const n = text.length;
  let i = 0;
  if (n === 0 || !(text.charCodeAt(0) < 256 && CHAR[text.charCodeAt(0)]! & ALPHA))
    return bad('bad URI scheme');
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c > 255 || !(CHAR[c]! & (ALPHA | DIGIT) || c === 0x2b || c === 0x2d || c === 0x2e)) break;
    i++;
  }
  if (text.charCodeAt(i) !== 0x3a) return bad('bad URI scheme');
  if (i > 64) return tooLong('scheme');
  const rawScheme = text.slice(0, i);
  const scheme =
    rawScheme === 'sip' || rawScheme === 'sips' || rawScheme === 'tel' ? rawScheme : rawScheme.toLowerCase();
  if (scheme === 'sip' || scheme === 'sips') return parseSipUri(text, i + 1, scheme, maxComponent);
  if (scheme === 'tel') return parseTelUri(text, i + 1, maxComponent);
  return parseOtherUri(text, i + 1, scheme, maxComponent);
}

/**
 * SIP-URI without URI headers or an IPv6 reference, after the scheme (RFC 3261 25.1):
 *   [ userinfo ] hostport uri-parameters
 * One expression with userinfo and one without, chosen as the walk does (by the first "@").
 * Groups: user, password, host, port, parameters.
 */
export const FAST_URI_USERINFO = `(${USER_RE})(?::(${PASSWORD_RE}))?@`;
export const FAST_URI_HOSTPORT_PARAMS = `(${HOST_RE})(?::([0-9]{1,5}))?((?:;${PARAMCHAR_RE}(?:=${PARAMCHAR_RE})?)*)`;
const FAST_SIP_URI_USER = new RegExp(`${FAST_URI_USERINFO}${FAST_URI_HOSTPORT_PARAMS}$`, 'y');
const FAST_SIP_URI_HOST = new RegExp(`${FAST_URI_HOSTPORT_PARAMS}$`, 'y');

/** The port of a fast-path match (at most 5 digits), or -1 when over 65535. */
export function portOf(text: string): number {
  let port = 0;
  for (let k = 0; k < text.length; k++) port = port * 10 + (text.charCodeAt(k) - 0x30);
  return port > 65535 ? -1 : port;
}

/**
 * The common SIP URI in one native match; undefined when the text is anything else (URI
 * headers, IPv6, a component over the limit, a repeated parameter, an error), which the
 * walk then decides. Same result object as parseSipUri.
 */
export function fastSipUri(
  s: string,
  start: number,
  scheme: 'sip' | 'sips',
  max: number,
): SipUri | undefined {
  // Every component is shorter than the text, so a text within the limit needs no per-part check.
  if (s.length - start > max) return undefined;
  if (s.indexOf('@', start) >= 0) {
    FAST_SIP_URI_USER.lastIndex = start;
    const m = FAST_SIP_URI_USER.exec(s);
    if (m === null) return undefined;
    return sipUriOfMatch(scheme, m[1], m[2], m[3]!, m[4], s, s.length - m[5]!.length, s.length);
  }
  FAST_SIP_URI_HOST.lastIndex = start;
  const m = FAST_SIP_URI_HOST.exec(s);
  if (m === null) return undefined;
  return sipUriOfMatch(scheme, undefined, undefined, m[1]!, m[2], s, s.length - m[3]!.length, s.length);
}

/** The SipUri of fast-path groups; parameters are read from `s` between `ps` and `pe`. */
export function sipUriOfMatch(
  scheme: 'sip' | 'sips',
  user: string | undefined,
  password: string | undefined,
  host: string,
  portText: string | undefined,
  s: string,
  ps: number,
  pe: number,
): SipUri | undefined {
  let port: number | undefined;
  if (portText !== undefined) {
    port = portOf(portText);
    if (port < 0) return undefined;
  }
  const params = paramsOfMatched(s, ps, pe, false);
  if (params === undefined) return undefined;
  // Same shape as parseSipUri's result.
  return {
    scheme,
    user,
    password,
    host,
    port,
    params,
    headers: NO_HEADERS,
  };
}

function parseSipUri(s: string, start: number, scheme: 'sip' | 'sips', max: number): SipUri | SipParseError {
  const n = s.length;
  let user: string | undefined;
  let password: string | undefined;
  let p = start;
  // userinfo = ( user / telephone-subscriber ) [ ":" password ] "@"; no unescaped "@"
  // may appear after the host, so the first "@" ends the userinfo.
  const at = s.indexOf('@', start);
  if (at >= 0) {
    const userEnd = scanEscaped(s, start, USER);
    if (userEnd < 0) return bad('bad escape in URI user');
    if (userEnd === start) return bad('empty URI user');
    if (userEnd - start > max) return tooLong('user');
    user = s.slice(start, userEnd);
    p = userEnd;
    if (s.charCodeAt(p) === 0x3a) {
      const pwEnd = scanEscaped(s, p + 1, PASSWORD);
      if (pwEnd < 0) return bad('bad escape in URI password');
      if (pwEnd - p - 1 > max) return tooLong('password');
      password = s.slice(p + 1, pwEnd);
      p = pwEnd;
    }
    if (p !== at) return bad('bad character in URI user part');
    p = at + 1;
  }
  const hostEnd = scanHost(s, p);
  if (hostEnd < 0) return bad('bad URI host');
  if (hostEnd - p > max) return tooLong('host');
  const host = s.slice(p, hostEnd);
  p = hostEnd;
  let port: number | undefined;
  if (s.charCodeAt(p) === 0x3a) {
    const portEnd = scanPort(s, p + 1);
    if (portEnd < 0) return bad('bad URI port');
    port = 0;
    for (let k = p + 1; k < portEnd; k++) port = port * 10 + (s.charCodeAt(k) - 0x30);
    p = portEnd;
  }
  let params: Map<string, string | null> | undefined;
  // uri-parameters = *( ";" uri-parameter ), pname [ "=" pvalue ], each 1*paramchar.
  while (s.charCodeAt(p) === 0x3b) {
    const nameEnd = scanEscaped(s, p + 1, PARAMCHAR);
    if (nameEnd < 0) return bad('bad escape in URI parameter');
    if (nameEnd === p + 1) return bad('empty URI parameter name');
    if (nameEnd - p - 1 > max) return tooLong('parameter');
    const name = lowerSlice(s, p + 1, nameEnd);
    p = nameEnd;
    let value: string | null = null;
    if (s.charCodeAt(p) === 0x3d) {
      const valueEnd = scanEscaped(s, p + 1, PARAMCHAR);
      if (valueEnd < 0) return bad('bad escape in URI parameter');
      if (valueEnd === p + 1) return bad('empty URI parameter value');
      if (valueEnd - p - 1 > max) return tooLong('parameter');
      value = s.slice(p + 1, valueEnd);
      p = valueEnd;
    }
    // RFC 3261 19.1.1: a parameter appears at most once.
    if (params === undefined) params = new Map();
    else if (params.has(name)) return bad('repeated URI parameter');
    else if (params.size >= MAX_PARAMS) return bad('too many URI parameters');
    params.set(name, value);
  }
  let headers: Map<string, string> | undefined;
  // headers = "?" header *( "&" header ); header = hname "=" hvalue
  if (s.charCodeAt(p) === 0x3f) {
    do {
      const nameEnd = scanEscaped(s, p + 1, HNV);
      if (nameEnd < 0) return bad('bad escape in URI header');
      if (nameEnd === p + 1 || s.charCodeAt(nameEnd) !== 0x3d) return bad('bad URI header');
      const valueEnd = scanEscaped(s, nameEnd + 1, HNV);
      if (valueEnd < 0) return bad('bad escape in URI header');
      if (valueEnd - p > max) return tooLong('header');
      headers ??= new Map();
      if (headers.size >= MAX_PARAMS) return bad('too many URI headers');
      headers.set(s.slice(p + 1, nameEnd), s.slice(nameEnd + 1, valueEnd));
      p = valueEnd;
    } while (s.charCodeAt(p) === 0x26);
  }
  if (p !== n) return bad('unexpected character in URI');
  // One object shape for every SIP URI (absent parts are undefined).
  return {
    scheme,
    user,
    password,
    host,
    port,
    params: params ?? NO_PARAMS, // most URIs have no headers and many no parameters
    headers: headers ?? NO_HEADERS,
  };
}

/** telephone-uri = "tel:" telephone-subscriber (RFC 3966 section 3). */
function parseTelUri(s: string, start: number, max: number): TelUri | SipParseError {
  let p = start;
  const n = s.length;
  while (p < n) {
    const c = s.charCodeAt(p);
    if (c > 255 || (CHAR[c]! & PHONE) === 0) break;
    p++;
  }
  if (p === start) return bad('empty tel URI number');
  if (p - start > max) return tooLong('number');
  const number = s.slice(start, p);
  const params = new Map<string, string | null>();
  while (s.charCodeAt(p) === 0x3b) {
    const nameEnd = scanEscaped(s, p + 1, PARAMCHAR);
    if (nameEnd <= p + 1) return bad('bad tel URI parameter');
    if (nameEnd - p - 1 > max) return tooLong('parameter');
    const name = s.slice(p + 1, nameEnd).toLowerCase();
    p = nameEnd;
    let value: string | null = null;
    if (s.charCodeAt(p) === 0x3d) {
      const valueEnd = scanEscaped(s, p + 1, PARAMCHAR);
      if (valueEnd <= p + 1) return bad('bad tel URI parameter');
      value = s.slice(p + 1, valueEnd);
      p = valueEnd;
    }
    if (value !== null && value.length > max) return tooLong('parameter');
    if (params.has(name)) return bad('repeated tel URI parameter');
    params.set(name, value);
  }
  if (p !== n) return bad('unexpected character in tel URI');
  return { scheme: 'tel', number, params };
}

/** absoluteURI = scheme ":" ( hier-part / opaque-part ): checked to be URI characters only. */
function parseOtherUri(s: string, start: number, scheme: string, max: number): OtherUri | SipParseError {
  const end = scanEscaped(s, start, URIC);
  if (end < 0) return bad('bad escape in URI');
  if (end === start || end !== s.length) return bad('bad character in URI');
  if (end - start > max) return tooLong('text');
  return { scheme, text: s };
}

export function isSipUri(u: Uri): u is SipUri {
  return u.scheme === 'sip' || u.scheme === 'sips';
}

export function isTelUri(u: Uri): u is TelUri {
  return u.scheme === 'tel';
}

function formatParams(params: ReadonlyMap<string, string | null>): string {
  let out = '';
  for (const [k, v] of params) out += v === null ? `;${k}` : `;${k}=${v}`;
  return out;
}

export function formatSipUri(u: SipUri): string {
  let out = u.scheme + ':';
  if (u.user !== undefined) {
    out += u.user;
    if (u.password !== undefined) out += ':' + u.password;
    out += '@';
  }
  out += u.host;
  if (u.port !== undefined) out += ':' + u.port;
  out += formatParams(u.params);
  let first = true;
  for (const [k, v] of u.headers) {
    out += (first ? '?' : '&') + k + '=' + v;
    first = false;
  }
  return out;
}

export function formatUri(u: Uri): string {
  if (isSipUri(u)) return formatSipUri(u);
  if (isTelUri(u)) return 'tel:' + u.number + formatParams(u.params);
  return (u as OtherUri).text;
}

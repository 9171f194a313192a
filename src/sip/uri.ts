/**
 * URIs: SIP-URI / SIPS-URI (RFC 3261 section 19.1 and 25.1, IPv6 references per RFC 5118),
 * tel URIs (RFC 3966) and any other absoluteURI (kept as text).
 */
import { ALPHA, CHAR, DIGIT, HNV, PARAMCHAR, PASSWORD, PHONE, scanEscaped, URIC, USER } from './chars.ts';
import { type SipParseError, sipError } from './errors.ts';
import { HOST_RE, PARAMCHAR_RE, PASSWORD_RE, PORT_RE, USER_RE } from './grammar-regex.ts';
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
export function parseUri(
  text: string,
  maxComponent: number = DEFAULT_MAX_COMPONENT,
  bytes?: Uint8Array,
  offset = 0,
): Uri | SipParseError {
  // Fast path for the schemes nearly every URI has ("sip:" read from the bytes when given).
  if (
    bytes !== undefined &&
    bytes[offset] === 0x73 &&
    bytes[offset + 1] === 0x69 &&
    bytes[offset + 2] === 0x70 &&
    bytes[offset + 3] === 0x3a &&
    text.length >= 4
  )
    return (
      fastSipUri(text, 4, 'sip', maxComponent, bytes, offset) ?? parseSipUri(text, 4, 'sip', maxComponent)
    );
  if (text.startsWith('sip:'))
    return (
      fastSipUri(text, 4, 'sip', maxComponent, bytes, offset) ?? parseSipUri(text, 4, 'sip', maxComponent)
    );
  if (text.startsWith('sips:'))
    return (
      fastSipUri(text, 5, 'sips', maxComponent, bytes, offset) ?? parseSipUri(text, 5, 'sips', maxComponent)
    );
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
 * userinfo ends at the first "@" (neither user nor password may hold one), the host holds
 * no ":" or ";", and neither a parameter name nor a value holds ";" or "=": once matched,
 * the parts are found with indexOf. The port is matched within 0..65535.
 */
export const FAST_URI_BODY = `(?:${USER_RE}(?::${PASSWORD_RE})?@)?${HOST_RE}(?::${PORT_RE})?(?:;${PARAMCHAR_RE}(?:=${PARAMCHAR_RE})?)*`;
/** The same with the userinfo required (the walk's choice when the text holds an "@"). */
export const FAST_URI_BODY_USER = `${USER_RE}(?::${PASSWORD_RE})?@${HOST_RE}(?::${PORT_RE})?(?:;${PARAMCHAR_RE}(?:=${PARAMCHAR_RE})?)*`;
const FAST_SIP_URI = new RegExp(`${FAST_URI_BODY}$`, 'y');

/**
 * The common SIP URI in one native match; undefined when the text is anything else (URI
 * headers, IPv6, a component over the limit, a repeated parameter, an error), which the
 * walk then decides. Same value as parseSipUri, as a MatchedSipUri whose parts are cut on
 * first read. `bytes`, when given, holds the code of s[i] at bytes[offset + i] (the message
 * buffer; see lowerSliceOfBytes).
 */
export function fastSipUri(
  s: string,
  start: number,
  scheme: 'sip' | 'sips',
  max: number,
  bytes?: Uint8Array,
  offset = 0,
): SipUri | undefined {
  // Every component is shorter than the text, so a text within the limit needs no per-part check.
  if (s.length - start > max) return undefined;
  FAST_SIP_URI.lastIndex = start;
  if (!FAST_SIP_URI.test(s)) return undefined;
  return start === scheme.length + 1
    ? matchedSipUri(s, scheme, bytes, offset)
    : sipUriOfMatched(s, start, s.length, scheme, bytes, offset);
}

/**
 * The SipUri of `text` (a whole URI, scheme included) whose part after the scheme a fast-path
 * expression has matched (FAST_URI_BODY, port within range): a MatchedSipUri when at most one
 * URI parameter leaves nothing more to check, else the parts cut at once (undefined on a
 * repeated parameter, for the walk to report). `bytes`: see lowerSliceOfBytes.
 */
export function matchedSipUri(
  text: string,
  scheme: 'sip' | 'sips',
  bytes?: Uint8Array,
  offset = 0,
): SipUri | undefined {
  const start = scheme.length + 1;
  // A repeated parameter needs two ";" (a user part may hold one more: then it is cut at
  // once all the same).
  const semi = text.indexOf(';', start);
  if (semi >= 0 && text.indexOf(';', semi + 1) >= 0)
    return sipUriOfMatched(text, start, text.length, scheme, bytes, offset);
  return new MatchedSipUri(text, scheme);
}

/**
 * A SIP URI that the grammar has fully checked, its parts (user, host, port, parameters)
 * cut from the text on first read and kept. The parser checks the Request-URI, From and To
 * of every message, but most stages read none of their parts and a proxy forwards the text
 * as received. Read like plain data (the parts are getters); `toJSON` gives the parts for
 * logs. Never holds URI headers (the fast path takes no "?").
 */
export class MatchedSipUri implements SipUri {
  readonly scheme: 'sip' | 'sips';
  readonly #text: string;
  #parts: SipUri | undefined;

  constructor(text: string, scheme: 'sip' | 'sips') {
    this.scheme = scheme;
    this.#text = text;
  }

  #cut(): SipUri {
    // Matched and checked already: sipUriOfMatched cannot refuse it.
    this.#parts ??= sipUriOfMatched(this.#text, this.scheme.length + 1, this.#text.length, this.scheme)!;
    return this.#parts;
  }

  get user(): string | undefined {
    return this.#cut().user;
  }

  get password(): string | undefined {
    return this.#cut().password;
  }

  get host(): string {
    return this.#cut().host;
  }

  get port(): number | undefined {
    return this.#cut().port;
  }

  get params(): ReadonlyMap<string, string | null> {
    return this.#cut().params;
  }

  get headers(): ReadonlyMap<string, string> {
    return NO_HEADERS;
  }

  /** The parts as a plain SipUri object. */
  toJSON(): SipUri {
    return this.#cut();
  }
}

/**
 * The SipUri of s[start, end), text a fast-path expression has matched (FAST_URI_BODY);
 * undefined when the port is over 65535 or a parameter repeats (the walk reports those).
 */
export function sipUriOfMatched(
  s: string,
  start: number,
  end: number,
  scheme: 'sip' | 'sips',
  bytes?: Uint8Array,
  offset = 0,
): SipUri | undefined {
  let user: string | undefined;
  let password: string | undefined;
  let p = start;
  // Neither user, password nor host holds ":", so the first ":" is the password's (before
  // the "@") or the port's (after it, before any ";").
  let colon = s.indexOf(':', start);
  const at = s.indexOf('@', start);
  if (at >= 0 && at < end) {
    if (colon >= 0 && colon < at) {
      user = s.slice(start, colon);
      password = s.slice(colon + 1, at);
      colon = s.indexOf(':', at + 1);
    } else user = s.slice(start, at);
    p = at + 1;
  }
  let semi = s.indexOf(';', p);
  if (semi < 0 || semi > end) semi = end;
  let hostEnd = semi;
  let port: number | undefined;
  if (colon >= 0 && colon < semi) {
    hostEnd = colon;
    port = 0;
    if (bytes === undefined)
      for (let k = colon + 1; k < semi; k++) port = port * 10 + (s.charCodeAt(k) - 0x30);
    else for (let k = colon + 1; k < semi; k++) port = port * 10 + (bytes[offset + k]! - 0x30);
    if (port > 65535) return undefined;
  }
  const params = paramsOfMatched(s, semi, end, false, bytes, offset);
  if (params === undefined) return undefined;
  // Same shape as parseSipUri's result.
  return {
    scheme,
    user,
    password,
    host: s.slice(p, hostEnd),
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

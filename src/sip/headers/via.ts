/**
 * Via (RFC 3261 sections 20.42 and 25.1):
 *   via-parm = sent-protocol LWS sent-by *( SEMI via-params )
 *   sent-protocol = protocol-name SLASH protocol-version SLASH transport
 *   sent-by = host [ COLON port ]
 * with SLASH, COLON, SEMI, EQUAL and COMMA allowing whitespace around them. `received` may
 * hold an IPv6 address with or without brackets (RFC 5118 section 4.5).
 */
import { skipWs } from '../chars.ts';
import { SipParseError, sipError } from '../errors.ts';
import { HOST_RE, TOKEN_RE } from '../grammar-regex.ts';
import { isHostnameOrIPv4, isIPv6, scanHost, scanPort } from '../host.ts';
import type { Via } from '../message.ts';
import {
  formatParams,
  PARAM_BAD_VIA_VALUE,
  PARAM_DUPLICATE,
  PARAM_TOO_LONG,
  paramsOfMatched,
  parsedParams,
  parseParams,
  scanToken,
  VIA_PARAMS,
} from './params.ts';

const DEFAULT_MAX = 1024;

function bad(reason: string): SipParseError {
  return sipError('SW_ERR_BAD_VIA', reason);
}

/** Index after the last Via value parsed by parseOne (no result object per value). */
let parsedEnd = 0;

const TRANSPORTS = ['UDP', 'TCP', 'TLS', 'WSS', 'WS', 'SCTP'];

/** The transport upper-cased; the common ones as shared constants. */
function upperToken(s: string, start: number, end: number): string {
  const len = end - start;
  for (let k = 0; k < TRANSPORTS.length; k++) {
    const known = TRANSPORTS[k]!;
    if (known.length === len && s.startsWith(known, start)) return known;
  }
  const t = s.slice(start, end);
  for (let k = 0; k < t.length; k++) {
    const c = t.charCodeAt(k);
    if (c >= 0x61 && c <= 0x7a) return t.toUpperCase();
  }
  return t;
}

/** "SIP" SLASH "2.0" SLASH at `p`, whitespace allowed around the slashes; returns the index after or -1. */
function sentProtocolPrefix(s: string, p: number): number {
  // Fast path: the canonical spelling.
  if (s.startsWith('SIP/2.0/', p)) return p + 8;
  if (
    (s.charCodeAt(p) | 0x20) !== 0x73 ||
    (s.charCodeAt(p + 1) | 0x20) !== 0x69 ||
    (s.charCodeAt(p + 2) | 0x20) !== 0x70
  )
    return -1;
  p = skipWs(s, p + 3);
  if (s.charCodeAt(p) !== 0x2f) return -1;
  p = skipWs(s, p + 1);
  if (!s.startsWith('2.0', p)) return -1;
  p = skipWs(s, p + 3);
  if (s.charCodeAt(p) !== 0x2f) return -1;
  return skipWs(s, p + 1);
}

function parseOne(s: string, p: number, max: number): Via | SipParseError {
  p = skipWs(s, p);
  // protocol-name = "SIP" / token; protocol-version = token. Only SIP/2.0 is served.
  const t = sentProtocolPrefix(s, p);
  if (t < 0) {
    const e = scanToken(s, p);
    return bad(
      e - p === 3 && s.slice(p, e).toLowerCase() === 'sip'
        ? 'Via protocol version is not 2.0'
        : 'Via protocol is not SIP',
    );
  }
  p = t;
  const e = scanToken(s, p);
  if (e === p) return bad('missing Via transport');
  if (e - p > max) return sipError('SW_ERR_TOKEN_TOO_LONG', 'Via transport too long', 'maxTokenBytes');
  const transport = upperToken(s, p, e);
  // LWS between sent-protocol and sent-by is mandatory.
  p = skipWs(s, e);
  if (p === e) return bad('missing space before Via sent-by');
  const hostEnd = scanHost(s, p);
  if (hostEnd < 0) return bad('bad Via sent-by host');
  if (hostEnd - p > max) return sipError('SW_ERR_TOKEN_TOO_LONG', 'Via host too long', 'maxTokenBytes');
  const host = s.slice(p, hostEnd);
  p = hostEnd;
  let port: number | undefined;
  let c = s.charCodeAt(p);
  if (c === 0x20 || c === 0x09) {
    p = skipWs(s, p);
    c = s.charCodeAt(p);
  }
  if (c === 0x3a) {
    p = skipWs(s, p + 1);
    const portEnd = scanPort(s, p);
    if (portEnd < 0) return bad('bad Via sent-by port');
    port = 0;
    for (let k = p; k < portEnd; k++) port = port * 10 + (s.charCodeAt(k) - 0x30);
    p = portEnd;
  }
  const end = parseParams(s, p, max, VIA_PARAMS);
  if (end < 0) {
    if (end === PARAM_TOO_LONG)
      return sipError('SW_ERR_TOKEN_TOO_LONG', 'Via parameter too long', 'maxTokenBytes');
    if (end === PARAM_BAD_VIA_VALUE) return bad('bad value of a Via parameter');
    return bad(end === PARAM_DUPLICATE ? 'repeated Via parameter' : 'malformed Via parameter');
  }
  const params = parsedParams;
  parsedEnd = end;
  const branch = params.size === 0 ? undefined : (params.get('branch') ?? undefined);
  return { transport, host, port, params, branch };
}

/**
 * One via-parm in its canonical spelling: "SIP/2.0/" transport SP host [ ":" port ] and
 * parameters with token values, no whitespace around separators (RFC 3261 25.1). Once
 * matched, the parts are found with indexOf: neither the transport nor the host holds SP,
 * ":" or ";".
 */
const FAST_VIA = new RegExp(
  `^SIP/2\\.0/${TOKEN_RE} ${HOST_RE}(?::[0-9]{1,5})?(?:;${TOKEN_RE}(?:=${TOKEN_RE})?)*$`,
);

/**
 * A Via value holding one via-parm of the common spelling, in one native match; undefined
 * for anything else (several values, whitespace, quoted or IPv6 values, a value over the
 * limit, any error), which the walk then decides. Same result as parseOne. `bytes`: see
 * parseViaValues.
 */
export function fastVia(value: string, max: number, bytes?: Uint8Array, offset = 0): Via | undefined {
  if (value.length > max || !FAST_VIA.test(value)) return undefined;
  // A three-letter transport (UDP, TCP, TLS, WSS) ends at 11.
  const sp = value.charCodeAt(11) === 0x20 ? 11 : value.indexOf(' ', 8);
  let semi = value.indexOf(';', sp);
  if (semi < 0) semi = value.length;
  let hostEnd = semi;
  let port: number | undefined;
  const colon = value.indexOf(':', sp);
  if (colon >= 0 && colon < semi) {
    hostEnd = colon;
    port = 0;
    if (bytes === undefined)
      for (let k = colon + 1; k < semi; k++) port = port * 10 + (value.charCodeAt(k) - 0x30);
    else for (let k = colon + 1; k < semi; k++) port = port * 10 + (bytes[offset + k]! - 0x30);
    if (port > 65535) return undefined;
  }
  const params = paramsOfMatched(value, semi, value.length, true, bytes, offset);
  if (params === undefined) return undefined;
  const branch = params.size === 0 ? undefined : (params.get('branch') ?? undefined);
  const transport =
    bytes !== undefined && sp === 11 && isUdpAt(bytes, offset + 8) ? 'UDP' : upperToken(value, 8, sp);
  return { transport, host: value.slice(sp + 1, hostEnd), port, params, branch };
}

/** The bytes "UDP" at b[i]: the transport of nearly every Via, read without startsWith. */
function isUdpAt(b: Uint8Array, i: number): boolean {
  return b[i] === 0x55 && b[i + 1] === 0x44 && b[i + 2] === 0x50;
}

/**
 * Parses the comma-separated via-parm values of one Via header field value, appending them
 * to `out` when given (the parser collects every Via of a message in one array). The parser
 * passes the message buffer as `bytes`, holding the code of value[i] at bytes[offset + i].
 */
export function parseViaValues(
  value: string,
  max: number = DEFAULT_MAX,
  maxValues = 64,
  out: Via[] = [],
  bytes?: Uint8Array,
  offset = 0,
): Via[] | SipParseError {
  if (maxValues >= 1) {
    const v = fastVia(value, max, bytes, offset);
    if (v !== undefined) {
      out.push(v);
      return out;
    }
  }
  return parseViaValuesWalk(value, max, maxValues, out);
}

/** parseViaValues by the character walk alone: the reference the fast path is tested against. */
export function parseViaValuesWalk(
  value: string,
  max: number = DEFAULT_MAX,
  maxValues = 64,
  out: Via[] = [],
): Via[] | SipParseError {
  const first = out.length;
  let p = 0;
  for (;;) {
    if (out.length - first >= maxValues) return bad('too many Via values');
    const r = parseOne(value, p, max);
    if (r instanceof SipParseError) return r;
    out.push(r);
    const end = parsedEnd;
    if (end === value.length) return out;
    if (value.charCodeAt(end) !== 0x2c) return bad('unexpected character in Via');
    p = end + 1;
  }
}

export function formatVia(v: Via): string {
  let out = 'SIP/2.0/' + v.transport + ' ' + v.host;
  if (v.port !== undefined) out += ':' + v.port;
  return out + formatParams(v.params);
}

/** True when `host` (as in a Via sent-by) is a valid host. */
export function isValidSentByHost(host: string): boolean {
  if (host.charCodeAt(0) === 0x5b) return host.endsWith(']') && isIPv6(host, 1, host.length - 1);
  return isHostnameOrIPv4(host, 0, host.length);
}

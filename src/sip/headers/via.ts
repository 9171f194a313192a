/**
 * Via (RFC 3261 sections 20.42 and 25.1):
 *   via-parm = sent-protocol LWS sent-by *( SEMI via-params )
 *   sent-protocol = protocol-name SLASH protocol-version SLASH transport
 *   sent-by = host [ COLON port ]
 * with SLASH, COLON, SEMI, EQUAL and COMMA allowing whitespace around them. `received` may
 * hold an IPv6 address with or without brackets (RFC 5118 section 4.5).
 */
import { skipWs } from '../chars.ts';
import { type SipParseError, sipError } from '../errors.ts';
import { isHostnameOrIPv4, isIPv4, isIPv6, scanHost, scanPort } from '../host.ts';
import type { Via } from '../message.ts';
import { formatParams, PARAM_DUPLICATE, PARAM_TOO_LONG, parseParams, scanToken } from './params.ts';

const DEFAULT_MAX = 1024;

function bad(reason: string): SipParseError {
  return sipError('SW_ERR_BAD_VIA', reason);
}

function eqIgnoreCase(s: string, start: number, end: number, lower: string): boolean {
  return end - start === lower.length && s.slice(start, end).toLowerCase() === lower;
}

/** Checks the values of the Via parameters RFC 3261 defines (ttl, maddr, received, branch). */
function checkParams(params: ReadonlyMap<string, string | null>): string | undefined {
  for (const [name, value] of params) {
    switch (name) {
      case 'ttl': {
        // ttl = 1*3DIGIT ; 0 to 255
        if (value === null || !/^[0-9]{1,3}$/.test(value) || Number(value) > 255) return 'bad ttl parameter';
        break;
      }
      case 'maddr':
        if (value === null || scanHost(value, 0) !== value.length) return 'bad maddr parameter';
        break;
      case 'received': {
        // received = IPv4address / IPv6address; RFC 5118 4.5 allows the bracketed form too.
        if (value === null) return 'bad received parameter';
        const ok =
          isIPv4(value, 0, value.length) ||
          isIPv6(value, 0, value.length) ||
          (value.charCodeAt(0) === 0x5b &&
            value.charCodeAt(value.length - 1) === 0x5d &&
            isIPv6(value, 1, value.length - 1));
        if (!ok) return 'bad received parameter';
        break;
      }
      case 'branch':
        // branch = token; quoted strings and IPv6 references are not tokens.
        if (value === null || value.charCodeAt(0) === 0x22 || value.charCodeAt(0) === 0x5b)
          return 'bad branch parameter';
        break;
      case 'rport':
        // RFC 3581: rport [ "=" 1*DIGIT ]
        if (value !== null && (!/^[0-9]{1,5}$/.test(value) || Number(value) > 65535))
          return 'bad rport parameter';
        break;
    }
  }
  return undefined;
}

interface Parsed {
  readonly via: Via;
  readonly end: number;
}

function parseOne(s: string, p: number, max: number): Parsed | SipParseError {
  p = skipWs(s, p);
  // protocol-name = "SIP" / token; protocol-version = token. Only SIP/2.0 is served.
  let e = scanToken(s, p);
  if (!eqIgnoreCase(s, p, e, 'sip')) return bad('Via protocol is not SIP');
  p = skipWs(s, e);
  if (s.charCodeAt(p) !== 0x2f) return bad('malformed Via sent-protocol');
  p = skipWs(s, p + 1);
  e = scanToken(s, p);
  if (s.slice(p, e) !== '2.0') return bad('Via protocol version is not 2.0');
  p = skipWs(s, e);
  if (s.charCodeAt(p) !== 0x2f) return bad('malformed Via sent-protocol');
  p = skipWs(s, p + 1);
  e = scanToken(s, p);
  if (e === p) return bad('missing Via transport');
  if (e - p > max) return sipError('SW_ERR_TOKEN_TOO_LONG', 'Via transport too long', 'maxTokenBytes');
  const transport = s.slice(p, e).toUpperCase();
  // LWS between sent-protocol and sent-by is mandatory.
  p = skipWs(s, e);
  if (p === e) return bad('missing space before Via sent-by');
  const hostEnd = scanHost(s, p);
  if (hostEnd < 0) return bad('bad Via sent-by host');
  if (hostEnd - p > max) return sipError('SW_ERR_TOKEN_TOO_LONG', 'Via host too long', 'maxTokenBytes');
  const host = s.slice(p, hostEnd);
  p = skipWs(s, hostEnd);
  let port: number | undefined;
  if (s.charCodeAt(p) === 0x3a) {
    p = skipWs(s, p + 1);
    const portEnd = scanPort(s, p);
    if (portEnd < 0) return bad('bad Via sent-by port');
    port = Number(s.slice(p, portEnd));
    p = portEnd;
  }
  const params = new Map<string, string | null>();
  const end = parseParams(s, p, params, max, true);
  if (end < 0) {
    if (end === PARAM_TOO_LONG)
      return sipError('SW_ERR_TOKEN_TOO_LONG', 'Via parameter too long', 'maxTokenBytes');
    return bad(end === PARAM_DUPLICATE ? 'repeated Via parameter' : 'malformed Via parameter');
  }
  const problem = params.size > 0 ? checkParams(params) : undefined;
  if (problem !== undefined) return bad(problem);
  const branch = params.get('branch');
  const via: Via = { transport, host, port, params, branch: branch ?? undefined };
  return { via, end };
}

/** Parses the comma-separated via-parm values of one Via header field value. */
export function parseViaValues(
  value: string,
  max: number = DEFAULT_MAX,
  maxValues = 64,
): Via[] | SipParseError {
  const out: Via[] = [];
  let p = 0;
  for (;;) {
    const r = parseOne(value, p, max);
    if (!('via' in r)) return r;
    out.push(r.via);
    if (r.end === value.length) return out;
    if (value.charCodeAt(r.end) !== 0x2c) return bad('unexpected character in Via');
    if (out.length >= maxValues) return bad('too many Via values');
    p = r.end + 1;
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

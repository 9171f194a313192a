/**
 * RFC 3261 semantics of one parsed message beyond its syntax: the rules a proxy checks
 * before it acts on a request (RFC 3261 16.3 "Request Validation" and 8.2).
 */

import { NAME_ADDRS_MAX_TOKEN, nameAddrsOf } from './address-headers.ts';
import { ERROR_STATUS, type SipErrorCode, SipParseError } from './errors.ts';
import { parseDigits } from './headers/scalar.ts';
import { isValidSentByHost } from './headers/via.ts';
import type { SipMessage } from './message.ts';

export type ValidationResult =
  | { readonly ok: true }
  | {
      readonly ok: false;
      readonly code: SipErrorCode;
      readonly status: number;
      readonly reason: string;
      /** For 420 (Bad Extension): the option tags to list in Unsupported (RFC 3261 8.2.2.3). */
      readonly unsupported?: readonly string[];
    };

export interface ValidateOptions {
  /** Option tags the proxy supports in Proxy-Require (RFC 3261 16.3 step 5). Default: none. */
  readonly proxyExtensions?: ReadonlySet<string>;
  /** Bound of every token in the headers checked here (ParserLimits.maxTokenBytes). Default 1024. */
  readonly maxTokenBytes?: number;
}

const OK: ValidationResult = Object.freeze({ ok: true });

/** delta-seconds: at most 2^32-1 (RFC 3261 20.19 and 20.10). */
const MAX_DELTA_SECONDS = 0xffffffff;

/** A refusal with the status the error registry gives its code. */
function refuse(code: SipErrorCode, reason: string): ValidationResult {
  return { ok: false, code, status: ERROR_STATUS[code], reason };
}

/** A refusal for a header that does not parse: the parse error's code and status. */
function refuseParse(error: SipParseError, reason: string): ValidationResult {
  return { ok: false, code: error.code, status: error.status, reason: `${reason}: ${error.reason}` };
}

/** qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ) (RFC 3261 25.1) */
function isQValue(v: string): boolean {
  if (v.length === 0 || v.length > 5) return false;
  const c0 = v.charCodeAt(0);
  if (c0 !== 0x30 && c0 !== 0x31) return false;
  if (v.length === 1) return true;
  if (v.charCodeAt(1) !== 0x2e) return false;
  for (let k = 2; k < v.length; k++) {
    const c = v.charCodeAt(k);
    if (c0 === 0x31 ? c !== 0x30 : c < 0x30 || c > 0x39) return false;
  }
  return true;
}

function isDeltaSeconds(v: string | null): boolean {
  if (v === null) return false;
  const n = parseDigits(v, 10);
  return n >= 0 && n <= MAX_DELTA_SECONDS;
}

export function validateMessage(m: SipMessage, options?: ValidateOptions): ValidationResult {
  // Via sent-by: the parser checked the grammar; summaries built by edits are checked here.
  for (const v of m.via) {
    if (!isValidSentByHost(v.host) || (v.port !== undefined && (v.port < 0 || v.port > 65535)))
      return refuse('SW_ERR_BAD_VIA', 'bad Via sent-by');
  }
  if (m.contentLength !== undefined && m.contentLength !== m.body.length)
    return refuse('SW_ERR_CONTENT_LENGTH', 'Content-Length does not match the body');

  const maxToken = options?.maxTokenBytes ?? NAME_ADDRS_MAX_TOKEN;
  let contactStar = false;
  let contactCount = 0;
  let expiresZero = false;
  let proxyRequire: string[] | undefined;
  for (const h of m.headers) {
    switch (h.name) {
      case 'expires':
        if (!isDeltaSeconds(h.value)) return refuse('SW_ERR_EXPIRES_RANGE', 'Expires out of range');
        expiresZero = parseDigits(h.value, 10) === 0;
        break;
      case 'route':
      case 'record-route':
      case 'path': {
        // Parsed on demand, not by parseMessage, and kept for the readers after this one; the
        // syntax is checked here (RFC 3261 20.10, 20.30, 20.34).
        const list = nameAddrsOf(h, maxToken);
        if (list instanceof SipParseError) return refuseParse(list, `bad ${h.name} header`);
        if (list === '*') return refuse('SW_ERR_BAD_NAME_ADDR', `bad ${h.name} header`);
        break;
      }
      case 'contact': {
        const list = nameAddrsOf(h, maxToken);
        if (list instanceof SipParseError) return refuseParse(list, 'bad contact header');
        if (list === '*') {
          contactStar = true;
          contactCount++;
          break;
        }
        for (const c of list) {
          contactCount++;
          const expires = c.params.get('expires');
          if (expires !== undefined && !isDeltaSeconds(expires))
            return refuse('SW_ERR_EXPIRES_RANGE', 'Contact expires out of range');
          const q = c.params.get('q');
          if (q !== undefined && (q === null || !isQValue(q)))
            return refuse('SW_ERR_BAD_QVALUE', 'Contact q out of range');
        }
        break;
      }
      case 'proxy-require':
        proxyRequire ??= [];
        for (const tag of h.value.split(',')) {
          const t = tag.trim();
          if (t !== '' && proxyRequire.length < 16) proxyRequire.push(t);
        }
        break;
    }
  }

  if (m.kind === 'response') return OK;

  // RFC 3261 8.2.2.1 and 16.3 step 2: a Request-URI scheme we do not understand gets 416.
  const scheme = m.uri.scheme;
  if (scheme !== 'sip' && scheme !== 'sips' && scheme !== 'tel')
    return refuse('SW_ERR_UNSUPPORTED_URI_SCHEME', 'unsupported Request-URI scheme');
  // RFC 3261 8.1.1.5: the CSeq method matches the request method; ACK and CANCEL carry
  // their own method in CSeq too (RFC 3261 17.1.1.3 and 9.1).
  if (m.cseq.method !== m.method) return refuse('SW_ERR_CSEQ_METHOD_MISMATCH', 'CSeq method does not match');
  // RFC 3261 8.1.1.6: Max-Forwards is an integer in the range 0-255.
  if (m.maxForwards !== undefined && m.maxForwards > 255)
    return refuse('SW_ERR_MAX_FORWARDS_RANGE', 'Max-Forwards out of range');
  // RFC 3261 10.3 step 6: Contact "*" only alone and with Expires: 0.
  if (contactStar && (contactCount > 1 || !expiresZero || m.method !== 'REGISTER'))
    return refuse('SW_ERR_BAD_CONTACT_STAR', 'Contact * needs Expires: 0 and no other Contact');
  // RFC 3261 16.3 step 5: a proxy refuses Proxy-Require option tags it does not support.
  if (proxyRequire !== undefined && m.method !== 'ACK' && m.method !== 'CANCEL') {
    const supported = options?.proxyExtensions;
    const unsupported = proxyRequire.filter((t) => supported === undefined || !supported.has(t));
    if (unsupported.length > 0)
      return {
        ok: false,
        code: 'SW_ERR_BAD_EXTENSION',
        status: ERROR_STATUS.SW_ERR_BAD_EXTENSION,
        reason: 'unsupported Proxy-Require option',
        unsupported,
      };
  }
  return OK;
}

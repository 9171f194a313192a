/**
 * Responses built by the proxy itself (RFC 3261 8.2.6 and 16.7): Via, From, To, Call-ID
 * and CSeq copied from the request, a To tag added when asked, Content-Length written.
 */
import { SipParseError } from './errors.ts';
import { canonicalName, longName } from './header-names.ts';
import { parseCSeq } from './headers/cseq.ts';
import { parseNameAddr } from './headers/name-addr.ts';
import { parseViaValues } from './headers/via.ts';
import type { HeaderField, NameAddr, SipRequest, SipResponse } from './message.ts';
import type { PartialMessage } from './parse.ts';

const PHRASES: ReadonlyMap<number, string> = new Map([
  [100, 'Trying'],
  [180, 'Ringing'],
  [181, 'Call Is Being Forwarded'],
  [182, 'Queued'],
  [183, 'Session Progress'],
  [199, 'Early Dialog Terminated'],
  [200, 'OK'],
  [202, 'Accepted'],
  [204, 'No Notification'],
  [300, 'Multiple Choices'],
  [301, 'Moved Permanently'],
  [302, 'Moved Temporarily'],
  [305, 'Use Proxy'],
  [380, 'Alternative Service'],
  [400, 'Bad Request'],
  [401, 'Unauthorized'],
  [402, 'Payment Required'],
  [403, 'Forbidden'],
  [404, 'Not Found'],
  [405, 'Method Not Allowed'],
  [406, 'Not Acceptable'],
  [407, 'Proxy Authentication Required'],
  [408, 'Request Timeout'],
  [410, 'Gone'],
  [412, 'Conditional Request Failed'],
  [413, 'Request Entity Too Large'],
  [414, 'Request-URI Too Long'],
  [415, 'Unsupported Media Type'],
  [416, 'Unsupported URI Scheme'],
  [417, 'Unknown Resource-Priority'],
  [420, 'Bad Extension'],
  [421, 'Extension Required'],
  [422, 'Session Interval Too Small'],
  [423, 'Interval Too Brief'],
  [428, 'Use Identity Header'],
  [429, 'Provide Referrer Identity'],
  [430, 'Flow Failed'],
  [433, 'Anonymity Disallowed'],
  [436, 'Bad Identity-Info'],
  [437, 'Unsupported Certificate'],
  [438, 'Invalid Identity Header'],
  [439, 'First Hop Lacks Outbound Support'],
  [440, 'Max-Breadth Exceeded'],
  [469, 'Bad Info Package'],
  [470, 'Consent Needed'],
  [480, 'Temporarily Unavailable'],
  [481, 'Call/Transaction Does Not Exist'],
  [482, 'Loop Detected'],
  [483, 'Too Many Hops'],
  [484, 'Address Incomplete'],
  [485, 'Ambiguous'],
  [486, 'Busy Here'],
  [487, 'Request Terminated'],
  [488, 'Not Acceptable Here'],
  [489, 'Bad Event'],
  [491, 'Request Pending'],
  [493, 'Undecipherable'],
  [494, 'Security Agreement Required'],
  [500, 'Server Internal Error'],
  [501, 'Not Implemented'],
  [502, 'Bad Gateway'],
  [503, 'Service Unavailable'],
  [504, 'Server Time-out'],
  [505, 'Version Not Supported'],
  [513, 'Message Too Large'],
  [555, 'Push Notification Service Not Supported'],
  [580, 'Precondition Failure'],
  [600, 'Busy Everywhere'],
  [603, 'Decline'],
  [604, 'Does Not Exist Anywhere'],
  [606, 'Not Acceptable'],
  [607, 'Unwanted'],
  [608, 'Rejected'],
]);

/** The default reason phrase of a status code (RFC 3261 section 21 and later RFCs). */
export function reasonPhrase(status: number): string {
  const phrase = PHRASES.get(status);
  if (phrase !== undefined) return phrase;
  if (status >= 100 && status < 200) return 'Provisional';
  if (status < 300) return 'Success';
  if (status < 400) return 'Redirection';
  if (status < 500) return 'Client Error';
  if (status < 600) return 'Server Error';
  return 'Global Failure';
}

/** A reason phrase safe to write: printable ASCII only, at most 128 characters. */
export function safeReason(reason: string): string {
  let out = '';
  for (let k = 0; k < reason.length && out.length < 128; k++) {
    const c = reason.charCodeAt(k);
    out += c >= 0x20 && c < 0x7f ? reason[k]! : '?';
  }
  return out;
}

function checkStatus(status: number): void {
  if (!Number.isInteger(status) || status < 100 || status > 699)
    throw new RangeError(`bad SIP status ${status}`);
}

export interface ResponseOptions {
  /** To tag to add when the request's To has none (never on 100, RFC 3261 8.2.6.2). */
  readonly toTag?: string;
  /** Extra header fields, written after the copied ones. */
  readonly headers?: readonly { readonly name: string; readonly value: string }[];
  readonly body?: Buffer;
  readonly contentType?: string;
}

function addTag(to: NameAddr, tag: string): NameAddr {
  const params = new Map(to.params);
  params.set('tag', tag);
  return { ...to, params };
}

export function createResponse(
  req: SipRequest,
  status: number,
  reason?: string,
  options?: ResponseOptions,
): SipResponse {
  checkStatus(status);
  const headers: HeaderField[] = [];
  let to = req.to;
  for (const h of req.headers) {
    if (h.name === 'via' || h.name === 'from' || h.name === 'call-id' || h.name === 'cseq') headers.push(h);
    else if (h.name === 'to') {
      // RFC 3261 8.2.6.2: the To tag is added on any response but 100 (Trying).
      if (options?.toTag !== undefined && status !== 100 && !to.params.has('tag')) {
        to = addTag(to, options.toTag);
        headers.push({ name: 'to', value: h.value + ';tag=' + options.toTag });
      } else headers.push(h);
    }
  }
  const extra = options?.headers;
  if (extra !== undefined) {
    for (const h of extra) headers.push({ name: longName(h.name), value: h.value });
  }
  const body = options?.body ?? Buffer.alloc(0);
  if (options?.contentType !== undefined) headers.push({ name: 'content-type', value: options.contentType });
  headers.push({ name: 'content-length', value: String(body.length) });
  return {
    kind: 'response',
    status,
    reason: safeReason(reason ?? reasonPhrase(status)),
    headers,
    body,
    callId: req.callId,
    cseq: req.cseq,
    from: req.from,
    to,
    via: req.via,
    maxForwards: undefined,
    contentLength: body.length,
  };
}

/**
 * Answers a request that failed to parse, from the fields that could be read (RFC 3261
 * 8.2.6.2: Via, From, To, Call-ID and CSeq copied from the request). A field the message
 * repeats is copied from its first value; one that does not parse is copied as it came, when
 * it is printable text: the sender matches the answer by Via branch and CSeq, and a 400 that
 * says what was wrong serves it better than silence. Returns undefined only when no answer
 * can be built: no Via, or one that does not parse (nowhere to match the answer to), a
 * missing From, To, Call-ID or CSeq, a field holding control characters, and for ACK
 * (never answered, RFC 3261 17.2.1) and responses.
 */
export function createResponseFromPartial(
  partial: PartialMessage,
  status: number,
  reason: string,
  options?: {
    readonly toTag?: string;
    /** Extra header fields (a Warning), written after the copied ones. */
    readonly headers?: readonly { readonly name: string; readonly value: string }[];
  },
): Buffer | undefined {
  if (partial.kind !== 'request' || partial.method === 'ACK') return undefined;
  if (!Number.isInteger(status) || status < 300 || status > 699) return undefined;
  let vias = '';
  let from: HeaderField | undefined;
  let to: HeaderField | undefined;
  let callId: HeaderField | undefined;
  let cseq: HeaderField | undefined;
  for (const h of partial.headers) {
    switch (h.name) {
      case 'via':
        if (parseViaValues(h.value) instanceof SipParseError) return undefined;
        vias += line(h);
        break;
      case 'from':
        from ??= h;
        break;
      case 'to':
        to ??= h;
        break;
      case 'call-id':
        callId ??= h;
        break;
      case 'cseq':
        cseq ??= h;
        break;
    }
  }
  if (vias === '' || from === undefined || to === undefined || callId === undefined || cseq === undefined)
    return undefined;
  if (!copyable(from) || !copyable(to) || !copyable(callId) || !copyable(cseq)) return undefined;
  // An ACK is never answered, whatever its start line says (a CSeq that does not parse is judged by its last word).
  const parsedCSeq = parseCSeq(cseq.value);
  const cseqMethod =
    parsedCSeq instanceof SipParseError ? cseq.value.trim().split(/\s+/).pop() : parsedCSeq.method;
  if (cseqMethod === 'ACK') return undefined;
  // RFC 3261 8.2.6.2: our To tag, added only to a To we could read and that has none.
  const parsedTo = parseNameAddr(to.value);
  const toLine =
    options?.toTag !== undefined && !(parsedTo instanceof SipParseError) && !parsedTo.params.has('tag')
      ? 'To: ' + to.value + ';tag=' + options.toTag + '\r\n'
      : line(to);
  let extra = '';
  for (const h of options?.headers ?? []) extra += canonicalName(longName(h.name)) + ': ' + h.value + '\r\n';
  const text =
    'SIP/2.0 ' +
    status +
    ' ' +
    safeReason(reason) +
    '\r\n' +
    vias +
    line(from) +
    toLine +
    line(callId) +
    line(cseq) +
    extra +
    'Content-Length: 0\r\n\r\n';
  return Buffer.from(text, 'latin1');
}

/** A field that can be written back as it came: its line holds no control character but HTAB. */
function copyable(h: HeaderField): boolean {
  const text = h.raw ?? h.value;
  for (let k = 0; k < text.length; k++) {
    const c = text.charCodeAt(k);
    // A folded field's raw text holds CRLF followed by whitespace: a continuation, kept as is.
    if (c === 0x0d && text.charCodeAt(k + 1) === 0x0a) {
      const next = text.charCodeAt(k + 2);
      if (next === 0x20 || next === 0x09) {
        k++;
        continue;
      }
      return false;
    }
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return false;
  }
  return true;
}

function line(h: HeaderField): string {
  return (h.raw ?? canonicalName(h.name) + ': ' + h.value) + '\r\n';
}

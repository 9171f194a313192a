/**
 * The strict, bounded SIP message parser (RFC 3261 sections 7 and 25). Bytes in, a message
 * or a typed error out: it never throws, never allocates beyond the limits, and runs in time
 * linear in its input (its regular expressions are anchored and hold no ambiguous nested
 * repetition: see grammar-regex.ts).
 *
 * Text is handled as latin1 strings (one character per byte), so offsets are byte counts and
 * the raw header lines round-trip byte-exactly, UTF-8 included. A SIMD pre-scan (head-scan.ts)
 * finds the line ends and whether the header section is free of control characters; the
 * walks here do both themselves when it cannot (parseMessageWalk). The common spellings of the
 * Request-URI, Via, From and To are matched by expressions that encode their grammar (fast
 * paths); the character walks decide everything else.
 *
 * Checked here, to the section 25 grammar: the start line and Request-URI, header names,
 * line folding and line ends, Via, From, To, Call-ID, CSeq, Max-Forwards, Content-Length,
 * Expires, single-valued and mandatory headers, the body length, and that no other header
 * value holds control characters or an over-long token. Contact, Route, Record-Route and
 * Path are parsed on demand (parseNameAddrList) and their grammar is checked by
 * validateMessage, which every caller runs next: keeping them off the parse path leaves it
 * the summaries every stage needs.
 */
import { CHAR, TOKEN } from './chars.ts';
import { type SipErrorCode, SipParseError, sipError } from './errors.ts';
import { HEAD_COPY_BASE, HEAD_NOT_SCANNED, headCopy, headLfs, scanHead } from './head-scan.ts';
import {
  knownNameAt,
  knownNameInWords,
  knownNameLength,
  knownNameLong,
  longName,
  NO_KNOWN_NAME,
} from './header-names.ts';
import { cseqOfBytes, parseCSeq } from './headers/cseq.ts';
import { parseNameAddr } from './headers/name-addr.ts';
import { digitsOfBytes, isCallId, parseDigits } from './headers/scalar.ts';
import { parseViaValues } from './headers/via.ts';
import { DEFAULT_UDP_LIMITS, type ParserLimits } from './limits.ts';
import type {
  CSeq,
  HeaderField,
  NameAddr,
  SipMessage,
  SipRequest,
  SipResponse,
  Uri,
  Via,
} from './message.ts';
import { parseUri } from './uri.ts';

export type ParseResult =
  | { readonly ok: true; readonly message: SipMessage; readonly trailingBytes: number }
  | { readonly ok: false; readonly error: SipParseError; readonly partial?: PartialMessage };

/** What could be read of a message that failed to parse: enough to answer a request. */
export interface PartialMessage {
  readonly kind: 'request' | 'response';
  readonly method?: string;
  readonly headers: readonly HeaderField[];
}

/**
 * A value free of control characters other than HTAB (CR and LF inside a line are bare,
 * hence invalid). Anchored and made of one class: linear, and about twice as fast in V8 as
 * searching for the control characters.
 */
const NO_CTL = /^[\t\x20-\x7e\x80-\xff]*$/;
/** The body of every message without one: shared, it has no bytes to change. */
const NO_BODY = Buffer.alloc(0);
/** Largest number of Via values across all Via fields of one message. */
const MAX_VIA_VALUES = 64;

function fail(error: SipParseError, partial?: PartialMessage): ParseResult {
  return partial === undefined ? { ok: false, error } : { ok: false, error, partial };
}

/**
 * Parses one SIP message. For a UDP datagram, bytes after Content-Length bytes of body are
 * reported in `trailingBytes` (RFC 3261 18.3: they are ignored).
 */
export function parseMessage(data: Buffer, limits: ParserLimits = DEFAULT_UDP_LIMITS): ParseResult {
  try {
    return parse(data, limits, true);
  } catch {
    // There should be none; the boundary holds anyway.
    return fail(sipError('SW_ERR_INTERNAL', 'internal parser error'));
  }
}

/**
 * The parser without its exception guard, for the fuzzer: a throw here is a bug to find.
 * Everything else uses parseMessage.
 */
export function parseMessageUnguarded(data: Buffer, limits: ParserLimits = DEFAULT_UDP_LIMITS): ParseResult {
  return parse(data, limits, true);
}

/**
 * The parser without its SIMD pre-scan (scanHead): line ends searched in the text and every
 * header value's bytes read. The reference the scan is tested against; same results.
 */
export function parseMessageWalk(data: Buffer, limits: ParserLimits = DEFAULT_UDP_LIMITS): ParseResult {
  return parse(data, limits, false);
}

interface StartLine {
  readonly kind: 'request' | 'response';
  readonly method: string;
  readonly uriText: string;
  readonly uri: Uri | undefined;
  readonly status: number;
  readonly reason: string;
  /** A problem found in a readable start line (bad version, bad Request-URI). */
  readonly error: SipParseError | undefined;
}

function isShortNumber(v: string, a: number, b: number): boolean {
  if (b <= a || b - a > 4) return false;
  for (let k = a; k < b; k++) if (v.charCodeAt(k) < 0x30 || v.charCodeAt(k) > 0x39) return false;
  return true;
}

function badLine(reason: string): SipParseError {
  return sipError('SW_ERR_BAD_START_LINE', reason);
}

/** The bytes "SIP/2.0" at b[i], read without startsWith. */
function isSip20(b: Buffer, i: number): boolean {
  return (
    b[i] === 0x53 &&
    b[i + 1] === 0x49 &&
    b[i + 2] === 0x50 &&
    b[i + 3] === 0x2f &&
    b[i + 4] === 0x32 &&
    b[i + 5] === 0x2e &&
    b[i + 6] === 0x30
  );
}

/** SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT, "SIP" case-insensitive (RFC 3261 7.1). */
function versionCheck(
  s: string,
  start: number,
  end: number,
  data: Buffer,
  dataStart: number,
): SipParseError | undefined {
  if (end - start === 7 && isSip20(data, dataStart + start)) return undefined;
  const v = s.slice(start, end);
  const slash = v.indexOf('/');
  const dot = v.indexOf('.', slash + 1);
  if (
    slash !== 3 ||
    v.slice(0, 3).toLowerCase() !== 'sip' ||
    dot < 0 ||
    !isShortNumber(v, slash + 1, dot) ||
    !isShortNumber(v, dot + 1, v.length)
  ) {
    return sipError('SW_ERR_BAD_START_LINE', 'malformed SIP version');
  }
  if (v.slice(4) === '2.0') return undefined; // lower-case "sip/2.0"
  return sipError('SW_ERR_BAD_VERSION', 'SIP version not supported'); // RFC 3261 8.2.6 / 21.5.6
}

/**
 * Request-Line = Method SP Request-URI SP SIP-Version CRLF;
 * Status-Line = SIP-Version SP Status-Code SP Reason-Phrase CRLF (RFC 3261 25.1).
 * Exactly one SP between elements (RFC 4475 3.1.2.8 to 3.1.2.10).
 */
function parseStartLine(
  s: string,
  end: number,
  limits: ParserLimits,
  data: Buffer,
  start: number,
): StartLine | SipParseError {
  if (
    end >= 4 &&
    s.charCodeAt(3) === 0x2f &&
    // "SIP" in any case, from the bytes (b | 0x20 is "s", "i" or "p" only for that letter).
    (data[start]! | 0x20) === 0x73 &&
    (data[start + 1]! | 0x20) === 0x69 &&
    (data[start + 2]! | 0x20) === 0x70
  ) {
    const sp1 = s.indexOf(' ', 0);
    if (sp1 < 0 || sp1 > end) return badLine('malformed status line');
    const versionError = versionCheck(s, 0, sp1, data, start);
    if (versionError?.code === 'SW_ERR_BAD_START_LINE') return versionError;
    let status = 0;
    let k = sp1 + 1;
    for (; k < end && k < sp1 + 4; k++) {
      const c = data[k + start]!;
      if (c < 0x30 || c > 0x39) break;
      status = status * 10 + (c - 0x30);
    }
    if (k !== sp1 + 4 || status < 100 || status > 699 || (k < end && data[k + start] !== 0x20))
      return sipError('SW_ERR_BAD_STATUS_CODE', 'malformed status code');
    if (k === end) return badLine('missing SP after status code');
    // Reason-Phrase: any text but control characters (HTAB allowed).
    if (!noControlBytes(data, k + 1 + start, end + start))
      return badLine('control character in reason phrase');
    if (end - k - 1 > limits.maxTokenBytes)
      return sipError('SW_ERR_TOKEN_TOO_LONG', 'reason phrase too long', 'maxTokenBytes');
    return {
      kind: 'response',
      method: '',
      uriText: '',
      uri: undefined,
      status,
      reason: s.slice(k + 1, end),
      error: versionError,
    };
  }
  let sp1 = 0;
  while (sp1 < end && (CHAR[data[sp1 + start]!]! & TOKEN) !== 0) sp1++;
  if (sp1 === 0 || sp1 >= end || s.charCodeAt(sp1) !== 0x20) return badLine('malformed request line');
  if (sp1 > limits.maxTokenBytes)
    return sipError('SW_ERR_TOKEN_TOO_LONG', 'method too long', 'maxTokenBytes');
  const sp2 = s.indexOf(' ', sp1 + 1);
  if (sp2 < 0 || sp2 >= end || sp2 === sp1 + 1) return badLine('malformed request line');
  const vEnd = s.indexOf(' ', sp2 + 1);
  if (vEnd >= 0 && vEnd < end) return badLine('extra SP in request line');
  const versionError = versionCheck(s, sp2 + 1, end, data, start);
  if (versionError?.code === 'SW_ERR_BAD_START_LINE') return versionError;
  const method = s.slice(0, sp1);
  const uriText = s.slice(sp1 + 1, sp2);
  let error: SipParseError | undefined = versionError;
  let uri: Uri | undefined;
  // data[start + i] holds the code of s[i] (see parse).
  const parsed = parseUri(uriText, limits.maxTokenBytes, data, start + sp1 + 1);
  if (parsed instanceof SipParseError) {
    if (error === undefined)
      error =
        parsed.code === 'SW_ERR_TOKEN_TOO_LONG'
          ? parsed
          : sipError('SW_ERR_BAD_REQUEST_URI', `bad Request-URI: ${parsed.reason}`);
  } else {
    uri = parsed;
    // RFC 3261 19.1.1 table: headers are not allowed in a Request-URI (RFC 4475 3.1.2.11).
    if ('headers' in parsed && parsed.headers.size > 0 && error === undefined)
      error = sipError('SW_ERR_REQUEST_URI_HEADERS', 'headers not allowed in Request-URI');
  }
  return { kind: 'request', method, uriText, uri, status: 0, reason: '', error };
}

const INCOMPLETE = -1;
const BARE_LF = -2;

/**
 * The LFs of the message being parsed, from scanHead (offsets in the message): how many
 * (-1: not scanned, search the text) and the next one to read. Set by parse for each message.
 */
let lfCount = -1;
let lfNext = 0;

/**
 * Index of the CR ending the line that starts at `from`; INCOMPLETE when no LF follows (the
 * header section has no end); BARE_LF when the line ends in LF alone (refused). The LF
 * comes from scanHead's list when there is one (lines are read in order), else from a
 * search of the text.
 */
function findLineEnd(head: string, from: number, data: Buffer, start: number): number {
  let lf = -1;
  if (lfCount >= 0) {
    const target = from + start;
    while (lfNext < lfCount && headLfs[lfNext]! < target) lfNext++;
    if (lfNext < lfCount) lf = headLfs[lfNext]! - start;
  }
  // The list ends with the header section; past it (never, in order), search.
  if (lf < 0) lf = head.indexOf('\n', from);
  if (lf < 0) return INCOMPLETE;
  // data[i + start] is the byte of head[i] (see parse).
  return data[lf - 1 + start] === 0x0d && lf > from ? lf - 1 : BARE_LF;
}

/** A header value with line folding: each [*WSP] CRLF 1*WSP becomes one SP (RFC 3261 7.3.1). */
function unfold(s: string, from: number, to: number): string {
  let out = '';
  let seg = from;
  let k = from;
  for (;;) {
    const crlf = s.indexOf('\r\n', k);
    if (crlf < 0 || crlf >= to) break;
    let a = crlf;
    while (a > seg && (s.charCodeAt(a - 1) === 0x20 || s.charCodeAt(a - 1) === 0x09)) a--;
    out += s.slice(seg, a) + ' ';
    let b = crlf + 2;
    while (b < to && (s.charCodeAt(b) === 0x20 || s.charCodeAt(b) === 0x09)) b++;
    seg = b;
    k = b;
  }
  out += s.slice(seg, to);
  let a = 0;
  let b = out.length;
  while (a < b && (out.charCodeAt(a) === 0x20 || out.charCodeAt(a) === 0x09)) a++;
  while (b > a && (out.charCodeAt(b - 1) === 0x20 || out.charCodeAt(b - 1) === 0x09)) b--;
  return a === 0 && b === out.length ? out : out.slice(a, b);
}

/**
 * An unparsed header value: text of TEXT-UTF8char and LWS (RFC 3261 25.1). Control
 * characters are refused unless escaped by a backslash (a quoted-pair). Returns an error
 * code or undefined.
 */
export function checkOpaqueValue(value: string, maxToken: number): SipErrorCode | undefined {
  if (!NO_CTL.test(value)) {
    for (let k = 0; k < value.length; k++) {
      const c = value.charCodeAt(k);
      if (
        ((c < 0x20 && c !== 0x09) || c === 0x7f) &&
        (c === 0x0a || c === 0x0d || value.charCodeAt(k - 1) !== 0x5c)
      )
        return 'SW_ERR_BAD_HEADER';
    }
  }
  if (value.length > maxToken) {
    // No run between separators may exceed the token limit.
    let run = 0;
    for (let k = 0; k < value.length; k++) {
      const c = value.charCodeAt(k);
      if (c === 0x20 || c === 0x09 || c === 0x2c || c === 0x3b || c === 0x3d) run = 0;
      else if (++run > maxToken) return 'SW_ERR_TOKEN_TOO_LONG';
    }
  }
  return undefined;
}

/**
 * True when b[from, to) holds no control character but HTAB: the common case of
 * checkOpaqueValue, read from the bytes with no call per value. Exported for its test.
 */
export function noControlBytes(b: Buffer, from: number, to: number): boolean {
  let k = from;
  // Four bytes per step with one branch: c - 0x20 is negative for c below SP and
  // (c ^ 0x7f) - 1 for DEL; a flagged group is looked at byte by byte (HTAB is allowed).
  for (; k + 4 <= to; k += 4) {
    const c0 = b[k]!;
    const c1 = b[k + 1]!;
    const c2 = b[k + 2]!;
    const c3 = b[k + 3]!;
    if (
      ((c0 - 0x20) |
        ((c0 ^ 0x7f) - 1) |
        (c1 - 0x20) |
        ((c1 ^ 0x7f) - 1) |
        (c2 - 0x20) |
        ((c2 ^ 0x7f) - 1) |
        (c3 - 0x20) |
        ((c3 ^ 0x7f) - 1)) <
      0
    )
      break;
  }
  for (; k < to; k++) {
    const c = b[k]!;
    if (c < 0x20 ? c !== 0x09 : c === 0x7f) return false;
  }
  return true;
}

function duplicate(name: string): SipParseError {
  return sipError('SW_ERR_DUPLICATE_HEADER', `repeated ${name} header`); // RFC 3261 7.3.1
}

function parse(data: Buffer, limits: ParserLimits, prescan: boolean): ParseResult {
  const total = data.length;
  const tooLarge = total > limits.maxMessageBytes;
  const end = tooLarge ? limits.maxMessageBytes : total;
  // RFC 3261 7.5: CRLFs before the start line are ignored.
  let start = 0;
  while (start + 1 < end && data[start] === 0x0d && data[start + 1] === 0x0a) start += 2;
  // The header section ends at the first CRLF CRLF: found by the line loop below as the
  // first empty line, so the text is searched once.
  let headLen = -1;
  let noEnd = false;

  // One SIMD pass finds the line ends and whether the section is clean of control characters.
  const scanned = prescan ? scanHead(data, start, end) : HEAD_NOT_SCANNED;
  lfCount = scanned === HEAD_NOT_SCANNED ? -1 : scanned >> 1;
  lfNext = 0;
  const clean = scanned !== HEAD_NOT_SCANNED && (scanned & 1) === 1;
  // One latin1 string (a character per byte) of the header section when the scan found its
  // end, else of the whole (bounded) message; `head` offset i is message byte start + i.
  const head = data.toString('latin1', start, lfCount > 0 ? headLfs[lfCount - 1]! + 1 : end);

  // A clean section has a CR before every LF: the first LF ends the start line.
  let lineEnd = clean ? headLfs[0]! - 1 - start : head.indexOf('\r\n');
  if (lineEnd < 0) lineEnd = head.length;
  const sl = parseStartLine(head, lineEnd, limits, data, start);
  if (sl instanceof SipParseError) {
    return fail(tooLarge ? sipError('SW_ERR_MESSAGE_TOO_LARGE', 'message too large', 'maxMessageBytes') : sl);
  }

  let error: SipParseError | undefined = tooLarge
    ? sipError('SW_ERR_MESSAGE_TOO_LARGE', 'message too large', 'maxMessageBytes')
    : sl.error;
  const headers: HeaderField[] = [];
  const via: Via[] = [];
  let from: NameAddr | undefined;
  let to: NameAddr | undefined;
  let callId: string | undefined;
  let cseq: CSeq | undefined;
  let maxForwards: number | undefined;
  let contentLength: number | undefined;
  let seenContentType = false;
  let seenExpires = false;
  const maxToken = limits.maxTokenBytes;
  const maxLines = limits.maxHeaderLines;
  let lines = 0;
  let pos = lineEnd + 2;

  for (;;) {
    if (pos >= head.length) {
      noEnd = true;
      break;
    }
    if (data[pos + start] === 0x0d && data[pos + 1 + start] === 0x0a) {
      headLen = pos - 2; // the empty line: CRLF CRLF starts at the end of the line before
      break;
    }
    let eol = findLineEnd(head, pos, data, start);
    if (eol === INCOMPLETE) {
      noEnd = true;
      break;
    }
    lines++;
    let folded = false;
    // Continuation lines start with SP or HTAB (RFC 3261 7.3.1).
    while (eol >= 0) {
      const c = data[eol + 2 + start];
      if (c !== 0x20 && c !== 0x09) break;
      const next = findLineEnd(head, eol + 2, data, start);
      if (next === INCOMPLETE) break;
      folded = true;
      eol = next;
      if (++lines > maxLines) break;
    }
    if (eol === BARE_LF) {
      error ??= sipError('SW_ERR_BAD_HEADER', 'line ends in LF without CR');
      break;
    }
    if (lines > maxLines) {
      error ??= sipError('SW_ERR_TOO_MANY_HEADERS', 'too many header lines', 'maxHeaderLines');
      break;
    }
    // header-name HCOLON: HCOLON = *( SP / HTAB ) ":" SWS. The walks read the bytes (at
    // head offset + `start`), cheaper than charCodeAt; `head` is their latin1 text.
    // A known name is matched on its bytes at once; any other is walked and lower-cased.
    const known =
      lfCount >= 0
        ? knownNameInWords(headCopy, HEAD_COPY_BASE + pos + start, HEAD_COPY_BASE + eol + start)
        : knownNameAt(data, pos + start, eol + start);
    let nameEnd = pos;
    if (known !== NO_KNOWN_NAME) nameEnd += knownNameLength(known);
    else while (nameEnd < eol && (CHAR[data[nameEnd + start]!]! & TOKEN) !== 0) nameEnd++;
    let colon = nameEnd;
    while (colon < eol && (data[colon + start] === 0x20 || data[colon + start] === 0x09)) colon++;
    if (nameEnd === pos || colon >= eol || data[colon + start] !== 0x3a) {
      error ??= sipError('SW_ERR_BAD_HEADER', 'malformed header line');
      break;
    }
    if (nameEnd - pos > maxToken) {
      error ??= sipError('SW_ERR_TOKEN_TOO_LONG', 'header name too long', 'maxTokenBytes');
      break;
    }
    let value: string;
    let vsOf = 0;
    if (folded) {
      value = unfold(head, colon + 1, eol);
    } else {
      let vs = colon + 1;
      while (vs < eol && (data[vs + start] === 0x20 || data[vs + start] === 0x09)) vs++;
      let ve = eol;
      while (ve > vs && (data[ve - 1 + start] === 0x20 || data[ve - 1 + start] === 0x09)) ve--;
      value = head.slice(vs, ve);
      vsOf = vs;
    }
    const name = known !== NO_KNOWN_NAME ? knownNameLong(known) : longName(head.slice(pos, nameEnd));
    headers.push({ name, value, raw: head.slice(pos, eol) });
    pos = eol + 2;
    if (error !== undefined) continue; // keep reading fields for the partial message only

    switch (name) {
      case 'via': {
        const r = folded
          ? parseViaValues(value, maxToken, MAX_VIA_VALUES - via.length, via)
          : parseViaValues(value, maxToken, MAX_VIA_VALUES - via.length, via, data, vsOf + start);
        if (r instanceof SipParseError) error = r;
        break;
      }
      case 'from':
      case 'to': {
        if ((name === 'from' ? from : to) !== undefined) {
          error = duplicate(name === 'from' ? 'From' : 'To');
          break;
        }
        const r = folded
          ? parseNameAddr(value, maxToken)
          : parseNameAddr(value, maxToken, data, vsOf + start);
        if (r instanceof SipParseError) {
          error =
            r.code === 'SW_ERR_BAD_NAME_ADDR'
              ? sipError('SW_ERR_BAD_NAME_ADDR', `bad ${name === 'from' ? 'From' : 'To'} header: ${r.reason}`)
              : r;
        } else if (name === 'from') from = r;
        else to = r;
        break;
      }
      case 'call-id':
        if (callId !== undefined) error = duplicate('Call-ID');
        else if (value.length > maxToken)
          error = sipError('SW_ERR_TOKEN_TOO_LONG', 'Call-ID too long', 'maxTokenBytes');
        else if (!isCallId(value)) error = sipError('SW_ERR_BAD_CALL_ID', 'malformed Call-ID');
        else callId = value;
        break;
      case 'cseq': {
        if (cseq !== undefined) {
          error = duplicate('CSeq');
          break;
        }
        const r =
          (folded ? undefined : cseqOfBytes(data, vsOf + start, value, maxToken)) ??
          parseCSeq(value, maxToken);
        if (r instanceof SipParseError) error = r;
        else cseq = r;
        break;
      }
      case 'max-forwards': {
        if (maxForwards !== undefined) {
          error = duplicate('Max-Forwards');
          break;
        }
        // Max-Forwards = 1*DIGIT; the 0..255 range is a validation rule.
        const v = folded ? parseDigits(value, 10) : digitsOfBytes(data, vsOf + start, value.length, 10);
        if (v < 0) error = sipError('SW_ERR_BAD_MAX_FORWARDS', 'malformed Max-Forwards');
        else maxForwards = v;
        break;
      }
      case 'content-length': {
        if (contentLength !== undefined) {
          error = duplicate('Content-Length');
          break;
        }
        const v = folded ? parseDigits(value, 10) : digitsOfBytes(data, vsOf + start, value.length, 10);
        if (v < 0) error = sipError('SW_ERR_BAD_CONTENT_LENGTH', 'malformed Content-Length');
        else contentLength = v;
        break;
      }
      case 'content-type':
        if (seenContentType) error = duplicate('Content-Type');
        seenContentType = true;
        if (error === undefined) {
          const code = checkOpaqueValue(value, maxToken);
          if (code !== undefined) error = sipError(code, 'malformed Content-Type');
        }
        break;
      case 'expires':
        if (seenExpires) error = duplicate('Expires');
        // Expires = delta-seconds = 1*DIGIT; the range is a validation rule.
        else if (parseDigits(value, 10) === -1) error = sipError('SW_ERR_BAD_EXPIRES', 'malformed Expires');
        seenExpires = true;
        break;
      default: {
        // A clean section (scanHead) holds no control character in any unfolded value; else
        // the value's bytes are read here, and one that holds any gets checkOpaqueValue's
        // full rule (quoted-pairs).
        if (
          !folded &&
          value.length <= maxToken &&
          (clean || noControlBytes(data, vsOf + start, vsOf + start + value.length))
        )
          break;
        const code = checkOpaqueValue(value, maxToken);
        if (code !== undefined)
          error =
            code === 'SW_ERR_TOKEN_TOO_LONG'
              ? sipError(code, 'header value token too long', 'maxTokenBytes')
              : sipError(code, 'control character in header value');
      }
    }
  }

  if (error !== undefined) return fail(error, partialOf(sl, headers));
  if (noEnd)
    return fail(
      sipError('SW_ERR_NO_HEADER_END', 'message ends before the empty line'),
      partialOf(sl, headers),
    );
  if (via.length === 0) return fail(missing('Via'), partialOf(sl, headers));
  if (from === undefined) return fail(missing('From'), partialOf(sl, headers));
  if (to === undefined) return fail(missing('To'), partialOf(sl, headers));
  if (callId === undefined) return fail(missing('Call-ID'), partialOf(sl, headers));
  if (cseq === undefined) return fail(missing('CSeq'), partialOf(sl, headers));

  const bodyStart = start + headLen + 4;
  const available = total - bodyStart;
  let bodyLength: number;
  if (contentLength !== undefined) {
    // RFC 3261 18.3: fewer bytes than Content-Length is an error (RFC 4475 3.1.2.2).
    if (contentLength > available)
      return fail(
        sipError('SW_ERR_CONTENT_LENGTH', 'body shorter than Content-Length'),
        partialOf(sl, headers),
      );
    if (contentLength > limits.maxBodyBytes)
      return fail(
        sipError('SW_ERR_BODY_TOO_LARGE', 'body too large', 'maxBodyBytes'),
        partialOf(sl, headers),
      );
    bodyLength = contentLength;
  } else {
    if (limits.requireContentLength) return fail(missing('Content-Length'), partialOf(sl, headers)); // RFC 3261 18.3
    if (available > limits.maxBodyBytes)
      return fail(
        sipError('SW_ERR_BODY_TOO_LARGE', 'body too large', 'maxBodyBytes'),
        partialOf(sl, headers),
      );
    bodyLength = available;
  }
  const body = bodyLength === 0 ? NO_BODY : data.subarray(bodyStart, bodyStart + bodyLength);
  const trailingBytes = available - bodyLength;

  let message: SipMessage;
  if (sl.kind === 'request') {
    const req: SipRequest = {
      kind: 'request',
      method: sl.method,
      uriText: sl.uriText,
      uri: sl.uri!,
      headers,
      body,
      callId,
      cseq,
      from,
      to,
      via,
      maxForwards,
      contentLength,
    };
    message = req;
  } else {
    const res: SipResponse = {
      kind: 'response',
      status: sl.status,
      reason: sl.reason,
      headers,
      body,
      callId,
      cseq,
      from,
      to,
      via,
      maxForwards,
      contentLength,
    };
    message = res;
  }
  return { ok: true, message, trailingBytes };
}

function partialOf(sl: StartLine, headers: readonly HeaderField[]): PartialMessage {
  return sl.kind === 'request'
    ? { kind: 'request', method: sl.method, headers }
    : { kind: 'response', headers };
}

function missing(name: string): SipParseError {
  return sipError('SW_ERR_MISSING_HEADER', `missing ${name} header`); // RFC 3261 8.1.1
}

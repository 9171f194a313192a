/**
 * MSRP frames (RFC 4975 section 9): a strict, bounded parser for a byte stream and the
 * serializer. A frame is a start line, To-Path and From-Path first, further headers, an
 * optional body after an empty line (requests only), and the end line
 * `-------<transaction-id><flag>` where the flag is `$` (complete), `+` (more chunks
 * follow) or `#` (the message is abandoned).
 *
 * Strict: one SP after each header colon, header names of the grammar, transaction ids of
 * 4 to 32 ident characters, CRLF line ends only, a body only with a Content-Type, and the
 * end line naming the start line's transaction. Bounded: the head and the whole frame
 * have maximum sizes, headers a maximum count; a frame over a bound is an error, which
 * ends the connection (MSRP has no way to resynchronise inside a stream).
 */

export type ContinuationFlag = '$' | '+' | '#';

export interface MsrpHeader {
  /** As written (names compare case-insensitively, RFC 4975 9). */
  readonly name: string;
  readonly value: string;
}

interface FrameCommon {
  readonly transactionId: string;
  /** Every header in order, To-Path and From-Path included. */
  readonly headers: readonly MsrpHeader[];
  readonly toPath: readonly string[];
  readonly fromPath: readonly string[];
  readonly flag: ContinuationFlag;
}

export interface MsrpRequest extends FrameCommon {
  readonly kind: 'request';
  /** SEND, REPORT, or another method (RFC 4975 9: 1*UPALPHA). */
  readonly method: string;
  /** The content (absent for a bodiless request). */
  readonly body?: Buffer;
}

export interface MsrpResponse extends FrameCommon {
  readonly kind: 'response';
  readonly status: number;
  readonly comment?: string;
}

export type MsrpFrame = MsrpRequest | MsrpResponse;

/** Byte-Range: range-start "-" range-end "/" total, `*` for an unknown end or total. */
export interface ByteRange {
  readonly start: number;
  readonly end: number | '*';
  readonly total: number | '*';
}

export interface FrameLimits {
  /** Start line and headers, up to the empty line or the end line. */
  readonly maxHeadBytes: number;
  /** A whole frame, body included. */
  readonly maxFrameBytes: number;
  readonly maxHeaders: number;
}

export const DEFAULT_FRAME_LIMITS: FrameLimits = Object.freeze({
  maxHeadBytes: 8192,
  maxFrameBytes: 1_048_576 + 8192,
  maxHeaders: 32,
});

export class MsrpParseError extends Error {
  override readonly name = 'MsrpParseError';
}

const CRLF = '\r\n';
const IDENT = /^[A-Za-z0-9][A-Za-z0-9.\-+%=]{3,31}$/;
const METHOD = /^[A-Z]+$/;
const HNAME = /^[A-Za-z][A-Za-z0-9!#$%&'*+\-.^_`|~]*$/;
/** utf8text without control characters other than HTAB (RFC 4975 9: hval = utf8text). */
const HVAL = /^[^\x00-\x08\x0a-\x1f\x7f]*$/;
const STATUS_LINE = /^MSRP ([^ ]+) ([0-9]{3})(?: ([^\x00-\x08\x0a-\x1f\x7f]*))?$/;
const REQUEST_LINE = /^MSRP ([^ ]+) ([^ ]+)$/;

/** The value of the first header with this name (case-insensitive). */
export function headerValue(
  frame: { readonly headers: readonly MsrpHeader[] },
  name: string,
): string | undefined {
  const lower = name.toLowerCase();
  for (const h of frame.headers) if (h.name.toLowerCase() === lower) return h.value;
  return undefined;
}

/** Parses a Byte-Range value; undefined when it is not of the grammar or not ordered. */
export function parseByteRange(value: string): ByteRange | undefined {
  const m = /^([0-9]{1,15})-([0-9]{1,15}|\*)\/([0-9]{1,15}|\*)$/.exec(value);
  if (!m) return undefined;
  const start = Number(m[1]);
  const end = m[2] === '*' ? '*' : Number(m[2]);
  const total = m[3] === '*' ? '*' : Number(m[3]);
  if (start < 1) return undefined;
  if (end !== '*' && end < start - 1) return undefined;
  if (total !== '*' && end !== '*' && end > total) return undefined;
  return { start, end, total };
}

export function formatByteRange(r: ByteRange): string {
  return `${r.start}-${r.end}/${r.total}`;
}

/** A path header: one or more MSRP URIs separated by SP (RFC 4975 9: MSRP-URI *(SP MSRP-URI)). */
function parsePath(value: string, name: string): string[] {
  const uris = value.split(' ');
  if (uris.length > 8) throw new MsrpParseError(`${name} too long`);
  for (const uri of uris) {
    if (!/^msrps?:\/\/[^\s]+$/i.test(uri)) throw new MsrpParseError(`${name} is not a list of MSRP URIs`);
  }
  return uris;
}

/**
 * Parses one frame from the start of `data`: the frame and the bytes it took, `undefined`
 * when more bytes are needed, or throws MsrpParseError when the bytes cannot become a frame.
 */
export function parseFrame(
  data: Buffer,
  limits: FrameLimits = DEFAULT_FRAME_LIMITS,
): { frame: MsrpFrame; length: number } | undefined {
  // The head ends at an empty line (a body follows) or at the end line (no body).
  const headLimit = Math.min(data.length, limits.maxHeadBytes);
  const firstLineEnd = data.indexOf(CRLF, 0, 'latin1');
  if (firstLineEnd < 0 || firstLineEnd > headLimit) {
    if (data.length >= limits.maxHeadBytes) throw new MsrpParseError('start line too long');
    return undefined;
  }
  const startLine = data.toString('utf8', 0, firstLineEnd);
  const request = REQUEST_LINE.exec(startLine);
  const response = STATUS_LINE.exec(startLine);
  const transactionId = response ? response[1]! : request ? request[1]! : undefined;
  if (transactionId === undefined || !startLine.startsWith('MSRP '))
    throw new MsrpParseError('not an MSRP start line');
  if (!IDENT.test(transactionId)) throw new MsrpParseError('bad transaction id');
  if (!response && !METHOD.test(request![2]!)) throw new MsrpParseError('bad method');
  const endLine = Buffer.from(`-------${transactionId}`, 'latin1');

  // Headers, line by line, until an empty line or the end line.
  const headers: MsrpHeader[] = [];
  let p = firstLineEnd + 2;
  let bodyStart = -1;
  for (;;) {
    const lineEnd = data.indexOf(CRLF, p, 'latin1');
    if (lineEnd < 0 || lineEnd > limits.maxHeadBytes) {
      if (data.length >= limits.maxHeadBytes) throw new MsrpParseError('head too long');
      return undefined;
    }
    if (lineEnd === p) {
      bodyStart = lineEnd + 2;
      break;
    }
    if (data.compare(endLine, 0, endLine.length, p, p + endLine.length) === 0) break;
    const line = data.toString('utf8', p, lineEnd);
    const colon = line.indexOf(': ');
    if (colon <= 0) throw new MsrpParseError('malformed header line');
    const name = line.slice(0, colon);
    const value = line.slice(colon + 2);
    if (!HNAME.test(name) || !HVAL.test(value)) throw new MsrpParseError('malformed header line');
    if (headers.length >= limits.maxHeaders) throw new MsrpParseError('too many headers');
    headers.push({ name, value });
    p = lineEnd + 2;
  }
  if (
    headers.length < 2 ||
    headers[0]!.name.toLowerCase() !== 'to-path' ||
    headers[1]!.name.toLowerCase() !== 'from-path'
  )
    throw new MsrpParseError('To-Path and From-Path must come first');

  let body: Buffer | undefined;
  let endAt: number;
  if (bodyStart >= 0) {
    if (response) throw new MsrpParseError('a response carries no body');
    if (headerValue({ headers }, 'content-type') === undefined)
      throw new MsrpParseError('a body without Content-Type');
    // data CRLF end-line: the body ends before CRLF "-------" transact-id flag CRLF.
    const marker = Buffer.concat([Buffer.from(CRLF, 'latin1'), endLine]);
    const found = data.indexOf(marker, bodyStart - 2);
    if (found < 0) {
      if (data.length >= limits.maxFrameBytes) throw new MsrpParseError('frame too large');
      return undefined;
    }
    // An empty body: the empty line's CRLF is the one before the end line.
    body = found < bodyStart ? Buffer.alloc(0) : data.subarray(bodyStart, found);
    endAt = found + 2;
  } else {
    endAt = p;
  }
  // end-line = "-------" transact-id continuation-flag CRLF
  const flagAt = endAt + endLine.length;
  if (data.length < flagAt + 3) {
    if (flagAt + 3 > limits.maxFrameBytes) throw new MsrpParseError('frame too large');
    return undefined;
  }
  const flag = String.fromCharCode(data[flagAt]!) as ContinuationFlag;
  if (flag !== '$' && flag !== '+' && flag !== '#') throw new MsrpParseError('bad continuation flag');
  if (data[flagAt + 1] !== 0x0d || data[flagAt + 2] !== 0x0a) throw new MsrpParseError('bad end line');
  if (flagAt + 3 > limits.maxFrameBytes) throw new MsrpParseError('frame too large');

  const toPath = parsePath(headers[0]!.value, 'To-Path');
  const fromPath = parsePath(headers[1]!.value, 'From-Path');
  const common = { transactionId, headers, toPath, fromPath, flag };
  const frame: MsrpFrame = response
    ? {
        kind: 'response',
        ...common,
        status: Number(response[2]),
        ...(response[3] === undefined ? {} : { comment: response[3] }),
      }
    : {
        kind: 'request',
        ...common,
        method: request![2]!,
        ...(body === undefined ? {} : { body: Buffer.from(body) }),
      };
  return { frame, length: flagAt + 3 };
}

/** Writes a frame; To-Path and From-Path go first, from the frame's headers. */
export function serializeFrame(frame: MsrpFrame): Buffer {
  const start =
    frame.kind === 'request'
      ? `MSRP ${frame.transactionId} ${frame.method}`
      : `MSRP ${frame.transactionId} ${frame.status}${frame.comment === undefined ? '' : ` ${frame.comment}`}`;
  let head = start + CRLF;
  for (const h of frame.headers) head += `${h.name}: ${h.value}${CRLF}`;
  const end = `-------${frame.transactionId}${frame.flag}${CRLF}`;
  if (frame.kind === 'request' && frame.body !== undefined) {
    return Buffer.concat([Buffer.from(head + CRLF, 'utf8'), frame.body, Buffer.from(CRLF + end, 'latin1')]);
  }
  return Buffer.from(head + end, 'utf8');
}

/**
 * Splits a byte stream into frames, holding at most one incomplete frame (bounded by the
 * limits). Each push returns the frames completed; an error is thrown as MsrpParseError.
 */
export class FrameReader {
  #limits: FrameLimits;
  #pending: Buffer = Buffer.alloc(0);

  constructor(limits: FrameLimits = DEFAULT_FRAME_LIMITS) {
    this.#limits = limits;
  }

  /** New bounds from the next push on (a reader trusts a connection more once it proved itself). */
  set limits(limits: FrameLimits) {
    this.#limits = limits;
  }

  push(data: Buffer): MsrpFrame[] {
    this.#pending = this.#pending.length === 0 ? data : Buffer.concat([this.#pending, data]);
    const frames: MsrpFrame[] = [];
    for (;;) {
      if (this.#pending.length === 0) break;
      const parsed = parseFrame(this.#pending, this.#limits);
      if (parsed === undefined) break;
      frames.push(parsed.frame);
      this.#pending = this.#pending.subarray(parsed.length);
    }
    if (this.#pending.length > this.#limits.maxFrameBytes) throw new MsrpParseError('frame too large');
    return frames;
  }

  get buffered(): number {
    return this.#pending.length;
  }
}

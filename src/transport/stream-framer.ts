/**
 * Cuts a TCP/TLS byte stream into SIP messages by Content-Length (RFC 3261 section 18.3).
 *
 * Chunks are kept as a list of views and joined once, when a whole message is known, so a
 * message split into many reads is copied once. Every path is bounded by the two limits:
 * bytes before the end of the headers, and header plus body bytes.
 */

export interface FramerLimits {
  /** Bytes from a message's first byte to the end of its CRLFCRLF. */
  readonly maxHeaderBytes: number;
  /** Header plus body bytes of one message. */
  readonly maxMessageBytes: number;
}

export type FramingErrorCode =
  | 'SW_ERR_HEADERS_TOO_LARGE'
  | 'SW_ERR_MESSAGE_TOO_LARGE'
  | 'SW_ERR_BAD_CONTENT_LENGTH';

export interface FramingError {
  readonly code: FramingErrorCode;
  readonly detail: string;
  /**
   * The message's bytes read when framing failed, at most maxHeaderBytes: its whole header
   * block when the Content-Length was the problem, the start of it when the headers did not
   * end in time. Enough to answer the request (513 or 400) before the connection closes.
   */
  readonly head?: Buffer;
}

export interface FramerSink {
  /** One complete message: headers and exactly Content-Length body bytes. */
  message(data: Buffer): void;
  /** A CRLFCRLF keep-alive ping between messages (RFC 5626 section 3.5.1): answer with CRLF. */
  ping(): void;
  /** The stream cannot be framed any further; the framer ignores all later input. */
  error(error: FramingError): void;
}

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HT = 0x09;
const COLON = 0x3a;
const HYPHEN = 0x2d;
const CRLF = Buffer.from('\r\n', 'latin1');
const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
const EMPTY = Buffer.alloc(0);
const CONTENT_LENGTH = Buffer.from('content-length', 'latin1');
/** RFC 3261 section 7.3.3: the compact form of Content-Length. */
const COMPACT_CONTENT_LENGTH = Buffer.from('l', 'latin1');
/** More digits than any limit this layer accepts: stops the scan early. */
const MAX_LENGTH_DIGITS = 10;

export class StreamFramer {
  readonly #limits: FramerLimits;
  readonly #sink: FramerSink;
  /** Views of the current message's bytes received so far. */
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** Bytes of "\r\n\r\n" matched at the end of the scanned bytes (0 to 3). */
  #match = 0;
  /** Length of the header block including CRLFCRLF, -1 until found. */
  #headerLength = -1;
  /** Header plus body length, known once the headers are complete. */
  #messageLength = -1;
  /** Line feeds seen since the last message: two make a keep-alive ping. */
  #lineFeeds = 0;
  #stopped = false;

  constructor(limits: FramerLimits, sink: FramerSink) {
    this.#limits = limits;
    this.#sink = sink;
  }

  /** True while bytes of an unfinished message are held (the header timeout runs then). */
  get partial(): boolean {
    return this.#buffered > 0;
  }

  /** Bytes held for the unfinished message. */
  get buffered(): number {
    return this.#buffered;
  }

  /** Feeds the next chunk read from the stream. Never throws on any input. */
  push(chunk: Buffer): void {
    let data = chunk;
    while (data.length > 0 && !this.#stopped) data = this.#step(data);
  }

  /** Drops held bytes and ignores later input (the connection is closing). */
  stop(): void {
    this.#stopped = true;
    this.#chunks = [];
    this.#buffered = 0;
  }

  /** Consumes a prefix of `data` and returns the rest. */
  #step(input: Buffer): Buffer {
    let data = input;
    if (this.#buffered === 0) {
      // RFC 3261 section 7.5: CRLFs before a start-line are ignored; a double CRLF is a
      // keep-alive ping that wants a single CRLF back (RFC 5626 section 3.5.1).
      let i = 0;
      while (i < data.length) {
        const byte = data[i]!;
        if (byte === LF) {
          if (++this.#lineFeeds === 2) {
            this.#lineFeeds = 0;
            this.#sink.ping();
            if (this.#stopped) return EMPTY;
          }
        } else if (byte !== CR) break;
        i++;
      }
      if (i === data.length) return EMPTY;
      this.#lineFeeds = 0;
      data = data.subarray(i);
    }
    if (this.#headerLength < 0) {
      const end = this.#scanForHeaderEnd(data);
      if (end < 0) {
        if (this.#buffered + data.length > this.#limits.maxHeaderBytes) {
          const held = Buffer.concat([...this.#chunks, data], this.#buffered + data.length);
          return this.#fail(
            'SW_ERR_HEADERS_TOO_LARGE',
            `no end of headers within ${this.#limits.maxHeaderBytes} bytes`,
            held.subarray(0, this.#limits.maxHeaderBytes),
          );
        }
        this.#chunks.push(data);
        this.#buffered += data.length;
        return EMPTY;
      }
      const headerLength = this.#buffered + end;
      if (headerLength > this.#limits.maxHeaderBytes) {
        const held = Buffer.concat([...this.#chunks, data.subarray(0, end)], headerLength);
        return this.#fail(
          'SW_ERR_HEADERS_TOO_LARGE',
          `headers of ${headerLength} bytes, over ${this.#limits.maxHeaderBytes} bytes`,
          held.subarray(0, this.#limits.maxHeaderBytes),
        );
      }
      this.#chunks.push(data.subarray(0, end));
      this.#buffered = headerLength;
      const header = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, headerLength);
      this.#chunks = [header];
      const contentLength = readContentLength(header, this.#limits.maxMessageBytes);
      if (typeof contentLength !== 'number')
        return this.#fail(contentLength.code, contentLength.detail, header);
      // RFC 3261 section 18.3: on a stream the body is exactly Content-Length bytes.
      const messageLength = headerLength + contentLength;
      if (messageLength > this.#limits.maxMessageBytes) {
        return this.#fail(
          'SW_ERR_MESSAGE_TOO_LARGE',
          `message of ${messageLength} bytes, over ${this.#limits.maxMessageBytes} bytes`,
          header,
        );
      }
      this.#headerLength = headerLength;
      this.#messageLength = messageLength;
      data = data.subarray(end);
    }
    const need = this.#messageLength - this.#buffered;
    if (data.length < need) {
      this.#chunks.push(data);
      this.#buffered += data.length;
      return EMPTY;
    }
    if (need > 0) this.#chunks.push(data.subarray(0, need));
    const message =
      this.#chunks.length === 1
        ? ownedView(this.#chunks[0]!)
        : Buffer.concat(this.#chunks, this.#messageLength);
    this.#chunks = [];
    this.#buffered = 0;
    this.#match = 0;
    this.#headerLength = -1;
    this.#messageLength = -1;
    this.#sink.message(message);
    return data.subarray(need);
  }

  /**
   * Finds the end of CRLFCRLF in `data`, continuing a match begun in earlier chunks.
   * Returns the index just past it, or -1 (and remembers how much of it the tail matches).
   */
  #scanForHeaderEnd(data: Buffer): number {
    let i = 0;
    let match = this.#match;
    while (match > 0 && i < data.length) {
      match = nextMatch(match, data[i]!);
      i++;
      if (match === 4) {
        this.#match = 0;
        return i;
      }
    }
    if (match === 0) {
      const found = data.indexOf(CRLFCRLF, i);
      if (found >= 0) {
        this.#match = 0;
        return found + 4;
      }
      // Nothing matched from i on, so only the last three bytes decide the carried state.
      for (let j = Math.max(i, data.length - 3); j < data.length; j++) match = nextMatch(match, data[j]!);
    }
    this.#match = match;
    return -1;
  }

  #fail(code: FramingErrorCode, detail: string, head: Buffer): Buffer {
    this.stop();
    this.#sink.error({ code, detail, head });
    return EMPTY;
  }
}

/** One step of matching "\r\n\r\n": the state is how many of its bytes end the input so far. */
function nextMatch(state: number, byte: number): number {
  if (byte === CR) return state === 2 ? 3 : 1;
  if (byte === LF) return state === 1 ? 2 : state === 3 ? 4 : 0;
  return 0;
}

/**
 * A view pins the whole read buffer it points into; copy a message that is a small part of
 * it so that a consumer keeping the message does not keep its neighbours alive.
 */
function ownedView(view: Buffer): Buffer {
  return view.length * 2 >= view.buffer.byteLength ? view : Buffer.from(view);
}

/**
 * Reads Content-Length (or its compact form `l`) from a header block that ends in CRLFCRLF.
 * Absent means 0 on a stream. Two headers that disagree are an error: framing must not be
 * ambiguous, or two parties could cut the same bytes differently.
 */
export function readContentLength(header: Buffer, maxMessageBytes: number): number | FramingError {
  const end = header.length - 2; // the CRLF of the empty line
  let lineStart = header.indexOf(CRLF);
  if (lineStart < 0) return 0;
  lineStart += 2; // skip the start-line
  let found = -1;
  while (lineStart < end) {
    let lineEnd = header.indexOf(CRLF, lineStart);
    if (lineEnd < 0) lineEnd = end;
    const valueStart = contentLengthValueStart(header, lineStart, lineEnd);
    if (valueStart >= 0) {
      // RFC 3261 section 7.3.1: a value may continue on lines that start with whitespace.
      while (lineEnd < end && (header[lineEnd + 2] === SP || header[lineEnd + 2] === HT)) {
        const next = header.indexOf(CRLF, lineEnd + 2);
        lineEnd = next < 0 ? end : next;
      }
      const value = parseDecimal(header, valueStart, lineEnd, maxMessageBytes);
      if (typeof value !== 'number') return value;
      if (found >= 0 && found !== value) {
        return { code: 'SW_ERR_BAD_CONTENT_LENGTH', detail: 'two Content-Length headers disagree' };
      }
      found = value;
    }
    lineStart = lineEnd + 2;
  }
  return Math.max(found, 0);
}

/** If the line names Content-Length, the index after its colon; otherwise -1. */
function contentLengthValueStart(header: Buffer, start: number, end: number): number {
  const first = header[start]! | 0x20;
  const name = first === 0x63 ? CONTENT_LENGTH : first === 0x6c ? COMPACT_CONTENT_LENGTH : undefined;
  if (name === undefined || end - start <= name.length) return -1;
  for (let k = 1; k < name.length; k++) {
    const expected = name[k]!;
    const byte = header[start + k]!;
    // Letters compare case-insensitively (RFC 3261 section 7.3.1); the hyphen exactly.
    if (expected === HYPHEN ? byte !== HYPHEN : (byte | 0x20) !== expected) return -1;
  }
  let i = start + name.length;
  while (i < end && (header[i] === SP || header[i] === HT)) i++;
  return i < end && header[i] === COLON ? i + 1 : -1;
}

/** A single decimal with surrounding whitespace (folded lines included), or an error. */
function parseDecimal(header: Buffer, start: number, end: number, max: number): number | FramingError {
  let i = start;
  while (i < end && isWhitespace(header[i]!)) i++;
  let value = 0;
  let digits = 0;
  while (i < end) {
    const byte = header[i]!;
    if (byte < 0x30 || byte > 0x39) break;
    value = value * 10 + (byte - 0x30);
    if (++digits > MAX_LENGTH_DIGITS || value > max) {
      return { code: 'SW_ERR_MESSAGE_TOO_LARGE', detail: `Content-Length over ${max} bytes` };
    }
    i++;
  }
  while (i < end && isWhitespace(header[i]!)) i++;
  if (digits === 0 || i !== end) {
    return { code: 'SW_ERR_BAD_CONTENT_LENGTH', detail: 'Content-Length is not a single decimal' };
  }
  return value;
}

function isWhitespace(byte: number): boolean {
  return byte === SP || byte === HT || byte === CR || byte === LF;
}

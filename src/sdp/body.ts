/**
 * Finding the session descriptions in a SIP message body: the body itself when its
 * Content-Type is application/sdp, or the application/sdp parts of a multipart body
 * (RFC 5621, RFC 2046 5.1). Bounded: a few parts, one level of nesting, and the parts are
 * views into the body, never copies.
 */
import { type SdpError, sdpError } from './errors.ts';

/** media-type = m-type SLASH m-subtype *(SEMI m-parameter) (RFC 3261 20.15), names lower-cased. */
export interface MediaType {
  readonly type: string;
  readonly subtype: string;
  /** Parameter names lower-cased; values unquoted. */
  readonly params: ReadonlyMap<string, string>;
}

export interface BodyLimits {
  /** Largest number of parts across a multipart body, nested parts included. */
  readonly maxParts: number;
  /** Largest multipart nesting: 1 allows a multipart body, 2 a multipart part inside it. */
  readonly maxDepth: number;
}

export const DEFAULT_BODY_LIMITS: BodyLimits = Object.freeze({ maxParts: 16, maxDepth: 2 });

export type SdpBodyResult =
  | { readonly ok: true; readonly sdp: readonly Buffer[] }
  | { readonly ok: false; readonly error: SdpError };

/** RFC 3261 25.1 token characters. */
function isTokenChar(c: number): boolean {
  return (
    (c >= 0x30 && c <= 0x39) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x61 && c <= 0x7a) ||
    c === 0x2d || // -
    c === 0x2e || // .
    c === 0x21 || // !
    c === 0x25 || // %
    c === 0x2a || // *
    c === 0x5f || // _
    c === 0x2b || // +
    c === 0x60 || // `
    c === 0x27 || // '
    c === 0x7e // ~
  );
}

function scanToken(s: string, i: number): number {
  while (i < s.length && isTokenChar(s.charCodeAt(i))) i++;
  return i;
}

function skipWs(s: string, i: number): number {
  while (s.charCodeAt(i) === 0x20 || s.charCodeAt(i) === 0x09) i++;
  return i;
}

/** Parses a Content-Type value; undefined when it is not a media-type. At most 16 parameters. */
export function parseMediaType(value: string): MediaType | undefined {
  let p = skipWs(value, 0);
  const typeEnd = scanToken(value, p);
  if (typeEnd === p) return undefined;
  const type = value.slice(p, typeEnd).toLowerCase();
  p = skipWs(value, typeEnd);
  if (value.charCodeAt(p) !== 0x2f) return undefined;
  p = skipWs(value, p + 1);
  const subEnd = scanToken(value, p);
  if (subEnd === p) return undefined;
  const subtype = value.slice(p, subEnd).toLowerCase();
  p = skipWs(value, subEnd);
  const params = new Map<string, string>();
  while (value.charCodeAt(p) === 0x3b) {
    if (params.size >= 16) return undefined;
    p = skipWs(value, p + 1);
    const nameEnd = scanToken(value, p);
    if (nameEnd === p) return undefined;
    const name = value.slice(p, nameEnd).toLowerCase();
    p = skipWs(value, nameEnd);
    if (value.charCodeAt(p) !== 0x3d) return undefined;
    p = skipWs(value, p + 1);
    let v: string;
    if (value.charCodeAt(p) === 0x22) {
      // quoted-string with quoted-pairs
      let out = '';
      let k = p + 1;
      for (;;) {
        if (k >= value.length) return undefined;
        const c = value.charCodeAt(k);
        if (c === 0x22) break;
        if (c === 0x5c) {
          if (k + 1 >= value.length) return undefined;
          out += value[k + 1]!;
          k += 2;
          continue;
        }
        if (c < 0x20 && c !== 0x09) return undefined;
        out += value[k]!;
        k++;
      }
      v = out;
      p = skipWs(value, k + 1);
    } else {
      const valueEnd = scanToken(value, p);
      if (valueEnd === p) return undefined;
      v = value.slice(p, valueEnd);
      p = skipWs(value, valueEnd);
    }
    if (params.has(name)) return undefined;
    params.set(name, v);
  }
  return p === value.length ? { type, subtype, params } : undefined;
}

export function isSdpType(t: MediaType): boolean {
  return t.type === 'application' && t.subtype === 'sdp';
}

/**
 * The session descriptions a body carries: none, the body itself, or the application/sdp
 * parts of a multipart body. `contentType` is the message's parsed Content-Type.
 */
export function findSdpBodies(
  contentType: MediaType,
  body: Buffer,
  limits: BodyLimits = DEFAULT_BODY_LIMITS,
): SdpBodyResult {
  const found: Buffer[] = [];
  const state = { parts: 0 };
  const error = collect(contentType, body, 1, limits, state, found);
  return error === undefined ? { ok: true, sdp: found } : { ok: false, error };
}

function collect(
  contentType: MediaType,
  body: Buffer,
  depth: number,
  limits: BodyLimits,
  state: { parts: number },
  found: Buffer[],
): SdpError | undefined {
  if (isSdpType(contentType)) {
    if (body.length > 0) found.push(body);
    return undefined;
  }
  if (contentType.type !== 'multipart' || body.length === 0) return undefined;
  if (depth > limits.maxDepth) return sdpError('SW_ERR_SDP_BAD_MULTIPART', 'multipart nested too deeply');
  const boundary = contentType.params.get('boundary');
  // RFC 2046 5.1.1: boundary := 0*69<bchars> bcharsnospace
  if (boundary === undefined || boundary.length < 1 || boundary.length > 70 || boundary.endsWith(' '))
    return sdpError('SW_ERR_SDP_BAD_MULTIPART', 'multipart body without a valid boundary');
  const dash = Buffer.from('--' + boundary, 'latin1');
  // The first delimiter starts the body or a line (RFC 2046 5.1.1: a preamble may precede it).
  let at = body.indexOf(dash);
  while (at > 0 && body[at - 1] !== 0x0a) at = body.indexOf(dash, at + 1);
  if (at < 0) return sdpError('SW_ERR_SDP_BAD_MULTIPART', 'multipart body without its boundary');
  for (;;) {
    let p = at + dash.length;
    // close-delimiter := delimiter "--"
    if (body[p] === 0x2d && body[p + 1] === 0x2d) return undefined;
    while (body[p] === 0x20 || body[p] === 0x09) p++; // transport-padding
    if (body[p] === 0x0d) p++;
    if (body[p] !== 0x0a) return sdpError('SW_ERR_SDP_BAD_MULTIPART', 'malformed multipart boundary line');
    const partStart = p + 1;
    // delimiter := CRLF dash-boundary (a bare LF is tolerated)
    let next = body.indexOf(dash, partStart);
    while (next >= 0 && body[next - 1] !== 0x0a) next = body.indexOf(dash, next + 1);
    if (next < 0) return sdpError('SW_ERR_SDP_BAD_MULTIPART', 'multipart body without a closing boundary');
    if (++state.parts > limits.maxParts)
      return sdpError('SW_ERR_SDP_BAD_MULTIPART', 'too many multipart parts');
    const partEnd = next - (body[next - 2] === 0x0d ? 2 : 1);
    const error = part(body.subarray(partStart, Math.max(partStart, partEnd)), depth, limits, state, found);
    if (error !== undefined) return error;
    at = next;
  }
}

/** One body part: MIME headers, an empty line, the content (RFC 2046 5.1.1). */
function part(
  data: Buffer,
  depth: number,
  limits: BodyLimits,
  state: { parts: number },
  found: Buffer[],
): SdpError | undefined {
  let headEnd: number;
  let contentStart: number;
  if (data[0] === 0x0d && data[1] === 0x0a) {
    headEnd = 0;
    contentStart = 2;
  } else if (data[0] === 0x0a) {
    headEnd = 0;
    contentStart = 1;
  } else {
    headEnd = data.indexOf('\r\n\r\n');
    contentStart = headEnd + 4;
    if (headEnd < 0) {
      headEnd = data.indexOf('\n\n');
      contentStart = headEnd + 2;
    }
    if (headEnd < 0) return sdpError('SW_ERR_SDP_BAD_MULTIPART', 'multipart part without an empty line');
  }
  // RFC 2046 5.1: a part without Content-Type is text/plain.
  let type: MediaType | undefined = { type: 'text', subtype: 'plain', params: new Map() };
  let transferEncoding = '';
  const head = data.toString('latin1', 0, headEnd).replace(/\r?\n[ \t]+/g, ' ');
  for (const line of head.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'content-type') {
      type = parseMediaType(value);
      if (type === undefined)
        return sdpError('SW_ERR_SDP_BAD_MULTIPART', 'bad Content-Type in a multipart part');
    } else if (name === 'content-transfer-encoding') {
      transferEncoding = value.toLowerCase();
    }
  }
  const content = data.subarray(contentStart);
  if (isSdpType(type) && transferEncoding !== '' && !['7bit', '8bit', 'binary'].includes(transferEncoding))
    return sdpError('SW_ERR_SDP_UNSUPPORTED_ENCODING', 'encoded SDP part');
  return collect(type, content, depth + 1, limits, state, found);
}

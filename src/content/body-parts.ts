/**
 * What to scan in a SIP body: each leaf of its MIME structure, decoded as the receiver will
 * see it. A multipart body (RFC 2046 5.1) is split into its parts, nested multiparts and
 * message/cpim wrappers (RFC 3862, instant messages) are opened, and each leaf's
 * Content-Transfer-Encoding (RFC 2045 6) is undone: base64 (decoded in blocks, not whole) and
 * quoted-printable. Bounded in parts and depth; a body that cannot be taken apart is refused by
 * the caller rather than passed unscanned.
 */
import { type MediaType, parseMediaType } from '../sdp/body.ts';

export interface BodyPartLimits {
  /** Largest number of parts across the body, nested ones included. */
  readonly maxParts: number;
  /** Largest nesting of multipart and message/cpim: 1 allows one multipart, not one inside it. */
  readonly maxDepth: number;
}

export interface ContentPart {
  /** `type/subtype` of the part, lower-case (for events). */
  readonly type: string;
  /** The decoded content, whole or in blocks (base64). */
  readonly content: Buffer | AsyncIterable<Buffer>;
  /** Bytes of the part as carried (encoded). */
  readonly encodedBytes: number;
}

export type BodyPartsResult =
  | { readonly ok: true; readonly parts: readonly ContentPart[] }
  | { readonly ok: false; readonly reason: string };

const TEXT_PLAIN: MediaType = { type: 'text', subtype: 'plain', params: new Map() };
/** Base64 text decoded per block: a multiple of 4 once whitespace is gone. */
const BASE64_BLOCK = 64 * 1024;

class Unscannable extends Error {}

/** The leaves found so far, and every part met (leaves and composites). */
interface Found extends Array<ContentPart> {
  counted: number;
}

/**
 * The leaves of a body whose message headers say `contentType` (absent: application/octet-
 * stream, treated as one leaf) and `transferEncoding`.
 */
export function bodyParts(
  contentType: string | undefined,
  transferEncoding: string | undefined,
  body: Buffer,
  limits: BodyPartLimits,
): BodyPartsResult {
  if (body.length === 0) return { ok: true, parts: [] };
  let type: MediaType | undefined = { type: 'application', subtype: 'octet-stream', params: new Map() };
  if (contentType !== undefined) {
    type = parseMediaType(contentType);
    if (type === undefined) return { ok: false, reason: 'bad Content-Type' };
  }
  const parts = Object.assign([] as ContentPart[], { counted: 0 });
  try {
    entity(type, (transferEncoding ?? '').trim().toLowerCase(), body, 0, limits, parts);
  } catch (error) {
    if (error instanceof Unscannable) return { ok: false, reason: error.message };
    throw error;
  }
  return { ok: true, parts };
}

function entity(
  type: MediaType,
  encoding: string,
  data: Buffer,
  depth: number,
  limits: BodyPartLimits,
  parts: Found,
): void {
  const isMultipart = type.type === 'multipart';
  const isCpim = type.type === 'message' && type.subtype === 'cpim';
  if (isMultipart || isCpim) {
    // RFC 2045 6.4: a composite type is never encoded other than 7bit/8bit/binary.
    if (encoding !== '' && !['7bit', '8bit', 'binary'].includes(encoding)) {
      throw new Unscannable(`encoded ${type.type}/${type.subtype}`);
    }
    if (depth + 1 > limits.maxDepth) throw new Unscannable('body nested too deeply');
    if (isCpim) return cpim(data, depth + 1, limits, parts);
    return multipart(type, data, depth + 1, limits, parts);
  }
  parts.push({
    type: `${type.type}/${type.subtype}`,
    content: decode(encoding, data),
    encodedBytes: data.length,
  });
}

function decode(encoding: string, data: Buffer): Buffer | AsyncIterable<Buffer> {
  switch (encoding) {
    case '':
    case '7bit':
    case '8bit':
    case 'binary':
      return data;
    case 'base64':
      return data.length <= BASE64_BLOCK ? decodeBase64(data.toString('latin1')) : base64Blocks(data);
    case 'quoted-printable':
      return decodeQuotedPrintable(data);
    default:
      throw new Unscannable(`unknown Content-Transfer-Encoding "${encoding.slice(0, 40)}"`);
  }
}

function decodeBase64(text: string): Buffer {
  return Buffer.from(text.replace(/[^A-Za-z0-9+/=]/g, ''), 'base64');
}

/** Base64 decoded one block at a time: large content is never held twice. */
async function* base64Blocks(data: Buffer): AsyncIterable<Buffer> {
  let carry = '';
  for (let offset = 0; offset < data.length; offset += BASE64_BLOCK) {
    const text = carry + data.toString('latin1', offset, Math.min(data.length, offset + BASE64_BLOCK));
    const clean = text.replace(/[^A-Za-z0-9+/=]/g, '');
    const whole = clean.length - (clean.length % 4);
    carry = clean.slice(whole);
    if (whole > 0) yield Buffer.from(clean.slice(0, whole), 'base64');
  }
  if (carry.length > 0) yield Buffer.from(carry, 'base64');
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** RFC 2045 6.7: `=XX` is a byte, `=` at a line end a soft line break; anything else as is. */
export function decodeQuotedPrintable(data: Buffer): Buffer {
  const out = Buffer.allocUnsafe(data.length);
  let n = 0;
  for (let i = 0; i < data.length; i++) {
    const c = data[i]!;
    if (c !== 0x3d) {
      out[n++] = c;
      continue;
    }
    // Soft line break: "=" then optional transport padding (spaces, tabs), then CRLF or LF.
    let j = i + 1;
    while (data[j] === 0x20 || data[j] === 0x09) j++;
    if (data[j] === 0x0d && data[j + 1] === 0x0a) {
      i = j + 1;
      continue;
    }
    if (data[j] === 0x0a) {
      i = j;
      continue;
    }
    if (j >= data.length) break;
    const high = hexValue(data[i + 1] ?? -1);
    const low = hexValue(data[i + 2] ?? -1);
    if (high >= 0 && low >= 0) {
      out[n++] = (high << 4) | low;
      i += 2;
    } else {
      out[n++] = c; // not an escape: kept, as lenient decoders do
    }
  }
  return out.subarray(0, n);
}

/** The end of a header block: the index of the empty line and where the content starts. */
function splitHead(data: Buffer): { head: string; content: Buffer } {
  if (data.length === 0) return { head: '', content: data };
  if (data[0] === 0x0d && data[1] === 0x0a) return { head: '', content: data.subarray(2) };
  if (data[0] === 0x0a) return { head: '', content: data.subarray(1) };
  let end = data.indexOf('\r\n\r\n');
  let start = end + 4;
  const lf = data.indexOf('\n\n');
  if (lf >= 0 && (end < 0 || lf < end)) {
    end = lf;
    start = lf + 2;
  }
  if (end < 0) throw new Unscannable('MIME headers without an empty line');
  return { head: data.toString('latin1', 0, end), content: data.subarray(start) };
}

/** A MIME entity's own headers (RFC 2045): its type and transfer encoding. */
function mimeHeaders(head: string): { type: MediaType; encoding: string } {
  let type: MediaType | undefined = TEXT_PLAIN; // RFC 2045 5.2
  let encoding = '';
  const lines = head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/);
  if (lines.length > 64) throw new Unscannable('too many MIME header lines');
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'content-type') {
      type = parseMediaType(value);
      if (type === undefined) throw new Unscannable('bad Content-Type in a body part');
    } else if (name === 'content-transfer-encoding') {
      encoding = value.toLowerCase();
    }
  }
  return { type, encoding };
}

/** RFC 3862 2: CPIM message headers, an empty line, then a MIME entity (its headers and content). */
function cpim(data: Buffer, depth: number, limits: BodyPartLimits, parts: Found): void {
  const inner = splitHead(data).content;
  const { head, content } = splitHead(inner);
  const { type, encoding } = mimeHeaders(head);
  entity(type, encoding, content, depth, limits, parts);
}

/** RFC 2046 5.1.1: parts between `--boundary` lines, ended by `--boundary--`. */
function multipart(type: MediaType, body: Buffer, depth: number, limits: BodyPartLimits, parts: Found): void {
  const boundary = type.params.get('boundary');
  // boundary := 0*69<bchars> bcharsnospace
  if (boundary === undefined || boundary.length < 1 || boundary.length > 70 || boundary.endsWith(' ')) {
    throw new Unscannable('multipart body without a valid boundary');
  }
  const dash = Buffer.from(`--${boundary}`, 'latin1');
  // The first delimiter starts the body or a line (a preamble may precede it).
  let at = body.indexOf(dash);
  while (at > 0 && body[at - 1] !== 0x0a) at = body.indexOf(dash, at + 1);
  if (at < 0) throw new Unscannable('multipart body without its boundary');
  for (;;) {
    let p = at + dash.length;
    // close-delimiter := delimiter "--"
    if (body[p] === 0x2d && body[p + 1] === 0x2d) return;
    while (body[p] === 0x20 || body[p] === 0x09) p++; // transport-padding
    if (body[p] === 0x0d) p++;
    if (body[p] !== 0x0a) throw new Unscannable('malformed multipart boundary line');
    const partStart = p + 1;
    let next = body.indexOf(dash, partStart);
    while (next >= 0 && body[next - 1] !== 0x0a) next = body.indexOf(dash, next + 1);
    if (next < 0) throw new Unscannable('multipart body without a closing boundary');
    // Every part counts, leaf or not: nested empty multiparts cannot make the loop long.
    if (++parts.counted > limits.maxParts) throw new Unscannable('too many body parts');
    const partEnd = next - (body[next - 2] === 0x0d ? 2 : 1);
    const { head, content } = splitHead(body.subarray(partStart, Math.max(partStart, partEnd)));
    const headers = mimeHeaders(head);
    entity(headers.type, headers.encoding, content, depth, limits, parts);
    at = next;
  }
}

/**
 * The serializer: start line, every header field in order (its raw bytes when it has them,
 * else `Canonical-Name: value`), the empty line, the body, built into one Buffer. A parsed,
 * unmodified message comes out byte for byte as it came in.
 */
import { canonicalName } from './header-names.ts';
import { parseDigits } from './headers/scalar.ts';
import type { SipMessage } from './message.ts';

/** The start line without CRLF. SIP-Version is always sent upper-case (RFC 3261 7.1). */
export function startLine(m: SipMessage): string {
  return m.kind === 'request'
    ? m.method + ' ' + m.uriText + ' SIP/2.0'
    : 'SIP/2.0 ' + m.status + ' ' + m.reason;
}

/** The start line and header fields, each line ending in CRLF, plus the empty line. */
export function serializeHead(m: SipMessage): string {
  let out = startLine(m) + '\r\n';
  const headers = m.headers;
  const bodyLength = m.body.length;
  for (let i = 0; i < headers.length; i++) {
    const h = headers[i]!;
    if (h.name === 'content-length' && parseDigits(h.value, 10) !== bodyLength) {
      // The body changed under a Content-Length written for another one.
      out += 'Content-Length: ' + bodyLength + '\r\n';
      continue;
    }
    out += (h.raw ?? canonicalName(h.name) + ': ' + h.value) + '\r\n';
  }
  return out + '\r\n';
}

export function serializeMessage(m: SipMessage): Buffer {
  const head = serializeHead(m);
  const body = m.body;
  const buf = Buffer.allocUnsafe(head.length + body.length);
  buf.write(head, 0, 'latin1');
  if (body.length > 0) body.copy(buf, head.length);
  return buf;
}

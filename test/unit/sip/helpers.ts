/** Test helpers: literal SIP text to bytes, and parse assertions. */
import assert from 'node:assert/strict';
import type { ParserLimits } from '../../../src/sip/limits.ts';
import type { SipMessage, SipRequest, SipResponse } from '../../../src/sip/message.ts';
import { type PartialMessage, parseMessage } from '../../../src/sip/parse.ts';
import { MatchedSipUri } from '../../../src/sip/uri.ts';

export const bytes = (text: string): Buffer => Buffer.from(text, 'latin1');

/** A well-formed INVITE; `extra` header lines are added before Content-Length. */
export function invite(extra = '', body = ''): string {
  return (
    'INVITE sip:bob@biloxi.example.com SIP/2.0\r\n' +
    'Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n' +
    'Max-Forwards: 70\r\n' +
    'To: Bob <sip:bob@biloxi.example.com>\r\n' +
    'From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n' +
    'Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n' +
    'CSeq: 314159 INVITE\r\n' +
    'Contact: <sip:alice@pc33.atlanta.example.com>\r\n' +
    extra +
    `Content-Length: ${Buffer.byteLength(body, 'latin1')}\r\n` +
    '\r\n' +
    body
  );
}

export function parseOk(text: string | Buffer, limits?: ParserLimits): SipMessage {
  const r = parseMessage(typeof text === 'string' ? bytes(text) : text, limits);
  assert.ok(r.ok, r.ok ? '' : `refused: ${r.error.code} ${r.error.reason}`);
  return r.message;
}

export function parseRequest(text: string, limits?: ParserLimits): SipRequest {
  const m = parseOk(text, limits);
  assert.equal(m.kind, 'request');
  return m as SipRequest;
}

export function parseResponse(text: string, limits?: ParserLimits): SipResponse {
  const m = parseOk(text, limits);
  assert.equal(m.kind, 'response');
  return m as SipResponse;
}

/** Asserts the parser refuses `text` with `code` (and `status` when given); returns the partial. */
export function parseFails(
  text: string | Buffer,
  code: string,
  limits?: ParserLimits,
  status?: number,
): PartialMessage | undefined {
  const r = parseMessage(typeof text === 'string' ? bytes(text) : text, limits);
  assert.equal(r.ok, false, 'expected a parse error');
  if (r.ok) return undefined;
  assert.equal(r.error.code, code, r.error.reason);
  if (status !== undefined) assert.equal(r.error.status, status);
  assert.match(r.error.reason, /^[\x20-\x7e]{1,200}$/);
  return r.partial;
}

/**
 * `value` with every MatchedSipUri (a URI whose parts are cut on first read) replaced by its
 * parts, so that deepEqual compares what a reader sees and not the lazy object's one own
 * field. Maps (parameters, URI headers) hold strings only and are kept as they are.
 */
export function plain(value: unknown): unknown {
  if (value instanceof MatchedSipUri) return plain(value.toJSON());
  if (Array.isArray(value)) return value.map(plain);
  if (value === null || typeof value !== 'object' || value instanceof Map || value instanceof Uint8Array)
    return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = plain(v);
  return Object.setPrototypeOf(out, Object.getPrototypeOf(value) as object | null) as unknown;
}

/** CSeq = 1*DIGIT LWS Method (RFC 3261 sections 20.16 and 25.1). */
import { CHAR, skipWs, TOKEN } from '../chars.ts';
import { type SipParseError, sipError } from '../errors.ts';
import type { CSeq } from '../message.ts';
import { scanToken } from './params.ts';

/** RFC 3261 8.1.1.5: the sequence number is a 32-bit unsigned integer. */
export const MAX_CSEQ = 0xffffffff;

export function parseCSeq(value: string, max = 1024): CSeq | SipParseError {
  let p = skipWs(value, 0);
  const start = p;
  let seq = 0;
  while (p < value.length) {
    const c = value.charCodeAt(p);
    if (c < 0x30 || c > 0x39) break;
    seq = seq * 10 + (c - 0x30);
    if (seq > MAX_CSEQ) return sipError('SW_ERR_BAD_CSEQ', 'CSeq number out of range');
    p++;
  }
  if (p === start) return sipError('SW_ERR_BAD_CSEQ', 'CSeq number missing');
  const ws = skipWs(value, p);
  if (ws === p) return sipError('SW_ERR_BAD_CSEQ', 'malformed CSeq');
  const end = scanToken(value, ws);
  if (end === ws || skipWs(value, end) !== value.length)
    return sipError('SW_ERR_BAD_CSEQ', 'malformed CSeq method');
  if (end - ws > max) return sipError('SW_ERR_TOKEN_TOO_LONG', 'CSeq method too long', 'maxTokenBytes');
  return { seq, method: value.slice(ws, end) };
}

export function formatCSeq(c: CSeq): string {
  return c.seq + ' ' + c.method;
}

/**
 * The common spelling `1*DIGIT SP token` of a trimmed CSeq value read from the message bytes
 * (b[at + i] is the byte of value[i]); undefined for anything else, which parseCSeq decides.
 * Same result as parseCSeq.
 */
export function cseqOfBytes(b: Uint8Array, at: number, value: string, max: number): CSeq | undefined {
  const n = value.length;
  let k = 0;
  let seq = 0;
  while (k < n) {
    const c = b[at + k]!;
    if (c < 0x30 || c > 0x39) break;
    seq = seq * 10 + (c - 0x30);
    if (seq > MAX_CSEQ) return undefined;
    k++;
  }
  if (k === 0 || b[at + k] !== 0x20 || k + 1 >= n) return undefined;
  const ms = k + 1;
  for (k = ms; k < n; k++) if ((CHAR[b[at + k]!]! & TOKEN) === 0) return undefined;
  if (n - ms > max) return undefined;
  return { seq, method: value.slice(ms) };
}

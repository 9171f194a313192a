/** CSeq = 1*DIGIT LWS Method (RFC 3261 sections 20.16 and 25.1). */
import { skipWs } from '../chars.ts';
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

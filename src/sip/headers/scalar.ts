/**
 * Single-token headers: Call-ID (RFC 3261 20.8), Max-Forwards (20.22), Content-Length
 * (20.14), Expires (20.19), all `1*DIGIT` except Call-ID = word [ "@" word ].
 */
import { CHAR, WORD } from '../chars.ts';

/**
 * Parses `1*DIGIT` (the whole value, whitespace already trimmed) up to `maxDigits` digits.
 * Returns the number, or -1 when it is not digits, or -2 when it has too many digits.
 */
export function parseDigits(value: string, maxDigits: number): number {
  const n = value.length;
  if (n === 0) return -1;
  let v = 0;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return -1;
    v = v * 10 + (c - 0x30);
  }
  // Leading zeros do not make a value large (`0068` is 68).
  return n > maxDigits && v >= 10 ** maxDigits ? -2 : v;
}

/** parseDigits of the `length` bytes at b[at]: the same result, read from the message bytes. */
export function digitsOfBytes(b: Uint8Array, at: number, length: number, maxDigits: number): number {
  if (length === 0) return -1;
  let v = 0;
  for (let i = at; i < at + length; i++) {
    const c = b[i]!;
    if (c < 0x30 || c > 0x39) return -1;
    v = v * 10 + (c - 0x30);
  }
  return length > maxDigits && v >= 10 ** maxDigits ? -2 : v;
}

/**
 * callid = word [ "@" word ], word = 1*( alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" /
 * "`" / "'" / "~" / "(" / ")" / "<" / ">" / ":" / "\\" / DQUOTE / "/" / "[" / "]" / "?" /
 * "{" / "}" ). One anchored native match; the classes hold no "@", so it is linear.
 */
const CALL_ID = /^[A-Za-z0-9\-.!%*_+`'~()<>:\\"/[\]?{}]+(?:@[A-Za-z0-9\-.!%*_+`'~()<>:\\"/[\]?{}]+)?$/;

export function isCallId(value: string): boolean {
  return CALL_ID.test(value);
}

/** isCallId by the character walk: the reference the expression is tested against. */
export function isCallIdWalk(value: string): boolean {
  const n = value.length;
  if (n === 0) return false;
  let at = -1;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x40) {
      if (at >= 0 || i === 0 || i === n - 1) return false;
      at = i;
    } else if (c > 255 || (CHAR[c]! & WORD) === 0) return false;
  }
  return true;
}

/** delta-seconds = 1*DIGIT (RFC 3261 25.1), at most 2^32-1 (RFC 3261 20.19). */
const MAX_DELTA_SECONDS = 0xffffffff;

/**
 * delta-seconds at the start of the value, up to 2^32-1, followed by nothing, parameters, a
 * space or a comment: Min-Expires, Retry-After (RFC 3261 20.23, 20.33), Session-Expires and
 * Min-SE (RFC 4028 4, 5).
 */
export function isLeadingDeltaSeconds(value: string): boolean {
  let end = 0;
  while (end < value.length && value.charCodeAt(end) >= 0x30 && value.charCodeAt(end) <= 0x39) end++;
  if (end === 0) return false;
  const rest = value.charCodeAt(end);
  if (end < value.length && rest !== 0x3b && rest !== 0x20 && rest !== 0x09 && rest !== 0x28) return false;
  const n = parseDigits(value.slice(0, end), 10);
  return n >= 0 && n <= MAX_DELTA_SECONDS;
}

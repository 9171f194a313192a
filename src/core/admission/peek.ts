/**
 * What a datagram is, read from its raw bytes before any parsing, for shedding under
 * overload at the cost of a byte comparison and one bounded search: a response, a request
 * that belongs to something already under way (a To tag, RFC 3261 12.2; ACK and CANCEL,
 * which follow an INVITE), or a new out-of-dialog request. Only a priority hint: the full
 * parse and the dialog check still judge whatever is admitted, so a forged To tag buys a
 * message no more than the next class of shedding.
 */
export type PeekedKind = 'response' | 'ongoing' | 'new';

const SIP_SLASH = Buffer.from('SIP/', 'latin1');
/** The To header (long or compact form, RFC 3261 7.3.3) with a tag parameter, on one line. */
const TO_TAG = /\n(?:to|t)[ \t]*:[^\r\n]*;[ \t]*tag[ \t]*=/i;
/** Headers searched at most: a To header further in than this is judged new. */
const MAX_PEEK_BYTES = 4096;

export function peekKind(data: Buffer): PeekedKind {
  if (data.length >= 4 && data.compare(SIP_SLASH, 0, 4, 0, 4) === 0) return 'response';
  // ACK or CANCEL: the method is the first token.
  const c0 = data[0];
  if (c0 === 0x41 && data[1] === 0x43 && data[2] === 0x4b && data[3] === 0x20) return 'ongoing';
  if (c0 === 0x43 && data.toString('latin1', 0, 7) === 'CANCEL ') return 'ongoing';
  let end = data.indexOf('\r\n\r\n');
  if (end < 0 || end > MAX_PEEK_BYTES) end = Math.min(data.length, MAX_PEEK_BYTES);
  return TO_TAG.test(data.toString('latin1', 0, end)) ? 'ongoing' : 'new';
}

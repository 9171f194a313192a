/**
 * The number a request dials, as policy destination rules see it: the Request-URI's user
 * part (a `sip:`/`sips:` URI) or number (a `tel:` URI, RFC 3966), in one spelling whatever
 * way the phone wrote it, so that a rule on `+44` cannot be passed by dialling `0044` or
 * `+4%34`:
 *
 * - percent-escapes are decoded (RFC 3261 19.1.2), visual separators `-.()` (RFC 3966
 *   5.1.1) and spaces (`%20`) removed, and the telephone-subscriber's parameters
 *   (`;phone-context=...`) cut;
 * - a number written with `+`, or with the international access prefix (`00` unless
 *   configured), is international and is spelt `+` and its digits (`0044207...` -> `+44207...`);
 * - anything else is kept as dialled (`0900123`, `*21#`), lower-cased.
 *
 * It is cut to MAX_DIALLED_LENGTH characters (E.164 numbers have at most 15 digits), which
 * also bounds what a destination regular expression ever reads.
 */
import type { SipRequest } from '../sip/message.ts';
import { isSipUri, isTelUri } from '../sip/uri.ts';

export const MAX_DIALLED_LENGTH = 32;
/** How much of a user part is read at all: a longer one is cut before decoding. */
const MAX_USER_READ = 256;

const HEX = /^[0-9a-fA-F]{2}$/;

/** The Request-URI's dialled number, or '' when the URI has no user part or number. */
export function dialledNumber(request: SipRequest, internationalPrefix: string): string {
  const uri = request.uri;
  let raw = '';
  if (isSipUri(uri)) raw = uri.user ?? '';
  else if (isTelUri(uri)) raw = uri.number;
  return normaliseNumber(raw, internationalPrefix);
}

/** The normalisation above, on a user part or number as written. */
export function normaliseNumber(raw: string, internationalPrefix: string): string {
  let out = '';
  const text = raw.length > MAX_USER_READ ? raw.slice(0, MAX_USER_READ) : raw;
  for (let i = 0; i < text.length; i++) {
    let c = text[i]!;
    if (c === '%') {
      const hex = text.slice(i + 1, i + 3);
      if (HEX.test(hex)) {
        c = String.fromCharCode(Number.parseInt(hex, 16));
        i += 2;
      }
    }
    if (c === ';') break;
    if (c === '-' || c === '.' || c === '(' || c === ')' || c === ' ') continue;
    out += c.toLowerCase();
  }
  if (out.startsWith('+')) out = `+${out.slice(1)}`;
  else if (internationalPrefix.length > 0 && out.startsWith(internationalPrefix)) {
    out = `+${out.slice(internationalPrefix.length)}`;
  }
  return out.length > MAX_DIALLED_LENGTH ? out.slice(0, MAX_DIALLED_LENGTH) : out;
}

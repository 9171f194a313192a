import { nameAddrsOf } from '../../sip/address-headers.ts';
import { setHeader } from '../../sip/edit.ts';
import { isSipParseError } from '../../sip/errors.ts';
import { formatNameAddr } from '../../sip/headers/name-addr.ts';
import type { NameAddr, SipRequest } from '../../sip/message.ts';

/**
 * Caps the lifetime a REGISTER asks for (RFC 3261 10.2.1): a binding longer than the
 * operator's maximum is shortened, not refused, so phones keep registering and a stolen
 * binding does not outlive the maximum. Both the Expires header and each Contact's
 * `expires` parameter are capped.
 */
export function capRegisterExpires(request: SipRequest, maxSeconds: number): SipRequest {
  let result = request;
  const expires = request.headers.find((h) => h.name === 'expires');
  if (expires && Number(expires.value) > maxSeconds) {
    result = setHeader(result, 'Expires', String(maxSeconds));
  }
  const contacts = request.headers.filter((h) => h.name === 'contact');
  let changed = false;
  const rewritten: string[] = [];
  for (const field of contacts) {
    const list = nameAddrsOf(field);
    if (isSipParseError(list) || list === '*') return result;
    for (const contact of list) {
      const value = contact.params.get('expires');
      if (value !== undefined && value !== null && Number(value) > maxSeconds) {
        const params = new Map(contact.params);
        params.set('expires', String(maxSeconds));
        rewritten.push(formatNameAddr({ ...contact, params } as NameAddr));
        changed = true;
      } else {
        rewritten.push(formatNameAddr(contact));
      }
    }
  }
  if (!changed) return result;
  return setHeader(result, 'Contact', rewritten.join(', '));
}

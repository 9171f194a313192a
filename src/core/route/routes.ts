import { nameAddrsOf } from '../../sip/address-headers.ts';
import { isSipParseError } from '../../sip/errors.ts';
import type { SipMessage, SipUri } from '../../sip/message.ts';

/** Every Route value, in order, as written. */
export function routeValues(message: SipMessage): string[] {
  const values: string[] = [];
  for (const header of message.headers) {
    if (header.name === 'route') values.push(header.value);
  }
  return values;
}

/**
 * The URI of the topmost Route value when it is a SIP URI; undefined when there is none or it
 * is unreadable. Read from the Route values parsed once per field (src/sip/address-headers.ts).
 */
export function firstRouteUri(message: SipMessage): SipUri | undefined {
  for (const header of message.headers) {
    if (header.name !== 'route') continue;
    const list = nameAddrsOf(header);
    if (isSipParseError(list) || list === '*' || list.length === 0) return undefined;
    const uri = list[0]!.uri;
    return uri.scheme === 'sip' || uri.scheme === 'sips' ? (uri as SipUri) : undefined;
  }
  return undefined;
}

import { isSipParseError } from '../../sip/errors.ts';
import { parseNameAddrList } from '../../sip/headers/name-addr.ts';
import type { SipMessage, SipUri } from '../../sip/message.ts';

/** Every Route value, in order, as written. */
export function routeValues(message: SipMessage): string[] {
  const values: string[] = [];
  for (const header of message.headers) {
    if (header.name === 'route') values.push(header.value);
  }
  return values;
}

/** The URI of the topmost Route value when it is a SIP URI; undefined when there is none or it is unreadable. */
export function firstRouteUri(message: SipMessage): SipUri | undefined {
  for (const header of message.headers) {
    if (header.name !== 'route') continue;
    const list = parseNameAddrList(header.value);
    if (isSipParseError(list) || list === '*' || list.length === 0) return undefined;
    const uri = list[0]!.uri;
    return uri.scheme === 'sip' || uri.scheme === 'sips' ? (uri as SipUri) : undefined;
  }
  return undefined;
}

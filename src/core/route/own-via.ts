import type { SipRequest, Via } from '../../sip/message.ts';
import { type AdvertisedAddress, formatHostPort, hostForUri } from './local-identity.ts';

/**
 * Our own Via on top of a request we forward (RFC 3261 16.6 item 8), built as a value
 * rather than written and parsed back: we know every part of it, and a forwarded request
 * is the hot path.
 */
export function withOwnVia(message: SipRequest, address: AdvertisedAddress, branch: string): SipRequest {
  const transport = address.transport.toUpperCase();
  const via: Via = {
    transport,
    host: hostForUri(address.host),
    port: address.port,
    params: new Map<string, string | null>([
      ['branch', branch],
      ['rport', null],
    ]),
    branch,
  };
  const value = `SIP/2.0/${transport} ${formatHostPort(address)};branch=${branch};rport`;
  return { ...message, headers: [{ name: 'via', value }, ...message.headers], via: [via, ...message.via] };
}

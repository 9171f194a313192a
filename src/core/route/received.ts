import { prependHeader, removeFirstValue } from '../../sip/edit.ts';
import { formatVia } from '../../sip/headers/via.ts';
import type { SipRequest, Via } from '../../sip/message.ts';
import type { Flow } from '../../transport/types.ts';

/**
 * RFC 3581 section 4 and RFC 3261 18.2.1: the top Via records where the request really came
 * from (`received`, and `rport` when the sender asked for it), so answers find their way back.
 */
export function stampReceived(message: SipRequest, flow: Flow): SipRequest {
  const top = message.via[0]!;
  const wantsRport = top.params.has('rport');
  const hostDiffers = stripBrackets(top.host) !== flow.remoteAddress;
  if (!wantsRport && !hostDiffers) return message;
  const params = new Map(top.params);
  params.set('received', flow.remoteAddress);
  if (wantsRport) params.set('rport', String(flow.remotePort));
  const stamped: Via = { ...top, params };
  return prependHeader(removeFirstValue(message, 'via'), 'Via', formatVia(stamped));
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

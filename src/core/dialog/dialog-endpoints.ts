import { nameAddrsOf } from '../../sip/address-headers.ts';
import { isSipParseError } from '../../sip/errors.ts';
import type { NameAddr, SipMessage, SipRequest, SipResponse, SipUri } from '../../sip/message.ts';
import { detach } from '../../util/detach.ts';
import type { Direction } from '../inspector.ts';
import type { DialogEndpoints } from './dialog-table.ts';

/** Record-Route entries kept per call at most: a longer route set cannot be ended by us. */
const MAX_ROUTE_ENTRIES = 16;

/**
 * A call's parties as sipwarden's own BYE names them (RFC 3261 12.1 and 12.2.1.1), from
 * the dialog-creating INVITE and its 2xx: the From and To values with their tags, each
 * party's Contact URI (remote target), and the Record-Route entries between sipwarden and
 * each party, in the order that party's peer would put them in Route.
 *
 * The 2xx's Record-Route lists the hops nearest the callee first. Our own entry (one, or
 * two when we record-routed twice) splits it: the entries above it lie between us and the
 * callee, those below between us and the caller. A call that passes us twice holds our
 * entries twice: on the leg whose caller is on the client side ours is the lowest run,
 * on the leg the upstream started, the highest.
 *
 * Undefined when a party gave no Contact, or the route set is unreadable or too long.
 */
export function dialogEndpoints(
  invite: SipRequest,
  ok: SipResponse,
  leg: Direction,
  isOwnUri: (uri: SipUri) => boolean,
): DialogEndpoints | undefined {
  const callerTarget = firstContact(invite);
  const calleeTarget = firstContact(ok);
  if (callerTarget === undefined || calleeTarget === undefined) return undefined;
  const routes = recordRoutes(ok);
  if (routes === undefined) return undefined;
  const own = routes.map(
    (entry) => (entry.uri.scheme === 'sip' || entry.uri.scheme === 'sips') && isOwnUri(entry.uri as SipUri),
  );
  let first = leg === 'client' ? own.lastIndexOf(true) : own.indexOf(true);
  let last = first;
  if (first >= 0) {
    // Widen to the run of our entries around it.
    while (first > 0 && own[first - 1]) first--;
    while (last < own.length - 1 && own[last + 1]) last++;
  }
  const calleeSide = first < 0 ? routes : routes.slice(0, first);
  const callerSide = first < 0 ? [] : routes.slice(last + 1);
  return {
    callerAddress: detach(headerValue(invite, 'from') ?? ''),
    calleeAddress: detach(headerValue(ok, 'to') ?? ''),
    callerTarget: detach(callerTarget),
    calleeTarget: detach(calleeTarget),
    // The caller's peer lists the route in reverse (RFC 3261 12.1.2), the callee's as it is (12.1.1).
    routeToCallee: calleeSide.reverse().map(routeText),
    routeToCaller: callerSide.map(routeText),
  };
}

function headerValue(message: SipMessage, name: string): string | undefined {
  for (const header of message.headers) if (header.name === name) return header.value;
  return undefined;
}

function firstContact(message: SipMessage): string | undefined {
  for (const header of message.headers) {
    if (header.name !== 'contact') continue;
    const list = nameAddrsOf(header);
    if (isSipParseError(list) || list === '*' || list.length === 0) return undefined;
    return list[0]!.uriText;
  }
  return undefined;
}

function recordRoutes(message: SipMessage): NameAddr[] | undefined {
  const out: NameAddr[] = [];
  for (const header of message.headers) {
    if (header.name !== 'record-route') continue;
    const list = nameAddrsOf(header);
    if (isSipParseError(list) || list === '*') return undefined;
    out.push(...list);
    if (out.length > MAX_ROUTE_ENTRIES) return undefined;
  }
  return out;
}

/** A Route value for an entry: its URI in angle brackets and its parameters (`;lr` stays in the URI). */
function routeText(entry: NameAddr): string {
  let text = `<${entry.uriText}>`;
  for (const [name, value] of entry.params) text += value === null ? `;${name}` : `;${name}=${value}`;
  return detach(text);
}

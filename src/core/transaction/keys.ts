import type { SipRequest, Via } from '../../sip/message.ts';
import type { Flow, SendTarget } from '../../transport/types.ts';
import { MAGIC_COOKIE } from './branch.ts';

/**
 * RFC 3261 17.2.3: branch, sent-by and method (ACK matches INVITE); RFC 2543 peers fall back
 * to the request's identity. The flow it arrived on is part of the key: a retransmission
 * comes over the same one, and a request with the same Via over another transport or from
 * another source is a transaction of its own, answered over its own connection (RFC 3261
 * 18.2.2), never absorbed into one whose answers go elsewhere (a TCP request sent after the
 * same bytes over UDP got no answer at all). A third party cannot claim or pre-empt a
 * transaction by copying its branch either.
 */
export function serverTransactionKey(
  request: SipRequest,
  topVia: Via,
  flow: Flow,
  methodOverride?: string,
): string {
  const method = methodOverride ?? (request.method === 'ACK' ? 'INVITE' : request.method);
  const sentBy = `${topVia.host}:${topVia.port ?? ''}`;
  const source = `${flow.transport}|${flow.remoteAddress}|${flow.remotePort}`;
  const branch = topVia.branch;
  if (branch?.startsWith(MAGIC_COOKIE)) return `${branch}|${sentBy}|${method}|${source}`;
  // RFC 3261 17.2.3 fallback for RFC 2543 requests: Request-URI, tags, Call-ID, CSeq number, top Via.
  const fromTag = request.from.params.get('tag') ?? '';
  return `2543|${request.uriText}|${fromTag}|${request.callId}|${request.cseq.seq}|${sentBy}|${method}|${source}`;
}

/** RFC 3261 17.1.3: a response matches the client transaction by our branch and the CSeq method. */
export function clientTransactionKey(branch: string, method: string): string {
  return branch + '|' + method;
}

export function sameTarget(a: SendTarget, b: SendTarget): boolean {
  return a.transport === b.transport && a.address === b.address && a.port === b.port;
}

/** A response must arrive over the flow its request left on: same transport, address and port. */
export function fromTarget(flow: Flow, target: SendTarget): boolean {
  if (flow.transport !== target.transport || flow.remoteAddress !== target.address) return false;
  if (target.connectionId !== undefined && flow.connectionId !== undefined) {
    return flow.connectionId === target.connectionId;
  }
  return flow.remotePort === target.port;
}

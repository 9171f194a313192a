import type { SipRequest } from '../../sip/message.ts';
import { computeLoopHash, loopHashOf } from '../transaction/branch.ts';
import type { LocalIdentity } from './local-identity.ts';
import { routeValues } from './routes.ts';

/**
 * RFC 3261 16.6 item 8 hashes the top Via too; a looped request arrives with our Via on
 * top instead, so the hash leaves Via out and keeps the fields that decide routing.
 */
export function loopHash(request: SipRequest): string {
  return computeLoopHash(loopFields(request));
}

/** RFC 3261 16.3 item 4: a request carrying our own Via with an unchanged hash is a loop. */
export function isLoop(request: SipRequest, identity: LocalIdentity): boolean {
  for (const via of request.via) {
    if (!via.branch) continue;
    const hash = loopHashOf(via.branch);
    if (hash === undefined || !identity.isLocal(via.host, via.port)) continue;
    if (hash === loopHash(request)) return true;
  }
  return false;
}

function loopFields(request: SipRequest): string[] {
  const header = (name: string): string =>
    request.headers
      .filter((h) => h.name === name)
      .map((h) => h.value)
      .join(',');
  return [
    request.uriText,
    request.from.params.get('tag') ?? '',
    request.to.params.get('tag') ?? '',
    request.callId,
    String(request.cseq.seq),
    routeValues(request).join(','),
    header('proxy-require'),
    header('proxy-authorization'),
  ];
}

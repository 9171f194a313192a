/** Is the target alive? An OPTIONS (RFC 3261 11) from a clean address, a few tries. */
import { Random } from '../random.ts';
import { requestText, sipUri } from '../sip-text.ts';
import type { Endpoint } from '../target.ts';
import type { SipEndpoint } from '../ua/endpoint.ts';

export async function isAlive(
  endpoint: SipEndpoint,
  target: Endpoint,
  tries = 2,
  timeoutMs = 1500,
): Promise<boolean> {
  const random = new Random();
  for (let i = 0; i < tries; i++) {
    const branch = `z9hG4bKalive${random.token(12)}`;
    const text = requestText({
      method: 'OPTIONS',
      requestUri: sipUri(undefined, target.address, target.port),
      via: { host: endpoint.address, port: endpoint.port, branch },
      from: sipUri('assess', target.address),
      fromTag: random.token(8),
      to: sipUri(undefined, target.address),
      callId: random.token(20),
      cseq: 1,
      userAgent: 'sipwarden-assess',
    });
    const exchange = await endpoint.request(text, target, { branch, method: 'OPTIONS', timeoutMs });
    if (exchange.final !== undefined) return true;
  }
  return false;
}

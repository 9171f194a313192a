import type { SipRequest } from '../../sip/message.ts';

/**
 * The same forwarded request with a new branch in our own (top) Via: a new client
 * transaction for the next target of a failover (RFC 3261 16.6 item 8, 17.1.3).
 */
export function withBranch(message: SipRequest, oldBranch: string, branch: string): SipRequest {
  const index = message.headers.findIndex((h) => h.name === 'via');
  const top = message.via[0];
  if (index < 0 || top === undefined) return message;
  const field = message.headers[index]!;
  const headers = [...message.headers];
  // A new field without `raw`: the serializer writes the changed value.
  headers[index] = {
    name: field.name,
    value: field.value.replace(`branch=${oldBranch}`, `branch=${branch}`),
  };
  const params = new Map(top.params);
  params.set('branch', branch);
  return { ...message, headers, via: [{ ...top, params, branch }, ...message.via.slice(1)] };
}

import type { SipResponse } from './message.ts';

/** RFC 3261 20.33: the delta-seconds of a response's Retry-After, or undefined when absent or malformed. */
export function retryAfterSeconds(response: SipResponse): number | undefined {
  const field = response.headers.find((h) => h.name === 'retry-after');
  if (field === undefined) return undefined;
  const match = /^(\d{1,10})/.exec(field.value);
  if (match === null) return undefined;
  const seconds = Number(match[1]);
  return Number.isSafeInteger(seconds) ? seconds : undefined;
}

import { SipParseError } from './errors.ts';
import { parseViaValues } from './headers/via.ts';
import type { Via } from './message.ts';

/**
 * The Via fields a request was forwarded without (topology hiding), kept by its transaction
 * and put back on its responses (RFC 3261 16.7 item 3 then finds them as the upstream sent them).
 */
export interface HiddenVias {
  readonly values: readonly string[];
  readonly parsed: readonly Via[];
}

/** From the field values a finished transaction kept (a 2xx retransmission's rare path: parsed again). */
export function hiddenViasFrom(values: readonly string[] | undefined): HiddenVias | undefined {
  if (values === undefined || values.length === 0) return undefined;
  const parsed: Via[] = [];
  for (const value of values) {
    const vias = parseViaValues(value);
    if (vias instanceof SipParseError) return undefined;
    parsed.push(...vias);
  }
  return { values, parsed };
}

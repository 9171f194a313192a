/**
 * Accept = [ accept-range *( COMMA accept-range ) ] (RFC 3261 20.1). The list is split here;
 * each accept-range is a media range, which the caller checks with the media-type grammar
 * (src/sdp/body.ts parseMediaType, which src/sip cannot import: src/sdp and src/sip import
 * nothing of each other).
 */

/** Most accept-ranges one value may list. */
export const MAX_ACCEPT_RANGES = 64;

/**
 * Splits a header value on the commas outside quoted strings (a backslash escapes the next
 * character inside one); undefined when it has more than `max` parts.
 */
export function splitList(value: string, max: number): string[] | undefined {
  const out: string[] = [];
  let start = 0;
  let quoted = false;
  for (let k = 0; k < value.length; k++) {
    const c = value.charCodeAt(k);
    if (quoted && c === 0x5c) k++;
    else if (c === 0x22) quoted = !quoted;
    else if (c === 0x2c && !quoted) {
      out.push(value.slice(start, k));
      if (out.length >= max) return undefined;
      start = k + 1;
    }
  }
  out.push(value.slice(start));
  return out;
}

/** True when `value` is an Accept list whose every range passes `isMediaRange`; empty is allowed. */
export function isAcceptList(value: string, isMediaRange: (range: string) => boolean): boolean {
  if (value === '') return true;
  const parts = splitList(value, MAX_ACCEPT_RANGES);
  return parts?.every(isMediaRange) === true;
}

/**
 * host = hostname / IPv4address / IPv6reference (RFC 3261 section 25.1), with the IPv6
 * grammar as corrected by RFC 5954 (RFC 5118 section 4.10: `[2001:db8:::192.0.2.1]` is
 * invalid).
 */
import { ALPHA, CHAR, DIGIT, HEX, HOSTNAME } from './chars.ts';

/** IPv4address = 1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT, each octet 0..255. */
export function isIPv4(s: string, i: number, e: number): boolean {
  let parts = 0;
  while (parts < 4) {
    let v = 0;
    const start = i;
    while (i < e) {
      const c = s.charCodeAt(i);
      if (c < 0x30 || c > 0x39) break;
      v = v * 10 + (c - 0x30);
      i++;
    }
    const n = i - start;
    if (n < 1 || n > 3 || v > 255) return false;
    parts++;
    if (parts === 4) break;
    if (s.charCodeAt(i) !== 0x2e || i >= e) return false;
    i++;
  }
  return i === e;
}

/** IPv6address (without brackets) between `i` and `e`. */
export function isIPv6(s: string, i: number, e: number): boolean {
  let groups = 0;
  let doubleColon = false;
  let k = i;
  if (k >= e) return false;
  if (s.charCodeAt(k) === 0x3a) {
    if (s.charCodeAt(k + 1) !== 0x3a) return false;
    doubleColon = true;
    k += 2;
    if (k === e) return true;
  }
  for (;;) {
    const start = k;
    while (k < e) {
      const c = s.charCodeAt(k);
      if (c > 255 || (CHAR[c]! & HEX) === 0) break;
      k++;
    }
    if (k < e && s.charCodeAt(k) === 0x2e) {
      // A trailing IPv4address counts as two groups.
      if (!isIPv4(s, start, e)) return false;
      groups += 2;
      break;
    }
    const len = k - start;
    if (len < 1 || len > 4) return false;
    groups++;
    if (k === e) break;
    if (s.charCodeAt(k) !== 0x3a) return false;
    k++;
    if (s.charCodeAt(k) === 0x3a) {
      if (doubleColon) return false;
      doubleColon = true;
      k++;
      if (k === e) break;
    } else if (k === e) {
      return false;
    }
    if (groups > 8) return false;
  }
  return doubleColon ? groups <= 7 : groups === 8;
}

/**
 * hostname = *( domainlabel "." ) toplabel [ "." ]; a name whose top label does not start
 * with a letter must be an IPv4 address.
 */
export function isHostnameOrIPv4(s: string, i: number, e: number): boolean {
  if (i >= e) return false;
  let end = e;
  if (s.charCodeAt(end - 1) === 0x2e) end--; // trailing dot of a fully qualified name
  if (end <= i) return false;
  let labelStart = i;
  let topAlpha = false;
  for (let k = i; k <= end; k++) {
    const c = k < end ? s.charCodeAt(k) : 0x2e;
    if (c === 0x2e) {
      if (k === labelStart) return false; // empty label
      const first = s.charCodeAt(labelStart);
      const last = s.charCodeAt(k - 1);
      if (first === 0x2d || last === 0x2d) return false; // labels neither start nor end with "-"
      topAlpha = (CHAR[first]! & ALPHA) !== 0;
      labelStart = k + 1;
    } else if (c > 255 || (CHAR[c]! & HOSTNAME) === 0) {
      return false;
    }
  }
  if (topAlpha) return true;
  return end === e && isIPv4(s, i, e);
}

/**
 * Scans a host at `i`: an IPv6 reference in brackets, or a hostname / IPv4 address. Returns
 * the index after it, or -1 when it is not a valid host.
 */
export function scanHost(s: string, i: number): number {
  if (s.charCodeAt(i) === 0x5b) {
    const close = s.indexOf(']', i + 1);
    if (close < 0 || !isIPv6(s, i + 1, close)) return -1;
    return close + 1;
  }
  // One pass: labels of alphanum and "-", separated by ".", neither starting nor ending
  // with "-"; the top label starts with a letter, or the whole is an IPv4 address.
  const n = s.length;
  let k = i;
  let labelStart = i;
  let topAlpha = false;
  for (; k < n; k++) {
    const c = s.charCodeAt(k);
    if (c === 0x2e) {
      if (k === labelStart || s.charCodeAt(k - 1) === 0x2d) return -1;
      labelStart = k + 1;
      continue;
    }
    const f = c < 256 ? CHAR[c]! : 0;
    if (f & ALPHA) {
      if (k === labelStart) topAlpha = true;
    } else if (f & DIGIT) {
      if (k === labelStart) topAlpha = false;
    } else if (c === 0x2d) {
      if (k === labelStart) return -1;
    } else break;
  }
  if (k === i || s.charCodeAt(k - 1) === 0x2d) return -1;
  if (topAlpha) return k;
  return isIPv4(s, i, k) ? k : -1;
}

/** Scans `port = 1*DIGIT` at `i` (at most 5 digits, at most 65535); -1 when invalid. */
export function scanPort(s: string, i: number): number {
  let v = 0;
  let k = i;
  while (k < s.length) {
    const c = s.charCodeAt(k);
    if (c < 0x30 || c > 0x39) break;
    v = v * 10 + (c - 0x30);
    k++;
    if (k - i > 5) return -1;
  }
  if (k === i || v > 65535) return -1;
  return k;
}

/**
 * host = hostname / IPv4address / IPv6reference (RFC 3261 section 25.1), with the IPv6
 * grammar as corrected by RFC 5954 (RFC 5118 section 4.10: `[2001:db8:::192.0.2.1]` is
 * invalid).
 */
import { ALPHA, CHAR, DIGIT, HEX, HOSTNAME } from './chars.ts';

/**
 * IPv4address = 1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT, each octet 0..255, between
 * `i` and `e`, as an unsigned 32-bit integer; -1 when it is not one. `strict` refuses an
 * octet with a leading zero (`01.2.3.4`), which some resolvers read as octal (RFC 6943
 * 3.1.1): the form for addresses from the configuration and the state tables. SIP's grammar
 * allows them (RFC 3261 25.1). The one IPv4 reader of the project: src/state and src/config
 * use it too; src/sdp keeps its own, as it imports nothing of ours.
 */
export function ipv4Value(s: string, i: number, e: number, strict: boolean): number {
  if (e - i < 7 || e - i > 15) return -1;
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let k = i; k < e; k++) {
    const c = s.charCodeAt(k);
    if (c === 0x2e) {
      if (digits === 0 || dots === 3) return -1;
      value = value * 256 + octet;
      dots++;
      octet = 0;
      digits = 0;
    } else if (c >= 0x30 && c <= 0x39) {
      if (strict && digits > 0 && octet === 0) return -1;
      octet = octet * 10 + (c - 0x30);
      if (++digits > 3 || octet > 255) return -1;
    } else {
      return -1;
    }
  }
  if (digits === 0 || dots !== 3) return -1;
  return value * 256 + octet;
}

/** IPv4address between `i` and `e`, leading zeros allowed (RFC 3261 25.1). */
export function isIPv4(s: string, i: number, e: number): boolean {
  return ipv4Value(s, i, e, false) >= 0;
}

/**
 * IPv6address (RFC 4291 2.2 text forms, without brackets or zone) between `i` and `e`, into
 * its eight 16-bit groups in `out`; false when it is not one. One "::" stands for one or more
 * zero groups (RFC 5954 4: `2001:db8:::192.0.2.1` is invalid, RFC 5118 4.10); a trailing
 * IPv4address, read as ipv4Value with `strict`, stands for the last two groups. Scans
 * characters, allocates nothing: the state tables' per-packet lookups use it.
 */
export function ipv6Groups(s: string, i: number, e: number, out: Uint16Array, strict: boolean): boolean {
  // The longest text form is 45 characters (six groups and a dotted quad).
  if (e - i < 2 || e - i > 45) return false;
  let k = i;
  let n = 0;
  /** Where "::" stands, in groups; -1 without. */
  let gap = -1;
  if (s.charCodeAt(k) === 0x3a) {
    if (s.charCodeAt(k + 1) !== 0x3a) return false;
    gap = 0;
    k += 2;
  }
  while (k < e) {
    let value = 0;
    let j = k;
    for (; j < e; j++) {
      const c = s.charCodeAt(j);
      if (c > 255 || (CHAR[c]! & HEX) === 0) break;
      value = value * 16 + (c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x57);
    }
    if (j < e && s.charCodeAt(j) === 0x2e) {
      // RFC 4291 2.2 form 3: the low 32 bits as a dotted quad, last.
      if (n > 6) return false;
      const v4 = ipv4Value(s, k, e, strict);
      if (v4 < 0) return false;
      out[n++] = v4 >>> 16;
      out[n++] = v4 & 0xffff;
      break;
    }
    if (j === k || j - k > 4 || n === 8) return false;
    out[n++] = value;
    if (j === e) break;
    if (s.charCodeAt(j) !== 0x3a) return false;
    j++;
    if (j < e && s.charCodeAt(j) === 0x3a) {
      if (gap !== -1) return false;
      gap = n;
      j++;
    } else if (j === e) {
      return false;
    }
    k = j;
  }
  if (gap === -1) return n === 8;
  if (n > 7) return false;
  const tail = n - gap;
  for (let t = 1; t <= tail; t++) out[8 - t] = out[n - t]!;
  for (let t = gap; t < 8 - tail; t++) out[t] = 0;
  return true;
}

const scratchGroups = new Uint16Array(8);

/** IPv6address (without brackets) between `i` and `e`, leading zeros allowed in an IPv4 tail. */
export function isIPv6(s: string, i: number, e: number): boolean {
  return ipv6Groups(s, i, e, scratchGroups, false);
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

/**
 * Addresses in SDP (RFC 8866 section 9 grammar): IPv4 and IPv6 literals (RFC 4291 2.2
 * text forms, the embedded IPv4 form included) and fully qualified domain names. Written
 * here, not shared with src/sip, because src/sdp imports nothing of ours from outside;
 * test/unit/sip/host.test.ts holds isIPv4 and isIPv6 to the results of src/sip/host.ts.
 */

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function isHex(c: number): boolean {
  return isDigit(c) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);
}

function isAlpha(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a);
}

/** IPv4address = 4 dotted decimal octets 0..255, 1 to 3 digits each. */
export function isIPv4(s: string, i = 0, e = s.length): boolean {
  let parts = 0;
  while (i <= e) {
    const start = i;
    let v = 0;
    while (i < e && isDigit(s.charCodeAt(i))) v = v * 10 + (s.charCodeAt(i++) - 0x30);
    if (i === start || i - start > 3 || v > 255) return false;
    parts++;
    if (i === e) return parts === 4;
    if (s.charCodeAt(i) !== 0x2e || parts === 4) return false;
    i++;
  }
  return false;
}

/** IPv6address (RFC 4291 2.2): 8 groups, one "::" for a run of zero groups, an IPv4 tail. */
export function isIPv6(s: string, i = 0, e = s.length): boolean {
  if (e - i < 2 || e - i > 45) return false;
  let groups = 0;
  let elided = false;
  let k = i;
  if (s.charCodeAt(k) === 0x3a) {
    if (s.charCodeAt(k + 1) !== 0x3a) return false;
    elided = true;
    k += 2;
    if (k === e) return true;
  }
  for (;;) {
    const start = k;
    while (k < e && isHex(s.charCodeAt(k))) k++;
    if (k < e && s.charCodeAt(k) === 0x2e) {
      // An IPv4 tail stands for the last two groups.
      if (!isIPv4(s, start, e)) return false;
      groups += 2;
      break;
    }
    if (k === start || k - start > 4) return false;
    groups++;
    if (k === e) break;
    if (s.charCodeAt(k) !== 0x3a) return false;
    k++;
    if (s.charCodeAt(k) === 0x3a) {
      if (elided) return false;
      elided = true;
      k++;
      if (k === e) break;
    } else if (k === e) {
      return false;
    }
    if (groups > 7) return false;
  }
  return elided ? groups <= 7 : groups === 8;
}

/**
 * A domain name (RFC 1035 / RFC 1123): labels of letters, digits and "-", 1..63 long,
 * neither starting nor ending with "-", 253 characters at most, an optional final dot.
 * A name whose last label is all digits is a broken IPv4 address, not a name.
 */
export function isFqdn(s: string, i = 0, e = s.length): boolean {
  if (e > i && s.charCodeAt(e - 1) === 0x2e) e--;
  if (e <= i || e - i > 253) return false;
  let labelStart = i;
  let allDigits = true;
  for (let k = i; k <= e; k++) {
    const c = k < e ? s.charCodeAt(k) : 0x2e;
    if (c === 0x2e) {
      const len = k - labelStart;
      if (len === 0 || len > 63) return false;
      if (s.charCodeAt(labelStart) === 0x2d || s.charCodeAt(k - 1) === 0x2d) return false;
      if (k === e && allDigits) return false;
      labelStart = k + 1;
      allDigits = true;
    } else if (isDigit(c)) {
      // a digit keeps allDigits as it is
    } else if (isAlpha(c) || c === 0x2d) {
      allDigits = false;
    } else {
      return false;
    }
  }
  return true;
}

/** 224.0.0.0/4 (RFC 5771). The caller has checked the address is IPv4. */
export function isIPv4Multicast(address: string): boolean {
  let first = 0;
  for (let k = 0; k < address.length; k++) {
    const c = address.charCodeAt(k);
    if (c === 0x2e) break;
    first = first * 10 + (c - 0x30);
  }
  return first >= 224 && first <= 239;
}

/** ff00::/8 (RFC 4291 2.7): a first group of four hex digits starting "ff". The caller has checked the address is IPv6. */
export function isIPv6Multicast(address: string): boolean {
  return (
    address.charCodeAt(4) === 0x3a &&
    (address.charCodeAt(0) | 0x20) === 0x66 &&
    (address.charCodeAt(1) | 0x20) === 0x66
  );
}

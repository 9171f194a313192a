/**
 * IP address parsing for the state tables, without `node:net` (only src/transport touches
 * socket modules). IPv4 parses to an unsigned 32-bit integer with no allocation, for the
 * per-packet block and allowlist lookups; IPv6 to four 32-bit words. Canonical text is the
 * dotted quad, or RFC 5952 for IPv6; an IPv4-mapped IPv6 address (`::ffff:1.2.3.4`, what a
 * dual-stack socket reports for an IPv4 peer) is the IPv4 address (RFC 4291 2.5.5.2).
 */

import { ipv4Value, ipv6Groups } from '../sip/host.ts';

export type Words = readonly [number, number, number, number];

export interface ParsedAddress {
  readonly family: 4 | 6;
  /** IPv4 as an unsigned 32-bit integer; 0 for IPv6. */
  readonly v4: number;
  /** IPv6 as four unsigned 32-bit words, most significant first; undefined for IPv4. */
  readonly v6: Words | undefined;
  /** Canonical text. */
  readonly text: string;
}

/** Longer text is not an address (45 characters is the longest IPv6 text, plus a zone id). */
const MAX_ADDRESS_LENGTH = 64;

/**
 * A strict dotted quad (`203.0.113.7`: four decimal octets, no leading zeros, which some
 * parsers read as octal) between `start` and `end`, as an unsigned integer; -1 otherwise.
 */
export function parseIPv4(text: string, start = 0, end = text.length): number {
  return ipv4Value(text, start, end, true);
}

/**
 * RFC 4291 2.2 text forms into eight 16-bit groups, scanning characters (no split, no
 * allocation): the per-packet IPv6 lookups use it with a scratch array. A zone id (`%eth0`)
 * is ignored. False when malformed.
 */
export function parseIPv6Groups(text: string, out: Uint16Array): boolean {
  if (text.length > MAX_ADDRESS_LENGTH) return false;
  const zone = text.indexOf('%');
  return ipv6Groups(text, 0, zone === -1 ? text.length : zone, out, true);
}

const scratch = new Uint16Array(8);

/** RFC 4291 2.2 text forms as four 32-bit words; a zone id is dropped. Undefined when malformed. */
export function parseIPv6(text: string): Words | undefined {
  if (!parseIPv6Groups(text, scratch)) return undefined;
  const g = scratch;
  return [
    ((g[0]! << 16) | g[1]!) >>> 0,
    ((g[2]! << 16) | g[3]!) >>> 0,
    ((g[4]! << 16) | g[5]!) >>> 0,
    ((g[6]! << 16) | g[7]!) >>> 0,
  ];
}

/** IPv4-mapped groups (`::ffff:0:0/96`). */
export function isMappedGroups(g: Uint16Array): boolean {
  return g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff;
}

const masked = new Uint16Array(8);

/**
 * A compact Map key for an IPv6 network: its eight groups, masked to `prefix` bits, as an
 * eight-character string (cheaper to build and hash than any text form).
 */
export function groupsKey(g: Uint16Array, prefix: number): string {
  for (let k = 0; k < 8; k++) {
    const bits = prefix - 16 * k;
    masked[k] = bits >= 16 ? g[k]! : bits <= 0 ? 0 : g[k]! & (0xffff << (16 - bits));
  }
  const m = masked;
  return String.fromCharCode(m[0]!, m[1]!, m[2]!, m[3]!, m[4]!, m[5]!, m[6]!, m[7]!);
}

const wordGroups = new Uint16Array(8);

/** `groupsKey` of an address given as words. */
export function wordsKey(words: Words, prefix: number): string {
  for (let k = 0; k < 4; k++) {
    wordGroups[2 * k] = words[k]! >>> 16;
    wordGroups[2 * k + 1] = words[k]! & 0xffff;
  }
  return groupsKey(wordGroups, prefix);
}

/** RFC 5952 4: lower case, no leading zeros, the longest run of two or more zero groups as `::`. */
export function formatIPv6(words: Words): string {
  const groups: number[] = [];
  for (const w of words) groups.push(w >>> 16, w & 0xffff);
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    // RFC 5952 4.2.3: the first of equally long runs.
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number): string =>
    groups
      .slice(from, to)
      .map((x) => x.toString(16))
      .join(':');
  if (bestStart === -1) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLength, 8)}`;
}

export function formatIPv4(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
}

/** IPv4-mapped (`::ffff:0:0/96`). */
export function isMappedIPv4(words: Words): boolean {
  return words[0] === 0 && words[1] === 0 && words[2] === 0xffff;
}

/** An IPv4 or IPv6 address in any text form; undefined when it is neither. */
export function parseAddress(text: string): ParsedAddress | undefined {
  const v4 = parseIPv4(text);
  if (v4 >= 0) return { family: 4, v4, v6: undefined, text };
  if (!text.includes(':')) return undefined;
  const words = parseIPv6(text);
  if (words === undefined) return undefined;
  if (isMappedIPv4(words)) return { family: 4, v4: words[3], v6: undefined, text: formatIPv4(words[3]) };
  return { family: 6, v4: 0, v6: words, text: formatIPv6(words) };
}

/** The canonical text of an address, or undefined when `text` is not one. */
export function normalizeAddress(text: string): string | undefined {
  return parseAddress(text)?.text;
}

/** `value` with all but its first `prefix` bits cleared (0..32). */
export function maskIPv4(value: number, prefix: number): number {
  if (prefix <= 0) return 0;
  if (prefix >= 32) return value >>> 0;
  return (value & (0xffffffff << (32 - prefix))) >>> 0;
}

/** `words` with all but the first `prefix` bits cleared (0..128). */
export function maskIPv6(words: Words, prefix: number): Words {
  return [
    maskIPv4(words[0], prefix),
    maskIPv4(words[1], prefix - 32),
    maskIPv4(words[2], prefix - 64),
    maskIPv4(words[3], prefix - 96),
  ];
}

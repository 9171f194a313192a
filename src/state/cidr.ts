import { StateError } from './errors.ts';
import {
  formatIPv4,
  formatIPv6,
  groupsKey,
  isMappedGroups,
  isMappedIPv4,
  maskIPv4,
  maskIPv6,
  type ParsedAddress,
  parseAddress,
  parseIPv4,
  parseIPv6,
  parseIPv6Groups,
  type Words,
  wordsKey,
} from './ip.ts';

/** A network: the address with its host bits cleared, and the prefix length. */
export interface Cidr {
  readonly family: 4 | 6;
  readonly prefix: number;
  /** IPv4 network as an unsigned integer; 0 for IPv6. */
  readonly v4: number;
  /** IPv6 network as four words; undefined for IPv4. */
  readonly v6: Words | undefined;
  /** Canonical text: `203.0.113.0/24`, `2001:db8::/64`. */
  readonly text: string;
}

function parsePrefix(text: string, max: number): number {
  if (text.length < 1 || text.length > 3) return -1;
  if (text.length > 1 && text.charCodeAt(0) === 48) return -1;
  let v = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    v = v * 10 + (c - 48);
  }
  return v <= max ? v : -1;
}

export function cidrFromIPv4(value: number, prefix: number): Cidr {
  const v4 = maskIPv4(value, prefix);
  return { family: 4, prefix, v4, v6: undefined, text: `${formatIPv4(v4)}/${prefix}` };
}

export function cidrFromIPv6(words: Words, prefix: number): Cidr {
  // An IPv4-mapped network of /96 or longer is an IPv4 network (RFC 4291 2.5.5.2).
  if (prefix >= 96 && isMappedIPv4(words)) return cidrFromIPv4(words[3], prefix - 96);
  const v6 = maskIPv6(words, prefix);
  return { family: 6, prefix, v4: 0, v6, text: `${formatIPv6(v6)}/${prefix}` };
}

/** The network of an address at a prefix length (clamped to the family's width). */
export function networkOf(address: ParsedAddress, prefix: number): Cidr {
  if (address.family === 4) return cidrFromIPv4(address.v4, Math.min(prefix, 32));
  return cidrFromIPv6(address.v6!, Math.min(prefix, 128));
}

/**
 * `203.0.113.0/24`, `2001:db8::/32`, or a bare address (a /32 or /128 network). Host bits
 * set below the prefix are cleared (`10.1.2.3/8` is `10.0.0.0/8`). Undefined when malformed.
 */
export function parseCidr(text: string): Cidr | undefined {
  if (text.length > 70) return undefined;
  const slash = text.indexOf('/');
  const addressText = slash === -1 ? text : text.slice(0, slash);
  const v4 = parseIPv4(addressText);
  if (v4 >= 0) {
    const prefix = slash === -1 ? 32 : parsePrefix(text.slice(slash + 1), 32);
    return prefix < 0 ? undefined : cidrFromIPv4(v4, prefix);
  }
  if (!addressText.includes(':') || addressText.includes('%')) return undefined;
  const words = parseIPv6(addressText);
  if (words === undefined) return undefined;
  const prefix = slash === -1 ? 128 : parsePrefix(text.slice(slash + 1), 128);
  return prefix < 0 ? undefined : cidrFromIPv6(words, prefix);
}

/** Whether the network holds the address (text or parsed); false for a malformed address. */
export function cidrContains(cidr: Cidr, address: string | ParsedAddress): boolean {
  const a = typeof address === 'string' ? parseAddress(address) : address;
  if (a === undefined || a.family !== cidr.family) return false;
  if (a.family === 4) return maskIPv4(a.v4, cidr.prefix) === cidr.v4;
  const m = maskIPv6(a.v6!, cidr.prefix);
  const n = cidr.v6!;
  return m[0] === n[0] && m[1] === n[1] && m[2] === n[2] && m[3] === n[3];
}

/** A Map key for an IPv6 network (see `groupsKey`). */
export function v6NetworkKey(words: Words, prefix: number): string {
  return wordsKey(words, prefix);
}

/**
 * A fixed set of addresses and networks (an allowlist), built once at start. `has` costs
 * one Set lookup for an exact address plus one per distinct prefix length in the set (at
 * most 33 for IPv4, 129 for IPv6; in practice a handful), whatever the number of networks.
 */
export class AddressSet {
  readonly size: number;
  /** IPv4 addresses by text (what a socket reports, so no parsing when listed). */
  private readonly exact = new Set<string>();
  private readonly groups = new Uint16Array(8);
  /** IPv4 networks grouped by prefix length, longest first. */
  private readonly v4: { readonly prefix: number; readonly networks: Set<number> }[] = [];
  private readonly v6: { readonly prefix: number; readonly networks: Set<string> }[] = [];

  /** Throws a `SW_ERR_STATE_ADDRESS_LIST` error naming the first invalid entry. */
  constructor(entries: readonly string[], label = 'allowlist') {
    const v4 = new Map<number, Set<number>>();
    const v6 = new Map<number, Set<string>>();
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!;
      const cidr = typeof entry === 'string' ? parseCidr(entry.trim()) : undefined;
      if (cidr === undefined) {
        const shown = JSON.stringify(String(entry).slice(0, 80));
        throw new StateError(
          'SW_ERR_STATE_ADDRESS_LIST',
          `${label}[${i}]: ${shown} is not an address or CIDR network`,
        );
      }
      if (cidr.family === 4) {
        if (cidr.prefix === 32) this.exact.add(formatIPv4(cidr.v4));
        else getOrCreate(v4, cidr.prefix, () => new Set<number>()).add(cidr.v4);
      } else {
        getOrCreate(v6, cidr.prefix, () => new Set<string>()).add(v6NetworkKey(cidr.v6!, cidr.prefix));
      }
    }
    for (const [prefix, networks] of [...v4].sort((a, b) => b[0] - a[0])) this.v4.push({ prefix, networks });
    for (const [prefix, networks] of [...v6].sort((a, b) => b[0] - a[0])) this.v6.push({ prefix, networks });
    let size = this.exact.size;
    for (const g of this.v4) size += g.networks.size;
    for (const g of this.v6) size += g.networks.size;
    this.size = size;
  }

  /** Builds the set, or returns the error naming the first invalid entry. */
  static parse(
    entries: readonly string[],
    label = 'allowlist',
  ): { ok: true; set: AddressSet } | { ok: false; error: StateError } {
    try {
      return { ok: true, set: new AddressSet(entries, label) };
    } catch (error) {
      if (error instanceof StateError) return { ok: false, error };
      throw error;
    }
  }

  /** Whether the address, in any text form, is in the set; false for a malformed one. */
  has(address: string): boolean {
    if (this.exact.has(address)) return true;
    const v4 = parseIPv4(address);
    if (v4 >= 0) return this.hasIPv4(v4);
    const g = this.groups;
    if (this.size === 0 || !parseIPv6Groups(address, g)) return false;
    if (isMappedGroups(g)) {
      const mapped = ((g[6]! << 16) | g[7]!) >>> 0;
      return this.exact.has(formatIPv4(mapped)) || this.hasIPv4(mapped);
    }
    for (const group of this.v6) {
      if (group.networks.has(groupsKey(g, group.prefix))) return true;
    }
    return false;
  }

  private hasIPv4(value: number): boolean {
    for (const g of this.v4) {
      if (g.networks.has(maskIPv4(value, g.prefix))) return true;
    }
    return false;
  }
}

function getOrCreate<K, V>(map: Map<K, V>, key: K, create: () => V): V {
  let v = map.get(key);
  if (v === undefined) {
    v = create();
    map.set(key, v);
  }
  return v;
}

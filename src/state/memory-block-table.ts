import { type Cidr, networkOf, parseCidr, v6NetworkKey } from './cidr.ts';
import { StateError } from './errors.ts';
import { ExpiryHeap } from './expiry-heap.ts';
import type { Words } from './ip.ts';
import {
  formatIPv4,
  groupsKey,
  isMappedGroups,
  maskIPv4,
  parseAddress,
  parseIPv4,
  parseIPv6Groups,
} from './ip.ts';
import type { BlockEntry, BlockScope, BlockTable, BlockTableStats } from './types.ts';

/**
 * The block table in process memory.
 *
 * Addresses live in one Map by canonical text, networks in one Map per prefix length and
 * family (an IPv4 network by its masked 32-bit value, an IPv6 one by its masked words), rule
 * keys in their own Map. `match` costs one Map lookup for the address plus one per prefix
 * length that has a network block (normally one: /24 or /64), whatever the table's size.
 *
 * Expired entries are removed when `match`, `matchKey` or `list` meet them and by `sweep`,
 * which the owner calls from its timer (no timers here). A min-heap on expiry finds both
 * the expired entries and, when the table is full, the entry expiring soonest, which gives
 * way to the new one; when the new one would expire sooner than every entry held, it is the
 * one refused (counted in `refused`). So a flood of short blocks never pushes out a block
 * set until removed (`expiresAt` Infinity) while one expiring sooner is held.
 */

export interface MemoryBlockTableOptions {
  readonly maxEntries: number;
  /** The network an `network`-scope block on a bare IPv4 address covers. Default 24. */
  readonly networkPrefixV4?: number;
  /** Likewise for IPv6. Default 64. */
  readonly networkPrefixV6?: number;
}

export interface MemoryBlockTable extends BlockTable {
  /** Removes expired entries; returns how many. Called by the owner's timer. */
  sweep(now: number): number;
  stats(): BlockTableStats & { readonly evictions: number; readonly refused: number };
}

/** Where an IP block lives: a family and prefix for networks; 0 for an address or a key. */
class Block implements BlockEntry {
  key: string;
  scope: BlockScope;
  reason: string;
  rule: string;
  createdAt: number;
  expiresAt: number;
  hits = 0;
  live = true;
  family: 0 | 4 | 6;
  prefix: number;
  /** The network's Map key (a number for IPv4, text for IPv6). */
  network: number | string;

  constructor(entry: Omit<BlockEntry, 'hits'>, target: BlockTarget) {
    this.key = target.key;
    this.scope = target.scope;
    this.reason = entry.reason;
    this.rule = entry.rule;
    this.createdAt = entry.createdAt;
    this.expiresAt = entry.expiresAt;
    this.family = target.family;
    this.prefix = target.prefix;
    this.network = target.network;
  }
}

/** A block key in canonical form, with the table it goes to. */
export interface BlockTarget {
  readonly key: string;
  readonly scope: BlockScope;
  /** 0: the address Map (IPv4) or the rule keys; 4 or 6: the networks of that family. */
  readonly family: 0 | 4 | 6;
  readonly prefix: number;
  readonly network: number | string;
}

/**
 * The canonical form of a block key for its scope, or undefined when it does not fit:
 * `address`: an IP address (IPv4-mapped IPv6 becomes IPv4), or a CIDR network (then the
 * scope is `network`); `network`: a CIDR network, or an address (its /24 or /64 network by
 * default); `key`: any non-empty text. A full-length network (/32, /128) is an address.
 */
export function parseBlockKey(
  scope: BlockScope,
  key: string,
  networkPrefixV4 = 24,
  networkPrefixV6 = 64,
): BlockTarget | undefined {
  if (scope === 'key') {
    return key.length > 0 ? { key, scope, family: 0, prefix: 0, network: 0 } : undefined;
  }
  let cidr: Cidr | undefined;
  if (key.includes('/')) {
    cidr = parseCidr(key);
  } else {
    const address = parseAddress(key);
    if (address === undefined) return undefined;
    if (scope === 'address')
      return addressTarget(address.text, address.family === 6 ? address.v6! : undefined);
    cidr = networkOf(address, address.family === 4 ? networkPrefixV4 : networkPrefixV6);
  }
  if (cidr === undefined) return undefined;
  if (cidr.prefix === (cidr.family === 4 ? 32 : 128)) {
    return addressTarget(cidr.text.slice(0, cidr.text.indexOf('/')), cidr.v6);
  }
  const network = cidr.family === 4 ? cidr.v4 : v6NetworkKey(cidr.v6!, cidr.prefix);
  return { key: cidr.text, scope: 'network', family: cidr.family, prefix: cidr.prefix, network };
}

/**
 * An IPv4 address goes to the address Map by its text (what the socket reports, so a match
 * needs no parsing); an IPv6 one to the /128 networks by its groups, so that every text form
 * of it finds the entry with one parse and no formatting.
 */
function addressTarget(text: string, v6: Words | undefined): BlockTarget {
  if (v6 === undefined) return { key: text, scope: 'address', family: 0, prefix: 0, network: 0 };
  return { key: text, scope: 'address', family: 6, prefix: 128, network: v6NetworkKey(v6, 128) };
}

function checkInteger(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new StateError('SW_ERR_STATE_OPTION', `${name} must be an integer from ${min} to ${max}`);
  }
}

/** Prefix lengths with at least one network, longest first, and their Maps. */
class NetworkIndex<K> {
  prefixes: number[] = [];
  readonly byPrefix = new Map<number, Map<K, Block>>();

  get(prefix: number, network: K): Block | undefined {
    return this.byPrefix.get(prefix)?.get(network);
  }

  set(prefix: number, network: K, block: Block): void {
    let m = this.byPrefix.get(prefix);
    if (m === undefined) {
      m = new Map();
      this.byPrefix.set(prefix, m);
      this.prefixes = [...this.prefixes, prefix].sort((a, b) => b - a);
    }
    m.set(network, block);
  }

  delete(prefix: number, network: K): void {
    const m = this.byPrefix.get(prefix);
    if (m === undefined) return;
    m.delete(network);
    if (m.size === 0) {
      this.byPrefix.delete(prefix);
      this.prefixes = this.prefixes.filter((p) => p !== prefix);
    }
  }
}

export function createMemoryBlockTable(options: MemoryBlockTableOptions): MemoryBlockTable {
  const maxEntries = options.maxEntries;
  const prefixV4 = options.networkPrefixV4 ?? 24;
  const prefixV6 = options.networkPrefixV6 ?? 64;
  checkInteger('maxEntries', maxEntries, 1, 10_000_000);
  checkInteger('networkPrefixV4', prefixV4, 1, 32);
  checkInteger('networkPrefixV6', prefixV6, 1, 128);

  const addresses = new Map<string, Block>();
  const keys = new Map<string, Block>();
  const v4 = new NetworkIndex<number>();
  const v6 = new NetworkIndex<string>();
  const heap = new ExpiryHeap<Block>();
  let count = 0;
  let evictions = 0;
  let refused = 0;

  const isCurrent = (time: number, b: Block): boolean => b.live && b.expiresAt === time;

  function find(target: BlockTarget): Block | undefined {
    if (target.scope === 'key') return keys.get(target.key);
    if (target.family === 4) return v4.get(target.prefix, target.network as number);
    if (target.family === 6) return v6.get(target.prefix, target.network as string);
    return addresses.get(target.key);
  }

  function remove(b: Block): void {
    if (!b.live) return;
    b.live = false;
    count--;
    if (b.scope === 'key') keys.delete(b.key);
    else if (b.family === 4) v4.delete(b.prefix, b.network as number);
    else if (b.family === 6) v6.delete(b.prefix, b.network as string);
    else addresses.delete(b.key);
  }

  function insert(b: Block): void {
    count++;
    if (b.scope === 'key') keys.set(b.key, b);
    else if (b.family === 4) v4.set(b.prefix, b.network as number, b);
    else if (b.family === 6) v6.set(b.prefix, b.network as string, b);
    else addresses.set(b.key, b);
    pushExpiry(b);
  }

  function pushExpiry(b: Block): void {
    heap.push(b.expiresAt, b);
    // Extensions leave stale pairs behind; drop them before they outnumber the entries.
    if (heap.size > 2 * count + 64) heap.rebuild(livePairs());
  }

  function* livePairs(): Iterable<[number, Block]> {
    for (const m of [addresses, keys]) for (const b of m.values()) yield [b.expiresAt, b];
    for (const index of [v4.byPrefix, v6.byPrefix] as Map<number, Map<unknown, Block>>[]) {
      for (const m of index.values()) for (const b of m.values()) yield [b.expiresAt, b];
    }
  }

  /** The entry if still in force at `now`; an expired one is removed. */
  function current(b: Block | undefined, now: number): Block | undefined {
    if (b === undefined) return undefined;
    if (b.expiresAt > now) return b;
    remove(b);
    return undefined;
  }

  function matchIPv4(value: number, now: number): Block | undefined {
    for (const prefix of v4.prefixes) {
      const b = current(v4.get(prefix, maskIPv4(value, prefix)), now);
      if (b !== undefined) return b;
    }
    return undefined;
  }

  const groups = new Uint16Array(8);

  function matchIPv6(now: number): Block | undefined {
    for (const prefix of v6.prefixes) {
      const b = current(v6.get(prefix, groupsKey(groups, prefix)), now);
      if (b !== undefined) return b;
    }
    return undefined;
  }

  function findAddress(address: string, now: number): Block | undefined {
    const b = current(addresses.get(address), now);
    if (b !== undefined) return b;
    // The common case: a dotted quad from the socket, parsed without allocating.
    const value = parseIPv4(address);
    if (value >= 0) return v4.prefixes.length > 0 ? matchIPv4(value, now) : undefined;
    if (!parseIPv6Groups(address, groups)) return undefined;
    if (isMappedGroups(groups)) {
      const mapped = ((groups[6]! << 16) | groups[7]!) >>> 0;
      return current(addresses.get(formatIPv4(mapped)), now) ?? matchIPv4(mapped, now);
    }
    return matchIPv6(now);
  }

  function snapshot(b: Block): BlockEntry {
    return {
      key: b.key,
      scope: b.scope,
      reason: b.reason,
      rule: b.rule,
      createdAt: b.createdAt,
      expiresAt: b.expiresAt,
      hits: b.hits,
    };
  }

  return {
    match(address, now) {
      const b = findAddress(address, now);
      if (b !== undefined) b.hits++;
      return b;
    },

    matchKey(key, now) {
      const b = current(keys.get(key), now);
      if (b !== undefined) b.hits++;
      return b;
    },

    hasKeyBlocks() {
      return keys.size > 0;
    },

    block(entry) {
      const target = parseBlockKey(entry.scope, entry.key, prefixV4, prefixV6);
      if (target === undefined) {
        throw new StateError(
          'SW_ERR_STATE_BLOCK_KEY',
          `${JSON.stringify(entry.key.slice(0, 80))} is not a valid ${entry.scope} block key`,
        );
      }
      if (Number.isNaN(entry.expiresAt) || !Number.isFinite(entry.createdAt)) {
        throw new StateError('SW_ERR_STATE_BLOCK_KEY', 'a block needs a creation time and an expiry');
      }
      const existing = current(find(target), entry.createdAt);
      if (existing !== undefined) {
        // Extend: the later expiry wins; the latest reason and rule describe it.
        existing.reason = entry.reason;
        existing.rule = entry.rule;
        if (entry.expiresAt > existing.expiresAt) {
          existing.expiresAt = entry.expiresAt;
          pushExpiry(existing);
        }
        return existing;
      }
      const b = new Block(entry, target);
      if (count >= maxEntries) {
        const soonest = heap.peek(isCurrent);
        if (soonest !== undefined && soonest.expiresAt <= b.expiresAt) {
          remove(soonest);
          evictions++;
        } else {
          refused++;
          b.live = false;
          return b;
        }
      }
      insert(b);
      return b;
    },

    unblock(key) {
      let removed = false;
      const k = keys.get(key);
      if (k !== undefined) {
        remove(k);
        removed = true;
      }
      for (const scope of ['address', 'network'] as const) {
        const target = key.includes('/') || scope === 'address' ? parseBlockKey(scope, key) : undefined;
        const b = target === undefined ? undefined : find(target);
        if (b?.live) {
          remove(b);
          removed = true;
        }
      }
      return removed;
    },

    list(now) {
      const out: BlockEntry[] = [];
      for (const [, b] of livePairs()) {
        if (current(b, now) !== undefined) out.push(snapshot(b));
      }
      return out;
    },

    sweep(now) {
      let removed = 0;
      for (;;) {
        const b = heap.peek(isCurrent);
        if (b === undefined || b.expiresAt > now) break;
        heap.removeTop();
        remove(b);
        removed++;
      }
      return removed;
    },

    stats() {
      return { active: count, maxEntries, evictions, refused };
    },
  };
}

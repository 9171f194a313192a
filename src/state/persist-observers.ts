/**
 * The block and trust tables with listeners: what an operator or a rule changes is passed
 * on (to the persisted state, to the kernel's drop sets) after the memory table has
 * decided. Listeners must be O(1) and do no I/O: they run on the hot path and queue their
 * work. Lookups pass straight through.
 */

import type { MemoryBlockTable } from './memory-block-table.ts';
import { parseBlockKey } from './memory-block-table.ts';
import type { BlockEntry, TrustTable } from './types.ts';

export interface BlockListener {
  /** A block now in force, added or extended (the entry as the table holds it). */
  added(entry: BlockEntry): void;
  /** A block removed by its key, in each canonical form it may have been stored under. */
  removed(keys: readonly string[]): void;
}

/** The keys `unblock(key)` may have removed, in canonical form. */
export function unblockedKeys(key: string): string[] {
  const keys = new Set<string>([key]);
  const address = parseBlockKey('address', key);
  if (address !== undefined) keys.add(address.key);
  if (key.includes('/')) {
    const network = parseBlockKey('network', key);
    if (network !== undefined) keys.add(network.key);
  }
  return [...keys];
}

export function listenBlockTable(
  inner: MemoryBlockTable,
  listeners: readonly BlockListener[],
): MemoryBlockTable {
  if (listeners.length === 0) return inner;
  return {
    match: (address, now) => inner.match(address, now),
    matchKey: (key, now) => inner.matchKey(key, now),
    hasKeyBlocks: () => inner.hasKeyBlocks(),
    list: (now) => inner.list(now),
    sweep: (now) => inner.sweep(now),
    stats: () => inner.stats(),
    block(entry) {
      const refused = inner.stats().refused;
      const held = inner.block(entry);
      // A full table refused it (it expires sooner than every block held): nothing to pass on.
      if (inner.stats().refused === refused) for (const listener of listeners) listener.added(held);
      return held;
    },
    unblock(key) {
      const removed = inner.unblock(key);
      if (removed) {
        const keys = unblockedKeys(key);
        for (const listener of listeners) listener.removed(keys);
      }
      return removed;
    },
  };
}

export type TrustListener = (address: string, user: string | undefined, now: number) => void;

export function listenTrustTable(inner: TrustTable, listener: TrustListener): TrustTable {
  return {
    succeed(address, user, now) {
      inner.succeed(address, user, now);
      if (address.length > 0 && Number.isFinite(now)) listener(address, user, now);
    },
    isTrusted: (address, now) => inner.isTrusted(address, now),
    isKnownFor: (address, user, now) => inner.isKnownFor(address, user, now),
    stats: () => inner.stats(),
  };
}

import { StateError } from './errors.ts';
import type { TrustTable } from './types.ts';

/**
 * Known-good sources in process memory. An address earns trust by a proven
 * authentication (the security stages decide what proves one: src/security/challenge-proof.ts,
 * or a declared trunk) and keeps it for `ttlMs`
 * after its last success; the (address, user) pair it succeeded for is kept the same way,
 * so that a user under attack keeps working from the places they really use.
 *
 * One Map holds both kinds of entry in least-recently-succeeded order (a success moves an
 * entry to the end); past `maxEntries` the oldest entry gives way. Only a proven
 * authentication creates an entry, so an attacker cannot fill the table without
 * passwords; the bound holds anyway. Lookups do not refresh an entry: only success does.
 */

export interface MemoryTrustTableOptions {
  /** The most entries held, addresses and (address, user) pairs together. Default 100000. */
  readonly maxEntries?: number;
  /** How long a success is trusted after it happened. Default 24 hours. */
  readonly ttlMs?: number;
}

export const DEFAULT_TRUST_TTL_MS = 24 * 60 * 60 * 1000;
const DEFAULT_MAX_ENTRIES = 100_000;
/** Longest user name kept in a pair key; longer names are cut (the stages bound them too). */
const MAX_USER_LENGTH = 128;

function checkInteger(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new StateError('SW_ERR_STATE_OPTION', `${name} must be an integer from ${min} to ${max}`);
  }
}

/** `\n` cannot occur in an address, so the two kinds of key never collide. */
function pairKey(address: string, user: string): string {
  const name = user.length > MAX_USER_LENGTH ? user.slice(0, MAX_USER_LENGTH) : user;
  return `${address}\n${name.toLowerCase()}`;
}

export function createMemoryTrustTable(options: MemoryTrustTableOptions = {}): TrustTable {
  const maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
  const ttlMs = options.ttlMs ?? DEFAULT_TRUST_TTL_MS;
  checkInteger('maxEntries', maxEntries, 2, 50_000_000);
  checkInteger('ttlMs', ttlMs, 1000, 365 * 24 * 60 * 60 * 1000);

  /** Key -> time of the last success. Insertion order is recency order. */
  const entries = new Map<string, number>();

  function touch(key: string, now: number): void {
    entries.delete(key);
    entries.set(key, now);
    if (entries.size > maxEntries) {
      // The Map iterates in insertion order: the first key is the least recently succeeded.
      const oldest = entries.keys().next();
      if (oldest.done !== true) entries.delete(oldest.value);
    }
  }

  function live(key: string, now: number): boolean {
    const at = entries.get(key);
    if (at === undefined) return false;
    if (now - at < ttlMs) return true;
    entries.delete(key);
    return false;
  }

  return {
    succeed(address, user, now) {
      if (address.length === 0 || !Number.isFinite(now)) return;
      touch(address, now);
      if (user !== undefined && user.length > 0) touch(pairKey(address, user), now);
    },
    isTrusted(address, now) {
      return live(address, now);
    },
    isKnownFor(address, user, now) {
      return user.length > 0 && live(pairKey(address, user), now);
    },
    stats() {
      return { entries: entries.size, maxEntries };
    },
  };
}

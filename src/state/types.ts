/**
 * The state interface: short-term activity records and the block table. Memory backend
 * now; a Redis backend later implements the same interfaces (one contract test suite).
 * Every table is bounded: an attacker who makes up new keys evicts old ones, never grows
 * memory past the configured bound.
 */

export interface ActivityStoreStats {
  /** Keys currently tracked (counters plus distinct-count sketches). */
  readonly keys: number;
  /** The configured bound on keys. */
  readonly maxKeys: number;
  /** Estimated bytes held by the store's tables and sketches. */
  readonly approxBytes: number;
  /** Keys dropped to stay within the bound since start. */
  readonly evictions: number;
}

export interface ActivityStore {
  /**
   * Counts one occurrence (or `weight`) under `key` and returns the estimated count in the
   * sliding window of `windowMs` ending at `now`.
   */
  hit(key: string, windowMs: number, now: number, weight?: number): number;
  /** The current estimated count without adding to it. */
  peek(key: string, windowMs: number, now: number): number;
  /**
   * Adds `value` to the set under `key` and returns the estimated number of distinct
   * values seen in the sliding window (HyperLogLog-style estimate; bounded memory per key).
   */
  distinct(key: string, value: string, windowMs: number, now: number): number;
  /** Forgets a key (after a block, for example). */
  reset(key: string): void;
  stats(): ActivityStoreStats;
}

export type BlockScope = 'address' | 'network' | 'key';

export interface BlockEntry {
  /** An IP address, a network in CIDR form (`203.0.113.0/24`), or a rule key (`user:alice`). */
  readonly key: string;
  readonly scope: BlockScope;
  readonly reason: string;
  /** The rule or actor that set it (`invite-flood`, `admin`...). */
  readonly rule: string;
  readonly createdAt: number;
  /** Epoch ms; Infinity for a block until removed. */
  readonly expiresAt: number;
  /** Messages refused because of this block. */
  hits: number;
}

export interface BlockTableStats {
  readonly active: number;
  readonly maxEntries: number;
}

export interface BlockTable {
  /** The block covering this source address (its own entry or its network's), if any. O(1). */
  match(address: string, now: number): BlockEntry | undefined;
  /** The block on a rule key (`user:alice@example.com`), if any. */
  matchKey(key: string, now: number): BlockEntry | undefined;
  /**
   * False when no rule key is blocked, so that a caller can skip building the keys it would
   * look up (expired key blocks not yet removed may still count). O(1).
   */
  hasKeyBlocks(): boolean;
  /** Adds or extends a block; returns the entry in force. Bounded: the soonest-expiring entry gives way when full. */
  block(entry: Omit<BlockEntry, 'hits'>): BlockEntry;
  /** Removes a block by its key; true when there was one. */
  unblock(key: string): boolean;
  list(now: number): BlockEntry[];
  stats(): BlockTableStats;
}

/**
 * Known-good sources: an address that proved an account's password (the upstream accepted
 * its answer to a digest challenge issued to it: src/security/challenge-proof.ts) earns
 * trust for a while, so that shared NAT addresses of real customers are not mistaken for
 * floods, and a user under attack keeps working from them.
 */
export interface TrustTable {
  /** Records a success for `address` (optionally for a user) at `now`. */
  succeed(address: string, user: string | undefined, now: number): void;
  /** True while the address has earned trust (any user). */
  isTrusted(address: string, now: number): boolean;
  /** True while the address has succeeded for this user: their known-good source. */
  isKnownFor(address: string, user: string, now: number): boolean;
  stats(): { readonly entries: number; readonly maxEntries: number };
}

/**
 * The state layer: short-term activity records and the block table (memory backend now,
 * Redis later behind the same interfaces), and address sets for allowlists.
 *
 * - Time is always passed in (`now`, epoch ms); nothing here reads the clock or starts a
 *   timer. The owner of a block table calls its `sweep(now)` from its own timer.
 * - Every table has a caller-set bound (`maxKeys`, `maxEntries`) that a flood of made-up
 *   keys cannot push memory past; `stats()` says how full it is and what it dropped.
 * - Keys from operators (the management API, config) are checked with `parseBlockKey` and
 *   `AddressSet.parse` first; `block` throws a coded `StateError` on a key that does not fit
 *   its scope. Lookups (`match`, `has`) never throw: a malformed address matches nothing.
 */

export { AddressSet, type Cidr, cidrContains, networkOf, parseCidr } from './cidr.ts';
export { STATE_ERRORS, StateError, type StateErrorCode } from './errors.ts';
export {
  formatIPv6,
  normalizeAddress,
  type ParsedAddress,
  parseAddress,
  parseIPv4,
  parseIPv6,
} from './ip.ts';
export {
  createMemoryActivityStore,
  type MemoryActivityStore,
  type MemoryActivityStoreOptions,
} from './memory-activity-store.ts';
export {
  type BlockTarget,
  createMemoryBlockTable,
  type MemoryBlockTable,
  type MemoryBlockTableOptions,
  parseBlockKey,
} from './memory-block-table.ts';
export {
  createMemoryTrustTable,
  DEFAULT_TRUST_TTL_MS,
  type MemoryTrustTableOptions,
} from './memory-trust-table.ts';
export type {
  ActivityStore,
  ActivityStoreStats,
  BlockEntry,
  BlockScope,
  BlockTable,
  BlockTableStats,
  TrustTable,
} from './types.ts';

/** The state layer: activity records and the block table (memory backend), address sets. */

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
export type {
  ActivityStore,
  ActivityStoreStats,
  BlockEntry,
  BlockScope,
  BlockTable,
  BlockTableStats,
} from './types.ts';

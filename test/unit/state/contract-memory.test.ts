/**
 * The shared state contract against the memory backend: one process's tables, which every
 * "node" of the cluster is (what a single sipwarden shares with itself).
 */
import { createMemoryActivityStore } from '../../../src/state/memory-activity-store.ts';
import { createMemoryBlockTable } from '../../../src/state/memory-block-table.ts';
import { createMemoryTrustTable } from '../../../src/state/memory-trust-table.ts';
import { runSharedStateContract, type SharedNode } from './contract-shared-state.ts';

runSharedStateContract('memory', async (count) => {
  const node: SharedNode = {
    blocks: createMemoryBlockTable({ maxEntries: 1000 }),
    trust: createMemoryTrustTable(),
    activity: createMemoryActivityStore({ maxKeys: 1000, hashSeed: 1 }),
  };
  return {
    nodes: Array.from({ length: count }, () => node),
    settle: async () => undefined,
    close: async () => undefined,
  };
});

/**
 * sipwarden nodes' state over a real Redis, for the unit tests of the Redis backend: memory
 * tables wrapped by createRedisState, each node with its own link, a key prefix per cluster.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { EventInput } from '../../../src/events/types.ts';
import { createMemoryActivityStore } from '../../../src/state/memory-activity-store.ts';
import { createMemoryBlockTable } from '../../../src/state/memory-block-table.ts';
import { createMemoryTrustTable } from '../../../src/state/memory-trust-table.ts';
import { createRedisState, type RedisState } from '../../../src/state/redis-state.ts';
import type { SharedCluster } from './contract-shared-state.ts';

let clusters = 0;

export interface RedisNode extends RedisState {
  readonly events: EventInput[];
}

export function newPrefix(): string {
  return `sw-test-${process.pid}-${++clusters}:`;
}

/** A node's state over Redis at `url`, started (connecting in the background). */
export function redisNode(
  url: string,
  keyPrefix: string,
  options: {
    maxBlocks?: number;
    maxKeys?: number;
    syncIntervalMs?: number;
    maxTrackedKeys?: number;
    maxKeysPerSync?: number;
    storedSecret?: string;
  } = {},
): RedisNode {
  const maxBlocks = options.maxBlocks ?? 1000;
  const state = createRedisState(
    {
      blocks: createMemoryBlockTable({ maxEntries: maxBlocks }),
      trust: createMemoryTrustTable(),
      activity: createMemoryActivityStore({ maxKeys: options.maxKeys ?? 1000, hashSeed: 1 }),
    },
    {
      url,
      keyPrefix,
      // Long: the tests call sync themselves (settle), so that nothing depends on timing.
      syncIntervalMs: options.syncIntervalMs ?? 60_000,
      connectTimeoutMs: 2000,
      commandTimeoutMs: 2000,
      maxReconnectDelayMs: 200,
      maxTrackedKeys: options.maxTrackedKeys ?? 1000,
      maxKeysPerSync: options.maxKeysPerSync ?? 2000,
      trustTtlMs: 24 * 60 * 60 * 1000,
      maxBlocks,
      maxTrusted: 1000,
      ...(options.storedSecret === undefined ? {} : { storedSecret: options.storedSecret }),
    },
  );
  const events: EventInput[] = [];
  state.start({ emit: (event) => events.push(event) });
  return Object.assign(state, { events });
}

/** Resolves once `condition` holds, polling; rejects after `timeoutMs` (bounded wait, no timing asserted). */
export async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await sleep(10);
  }
}

/** Every node flushes and syncs twice (the second round reads back what others sent), then a barrier each. */
export async function settle(nodes: readonly RedisState[], now: number): Promise<void> {
  for (let round = 0; round < 2; round++) {
    for (const node of nodes) {
      await node.blocks.flush();
      await node.trust.flush();
      await node.activity.sync(now);
    }
  }
  for (const node of nodes) await node.link.barrier(5000);
}

export async function redisCluster(
  url: string,
  count: number,
): Promise<SharedCluster & { nodes: RedisNode[] }> {
  const prefix = newPrefix();
  const nodes = Array.from({ length: count }, () => redisNode(url, prefix));
  await until(() => nodes.every((n) => n.link.state === 'up'), 30_000, 'every node connected');
  // The first resynchronisation (nothing to do on an empty cluster) has run its course.
  await settle(nodes, Date.now());
  return {
    nodes,
    settle: (now) => settle(nodes, now),
    close: async () => {
      for (const node of nodes) await node.close();
    },
  };
}

/**
 * The Redis state backend against a real redis-server (Debian's, started on a free loopback
 * port): the same contracts as the memory backend (one node's table and store; the state
 * shared by several nodes), then what only a shared backend has to get right: Redis lost and
 * back, empty, with no block lost; unblocks made during an outage; garbage on the channel.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { createMemoryActivityStore } from '../../../src/state/memory-activity-store.ts';
import { createMemoryBlockTable } from '../../../src/state/memory-block-table.ts';
import { createMemoryTrustTable } from '../../../src/state/memory-trust-table.ts';
import { createRedisState, type RedisState } from '../../../src/state/redis-state.ts';
import { freePort } from '../../interop/harness/ports.ts';
import { stopAll } from '../../interop/harness/process.ts';
import { type RedisServer, redisAvailable, startRedis } from '../../interop/harness/redis.ts';
import { runActivityStoreContract } from './activity-store.contract.ts';
import { runBlockTableContract } from './block-table.contract.ts';
import { runSharedStateContract } from './contract-shared-state.ts';
import { newPrefix, type RedisNode, redisCluster, redisNode, settle, until } from './redis-nodes.ts';

const skip = redisAvailable() ? false : 'redis-server is not installed (scripts/install-test-deps.sh)';
let redis: RedisServer;
const opened: { close(): Promise<void> }[] = [];
/**
 * The property runs of the single-node contracts open one state (two connections) per run:
 * all but the newest few are closed as they go, so that the runs (five times as many in CI)
 * stay far below Redis's client limit.
 */
const LIVE_STATES = 20;
const closing: Promise<void>[] = [];

before(async () => {
  if (skip === false) redis = await startRedis();
});
after(async () => {
  await Promise.all(closing);
  for (const state of opened) await state.close();
  await stopAll();
});

/** One node's state over Redis, for the single-node contracts (which read the local side only). */
function single(options: {
  maxEntries?: number;
  networkPrefixV4?: number;
  networkPrefixV6?: number;
  maxKeys?: number;
}) {
  const state: RedisState = createRedisState(
    {
      blocks: createMemoryBlockTable({ maxEntries: options.maxEntries ?? 1000, ...options }),
      trust: createMemoryTrustTable(),
      activity: createMemoryActivityStore({ maxKeys: options.maxKeys ?? 1000, hashSeed: 0x5eed }),
    },
    {
      url: redis.url,
      keyPrefix: newPrefix(),
      syncIntervalMs: 50,
      connectTimeoutMs: 2000,
      commandTimeoutMs: 2000,
      maxReconnectDelayMs: 200,
      maxTrackedKeys: 1000,
      maxKeysPerSync: 2000,
      trustTtlMs: 24 * 60 * 60 * 1000,
      maxBlocks: options.maxEntries ?? 1000,
      maxTrusted: 1000,
    },
  );
  state.start({ emit: () => undefined });
  opened.push(state);
  while (opened.length > LIVE_STATES) closing.push(opened.shift()!.close());
  return state;
}

describe('Redis backend', { skip }, () => {
  runBlockTableContract('redis', (options) => single(options).blocks);
  runActivityStoreContract('redis', (options) => single(options).activity);
  runSharedStateContract('redis', (count) => redisCluster(redis.url, count));

  test('Redis killed: nodes decide on local state, say so, and after it returns empty no block is lost', async () => {
    const prefix = newPrefix();
    const a = redisNode(redis.url, prefix);
    const b = redisNode(redis.url, prefix);
    opened.push(a, b);
    await until(() => a.link.state === 'up' && b.link.state === 'up', 10_000, 'both connected');
    const now = Date.now();
    const base = { scope: 'address' as const, reason: 'INVITE flood', rule: 'invite-flood', createdAt: now };
    a.blocks.block({ ...base, key: '198.51.100.1', expiresAt: now + 600_000 });
    await settle([a, b], now);
    assert.ok(b.blocks.match('198.51.100.1', now), 'before the outage, the block reached b');

    await redis.kill();
    await until(() => a.link.state === 'down' && b.link.state === 'down', 10_000, 'both saw Redis go');
    for (const node of [a, b]) {
      const down = node.events.find((e) => e.type === 'cluster' && e.rule === 'redis-down');
      assert.ok(down, 'a redis-down event');
      assert.equal(down.action, 'alert');
    }
    // Local state decides: the old block holds on both, a new one holds at once where it was made.
    a.blocks.block({ ...base, key: '198.51.100.2', expiresAt: now + 600_000 });
    b.trust.succeed('192.0.2.7', 'alice', now);
    for (const node of [a, b]) assert.ok(node.blocks.match('198.51.100.1', now));
    assert.ok(a.blocks.match('198.51.100.2', now));
    assert.equal(b.blocks.match('198.51.100.2', now), undefined, 'b cannot know yet');
    assert.equal(a.activity.hit('k', 10_000, now), 1);

    await redis.restart();
    await until(
      () => b.blocks.match('198.51.100.2', now) !== undefined,
      10_000,
      'the block made meanwhile reached b',
    );
    await until(
      () => a.trust.isKnownFor('192.0.2.7', 'alice', now),
      10_000,
      'the trust earned meanwhile reached a',
    );
    await until(
      () => [a, b].every((n) => n.events.some((e) => e.type === 'cluster' && e.rule === 'redis-up')),
      10_000,
      'redis-up events',
    );
    // Redis came back empty: the nodes wrote back what they hold, so a node that joins now
    // loads both blocks, the one from before the outage and the one made during it.
    const c = redisNode(redis.url, prefix);
    opened.push(c);
    await until(() => c.blocks.list(Date.now()).length === 2, 10_000, 'a new node loaded both blocks');
    assert.deepEqual(
      c.blocks
        .list(Date.now())
        .map((e) => e.key)
        .sort(),
      ['198.51.100.1', '198.51.100.2'],
    );
    assert.ok(c.trust.isTrusted('192.0.2.7', Date.now()));
  });

  test('Redis hung (connections open, no answers): taken for lost, and resynchronised when it answers again', async () => {
    const prefix = newPrefix();
    const a = redisNode(redis.url, prefix, { syncIntervalMs: 50 });
    const b = redisNode(redis.url, prefix, { syncIntervalMs: 50 });
    opened.push(a, b);
    await until(() => a.link.state === 'up' && b.link.state === 'up', 10_000, 'both connected');
    redis.pause();
    try {
      await until(() => a.link.state === 'down' && b.link.state === 'down', 15_000, 'both took it for lost');
      const down = a.events.find((e) => e.rule === 'redis-down');
      assert.match(String(down?.details?.error), /no answer/);
      const now = Date.now();
      a.blocks.block({
        key: '198.51.100.50',
        scope: 'address',
        reason: 'r',
        rule: 'admin',
        createdAt: now,
        expiresAt: now + 600_000,
      });
      assert.ok(a.blocks.match('198.51.100.50', now));
    } finally {
      redis.resume();
    }
    await until(
      () => b.blocks.match('198.51.100.50', Date.now()) !== undefined,
      15_000,
      'the block reached b',
    );
    await until(() => a.events.some((e) => e.rule === 'redis-up'), 10_000, 'a redis-up event');
  });

  test('an unblock made while a node was away is not brought back by that node', async () => {
    const prefix = newPrefix();
    const a = redisNode(redis.url, prefix);
    const table = createMemoryBlockTable({ maxEntries: 100 });
    const now = Date.now();
    const base = {
      scope: 'address' as const,
      reason: 'r',
      rule: 'admin',
      createdAt: now - 1000,
      expiresAt: now + 600_000,
    };
    const b1 = awayNode(redis.url, prefix, table);
    opened.push(a);
    await until(() => a.link.state === 'up' && b1.link.state === 'up', 10_000, 'both connected');
    b1.blocks.block({ ...base, key: '198.51.100.30' });
    b1.blocks.block({ ...base, key: '198.51.100.31' });
    await settle([a, b1], now);
    assert.ok(a.blocks.match('198.51.100.30', now));
    await b1.close();
    // While b is away: one block is lifted, another made (after the first one's unblock).
    a.blocks.unblock('198.51.100.30');
    await a.blocks.flush();
    // b comes back with the table it had (its process kept running; its link was lost).
    const b2 = awayNode(redis.url, prefix, table);
    opened.push(b2);
    await until(() => b2.link.state === 'up', 10_000, 'b back');
    await settle([a, b2], Date.now());
    assert.equal(table.match('198.51.100.30', now), undefined, 'b applied the unblock it missed');
    assert.equal(a.blocks.match('198.51.100.30', now), undefined, 'and did not bring the block back');
    assert.ok(table.match('198.51.100.31', now), 'the other block stays');
    assert.ok(a.blocks.match('198.51.100.31', now));
  });

  test('malformed messages on the channels are counted and change nothing', async () => {
    const prefix = newPrefix();
    const a = redisNode(redis.url, prefix);
    opened.push(a);
    await until(() => a.link.state === 'up', 10_000, 'connected');
    const raw = new Redis(redis.url);
    try {
      for (const message of [
        'not json',
        '{"o":"x"}',
        '{"o":"x","b":{"key":"","scope":"address","reason":"r","rule":"r","createdAt":1,"expiresAt":null}}',
        '{"o":"x","b":{"key":"198.51.100.9","scope":"galaxy","reason":"r","rule":"r","createdAt":1,"expiresAt":null}}',
        '{"o":"x","b":{"key":"not an address","scope":"address","reason":"r","rule":"r","createdAt":1,"expiresAt":null}}',
      ]) {
        await raw.publish(`${prefix}blocks`, message);
      }
      await raw.publish(`${prefix}trust`, '{"o":"x","m":"[1,2,3]","t":1}');
      await a.link.barrier(5000);
    } finally {
      raw.disconnect();
    }
    assert.equal(a.blocks.list(Date.now()).length, 0);
    assert.equal(a.blocks.syncStats().rejected, 5);
    assert.equal(a.trust.stats().entries, 0);
  });

  test('merging is bounded: keys tracked at once, and keys sent per sync (those waiting longest first)', async () => {
    const prefix = newPrefix();
    const a = redisNode(redis.url, prefix, { maxTrackedKeys: 150, maxKeysPerSync: 100 });
    opened.push(a);
    await until(() => a.link.state === 'up', 10_000, 'connected');
    const window = 60_000;
    const now = Date.now();
    for (let i = 0; i < 200; i++) a.activity.hit(`k${i}`, window, now);
    assert.equal(a.activity.syncStats().tracked, 150);
    assert.equal(a.activity.syncStats().untracked, 50);
    // Every key is still counted locally.
    assert.equal(a.activity.peek('k199', window, now), 1);
    await a.activity.sync(now);
    const raw = new Redis(redis.url);
    try {
      const sent = await raw.keys(`${prefix}c:*`);
      assert.equal(sent.length, 100);
      assert.ok(sent.some((k) => k.endsWith(':k0')) && !sent.some((k) => k.endsWith(':k120')));
      // The next sync starts with the keys not sent yet.
      await a.activity.sync(now);
      assert.equal((await raw.keys(`${prefix}c:*`)).length, 150);
    } finally {
      raw.disconnect();
    }
  });

  test('Redis unreachable at start: an event, and local state decides', async () => {
    const port = await freePort('127.0.0.1', ['tcp']);
    const a: RedisNode = redisNode(`redis://127.0.0.1:${port}`, newPrefix());
    opened.push(a);
    await until(() => a.events.some((e) => e.rule === 'redis-down'), 10_000, 'a redis-down event');
    const now = Date.now();
    a.blocks.block({
      key: '198.51.100.40',
      scope: 'address',
      reason: 'r',
      rule: 'admin',
      createdAt: now,
      expiresAt: now + 1000,
    });
    assert.ok(a.blocks.match('198.51.100.40', now));
    assert.equal(a.blocks.syncStats().pending, 1);
  });
});

/** A node over an existing local block table (the same process, its link lost and made again). */
function awayNode(url: string, prefix: string, table: ReturnType<typeof createMemoryBlockTable>): RedisState {
  const state = createRedisState(
    { blocks: table, trust: createMemoryTrustTable(), activity: createMemoryActivityStore({ maxKeys: 100 }) },
    {
      url,
      keyPrefix: prefix,
      syncIntervalMs: 60_000,
      connectTimeoutMs: 2000,
      commandTimeoutMs: 2000,
      maxReconnectDelayMs: 200,
      maxTrackedKeys: 100,
      maxKeysPerSync: 100,
      trustTtlMs: 60_000,
      maxBlocks: 100,
      maxTrusted: 100,
    },
  );
  state.start({ emit: () => undefined });
  return state;
}

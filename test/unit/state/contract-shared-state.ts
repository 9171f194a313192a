/**
 * The contract of state shared by several nodes, written against the interfaces only: what
 * one node records, every node sees. Each backend runs it from its own test file with a
 * factory that makes a cluster of nodes and a `settle` that returns once what the nodes did
 * has reached every node: the memory backend is one process's state (every "node" is the
 * same tables; `settle` has nothing to do), the Redis backend is separate nodes merged
 * through a real Redis. The same bodies hold for both.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { ActivityStore, BlockTable, TrustTable } from '../../../src/state/types.ts';

export interface SharedNode {
  readonly blocks: BlockTable;
  readonly trust: TrustTable;
  readonly activity: ActivityStore;
}

export interface SharedCluster {
  readonly nodes: readonly SharedNode[];
  /** Resolves once every node's changes until now have reached every node. */
  settle(now: number): Promise<void>;
  close(): Promise<void>;
}

export type SharedClusterFactory = (nodes: number) => Promise<SharedCluster>;

const minute = 60_000;

/** Within `tolerance` (a fraction) of `expected`. */
function near(actual: number, expected: number, tolerance: number, message?: string): void {
  assert.ok(
    Math.abs(actual - expected) <= expected * tolerance,
    `${message ?? ''} ${actual} is not within ${tolerance * 100}% of ${expected}`,
  );
}

export function runSharedStateContract(name: string, factory: SharedClusterFactory): void {
  describe(`${name}: shared state contract`, () => {
    const clusters: SharedCluster[] = [];
    const cluster = async (n: number): Promise<SharedCluster> => {
      const c = await factory(n);
      clusters.push(c);
      return c;
    };
    after(async () => {
      for (const c of clusters) await c.close();
    });

    test('a block made on one node is enforced on every node, and so is its removal', async () => {
      const c = await cluster(3);
      const [a, b, d] = c.nodes as [SharedNode, SharedNode, SharedNode];
      const now = Date.now();
      a.blocks.block({
        key: '198.51.100.7',
        scope: 'address',
        reason: 'INVITE flood',
        rule: 'invite-flood',
        createdAt: now,
        expiresAt: now + minute,
      });
      await c.settle(now);
      for (const node of [b, d]) {
        const entry = node.blocks.match('198.51.100.7', now + 1);
        assert.equal(entry?.key, '198.51.100.7');
        assert.equal(entry?.rule, 'invite-flood');
        assert.equal(entry?.reason, 'INVITE flood');
        assert.equal(entry?.expiresAt, now + minute);
        assert.equal(node.blocks.match('198.51.100.8', now + 1), undefined);
      }
      assert.equal(b.blocks.unblock('198.51.100.7'), true);
      await c.settle(now);
      for (const node of [a, b, d]) assert.equal(node.blocks.match('198.51.100.7', now + 2), undefined);
    });

    test('network, IPv6 and rule-key blocks reach every node in their canonical form', async () => {
      const c = await cluster(2);
      const [a, b] = c.nodes as [SharedNode, SharedNode];
      const now = Date.now();
      const base = { reason: 'test', rule: 'admin', createdAt: now, expiresAt: now + minute };
      a.blocks.block({ ...base, key: '203.0.113.77', scope: 'network' });
      a.blocks.block({ ...base, key: '2001:db8::1', scope: 'address' });
      a.blocks.block({ ...base, key: 'user:alice@example.com', scope: 'key', expiresAt: Infinity });
      await c.settle(now);
      assert.equal(b.blocks.match('203.0.113.1', now)?.key, '203.0.113.0/24');
      assert.equal(b.blocks.match('2001:db8:0::0:1', now)?.key, '2001:db8::1');
      assert.equal(b.blocks.hasKeyBlocks(), true);
      assert.equal(
        b.blocks.matchKey('user:alice@example.com', now + 365 * 24 * 60 * minute)?.expiresAt,
        Infinity,
      );
      assert.deepEqual(
        b.blocks
          .list(now)
          .map((e) => e.key)
          .sort(),
        ['2001:db8::1', '203.0.113.0/24', 'user:alice@example.com'],
      );
    });

    test('extending a block on another node keeps the later expiry everywhere', async () => {
      const c = await cluster(2);
      const [a, b] = c.nodes as [SharedNode, SharedNode];
      const now = Date.now();
      const base = { key: '192.0.2.9', scope: 'address' as const, reason: 'r', rule: 'x', createdAt: now };
      a.blocks.block({ ...base, expiresAt: now + minute });
      await c.settle(now);
      b.blocks.block({ ...base, rule: 'y', expiresAt: now + 10 * minute });
      await c.settle(now);
      a.blocks.block({ ...base, rule: 'z', expiresAt: now + 2 * minute });
      await c.settle(now);
      for (const node of [a, b])
        assert.equal(node.blocks.match('192.0.2.9', now)?.expiresAt, now + 10 * minute);
    });

    test('a flood split across nodes is counted as one: every node sees the total', async () => {
      const c = await cluster(3);
      const window = 10_000;
      const now = Date.now() - (Date.now() % window) + 1;
      c.nodes.forEach((node, i) => {
        for (let k = 0; k < 10 * (i + 1); k++) node.activity.hit('invite:203.0.113.50', window, now);
      });
      await c.settle(now);
      for (const node of c.nodes) assert.equal(node.activity.peek('invite:203.0.113.50', window, now), 60);
      // And the next hit on any node answers with the cluster's count.
      assert.equal(c.nodes[1]!.activity.hit('invite:203.0.113.50', window, now), 61);
      assert.equal(c.nodes[0]!.activity.peek('other-key', window, now), 0);
    });

    test('distinct values split across nodes are counted as one set', async () => {
      const c = await cluster(2);
      const [a, b] = c.nodes as [SharedNode, SharedNode];
      const window = 60_000;
      const now = Date.now() - (Date.now() % window) + 1;
      for (let i = 0; i < 60; i++) a.activity.distinct('users:198.51.100.20', `user${i}`, window, now);
      for (let i = 40; i < 100; i++) b.activity.distinct('users:198.51.100.20', `user${i}`, window, now);
      await c.settle(now);
      near(a.activity.distinct('users:198.51.100.20', 'user100', window, now), 101, 0.1, 'node a');
      near(b.activity.distinct('users:198.51.100.20', 'user101', window, now), 102, 0.1, 'node b');
    });

    test('trust earned on one node holds on every node, for that user only', async () => {
      const c = await cluster(2);
      const [a, b] = c.nodes as [SharedNode, SharedNode];
      const now = Date.now();
      a.trust.succeed('192.0.2.44', 'alice', now);
      await c.settle(now);
      assert.equal(b.trust.isTrusted('192.0.2.44', now + 1), true);
      assert.equal(b.trust.isKnownFor('192.0.2.44', 'alice', now + 1), true);
      assert.equal(b.trust.isKnownFor('192.0.2.44', 'bob', now + 1), false);
      assert.equal(b.trust.isTrusted('192.0.2.45', now + 1), false);
    });
  });
}

/**
 * What several nodes share beyond blocks, against a real redis-server: the cluster secret
 * (SET NX under the key prefix: every node, and every restart, reads the same; a secret file
 * wins over it) and the replicated records that carry dialogs (published to the nodes up,
 * read back by a node that starts later, removals published; garbage on the channel refused).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { loadClusterSecret } from '../../../src/state/cluster-secret.ts';
import type { DialogSink } from '../../../src/state/redis-state.ts';
import { stopAll } from '../../interop/harness/process.ts';
import { type RedisServer, redisAvailable, startRedis } from '../../interop/harness/redis.ts';
import { newPrefix, type RedisNode, redisNode, until } from './redis-nodes.ts';

const skip = redisAvailable() ? false : 'redis-server is not installed (scripts/install-test-deps.sh)';
let redis: RedisServer;
const nodes: RedisNode[] = [];

before(async () => {
  if (skip === false) redis = await startRedis();
});
after(async () => {
  for (const node of nodes) await node.close();
  await stopAll();
});

function node(prefix: string): RedisNode {
  const made = redisNode(redis.url, prefix);
  nodes.push(made);
  return made;
}

function sink() {
  const held = new Map<string, string>();
  const target: DialogSink = {
    put: (id, value) => {
      held.set(id, value);
    },
    remove: (id) => {
      held.delete(id);
    },
  };
  return { held, target };
}

describe('the cluster secret', { skip }, () => {
  test('every node of a prefix reads the same secret from Redis; another prefix has its own', async () => {
    const prefix = newPrefix();
    const source = { url: redis.url, keyPrefix: prefix, timeoutMs: 2000 };
    const [one, two] = await Promise.all([
      loadClusterSecret({ redis: source }),
      loadClusterSecret({ redis: source }),
    ]);
    assert.equal(one.origin, 'redis');
    assert.ok(one.route.equals(two.route));
    assert.equal(one.nonce, two.nonce);
    assert.notEqual(one.nonce, one.route.toString('hex'), 'each use has its own key');
    const again = await loadClusterSecret({ redis: source });
    assert.ok(again.route.equals(one.route), 'a restart keeps it');
    const other = await loadClusterSecret({ redis: { ...source, keyPrefix: newPrefix() } });
    assert.ok(!other.route.equals(one.route));
  });

  test('a secret file wins; Redis unreachable gives a per-process secret and says why', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sw-secret-'));
    const file = join(dir, 'secret');
    writeFileSync(file, `${'k'.repeat(40)}\n`);
    const fromFile = await loadClusterSecret({ secretFile: file });
    const fromFileAgain = await loadClusterSecret({
      secretFile: file,
      redis: { url: redis.url, keyPrefix: newPrefix(), timeoutMs: 2000 },
    });
    assert.equal(fromFile.origin, 'file');
    assert.ok(fromFile.route.equals(fromFileAgain.route));
    writeFileSync(file, 'short');
    await assert.rejects(loadClusterSecret({ secretFile: file }), /fewer than 32 bytes/);
    const down = await loadClusterSecret({
      redis: { url: 'redis://127.0.0.1:1', keyPrefix: 'x:', timeoutMs: 500 },
    });
    assert.equal(down.origin, 'process');
    assert.ok(down.redisError !== undefined && down.redisError.length > 0);
  });
});

describe('dialogs replicated through Redis', { skip }, () => {
  test('published to the nodes up, read back by a node started later, removals published', async () => {
    const prefix = newPrefix();
    const a = node(prefix);
    const b = node(prefix);
    const atB = sink();
    b.attachDialogs(atB.target);
    await until(() => a.link.state === 'up' && b.link.state === 'up', 5000, 'both up');
    const expiresAt = Date.now() + 60_000;
    a.dialogs.put('call-1|x|y|c', '{"leg":1}', expiresAt);
    a.dialogs.put('call-2|x|y|c', '{"leg":2}', expiresAt);
    await until(() => atB.held.size === 2, 5000, 'node b holds both');
    assert.equal(atB.held.get('call-1|x|y|c'), '{"leg":1}');
    // A node that starts later reads them from Redis.
    const c = node(prefix);
    const atC = sink();
    c.attachDialogs(atC.target);
    await until(() => atC.held.size === 2, 5000, 'node c read both back');
    b.dialogs.remove('call-1|x|y|c');
    await until(() => atC.held.size === 1, 5000, 'node c saw the removal');
    const reader = new Redis(redis.url);
    const stored = await reader.keys(`${prefix}dialogs:*`).finally(() => reader.disconnect());
    assert.deepEqual(stored, [`${prefix}dialogs:call-2|x|y|c`]);
    // Another cluster's prefix sees none of it.
    const other = node(newPrefix());
    const atOther = sink();
    other.attachDialogs(atOther.target);
    await until(() => other.link.state === 'up', 5000, 'other up');
    await other.link.barrier(5000);
    assert.equal(atOther.held.size, 0);
  });

  test('garbage on the channel is refused and counted, never applied', async () => {
    const prefix = newPrefix();
    const a = node(prefix);
    const held = sink();
    a.attachDialogs(held.target);
    await until(() => a.link.state === 'up', 5000, 'up');
    const publisher = new Redis(redis.url);
    try {
      for (const text of [
        'not json',
        '{"o":"x","p":[["id", 5, 1]]}',
        `{"o":"x","p":[["${'i'.repeat(2000)}","v",${Date.now() + 60_000}]]}`,
        '{"o":"x","p":[5]}',
        '{"o":"x","r":[7]}',
      ]) {
        await publisher.publish(`${prefix}dialogs`, text);
      }
      await a.link.barrier(5000);
    } finally {
      publisher.disconnect();
    }
    assert.equal(held.held.size, 0);
    assert.equal(a.dialogs.stats().rejected, 5);
  });
});

// Last: it restarts the Redis the other tests share.
describe('the cluster secret after Redis returns empty', { skip }, () => {
  test('a running node writes it back, so that a node started later reads the same', async () => {
    const prefix = newPrefix();
    const source = { url: redis.url, keyPrefix: prefix, timeoutMs: 2000 };
    const first = await loadClusterSecret({ redis: source });
    assert.ok(first.stored !== undefined);
    const running = redisNode(redis.url, prefix, { storedSecret: first.stored });
    nodes.push(running);
    await until(() => running.link.state === 'up', 5000, 'up');
    await redis.restart();
    const reader = new Redis(redis.url);
    try {
      const deadline = Date.now() + 10_000;
      while ((await reader.get(`${prefix}secret`).catch(() => null)) === null && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    } finally {
      reader.disconnect();
    }
    const later = await loadClusterSecret({ redis: source });
    assert.equal(later.origin, 'redis');
    assert.ok(later.route.equals(first.route), 'the node started after the restart holds the same secret');
  });
});

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { createMemoryBlockTable } from '../../../src/state/memory-block-table.ts';
import { createMemoryTrustTable } from '../../../src/state/memory-trust-table.ts';
import { listenBlockTable, listenTrustTable, unblockedKeys } from '../../../src/state/persist-observers.ts';
import { PersistStore, type PersistStoreOptions } from '../../../src/state/persist-store.ts';

const dir = mkdtempSync(join(tmpdir(), 'sw-persist-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const T0 = 1_700_000_000_000;
const HOUR = 3_600_000;

function open(database: string, extra: Partial<PersistStoreOptions> = {}): PersistStore {
  return new PersistStore({
    database,
    maxBlocks: 100,
    maxTrusted: 100,
    trustTtlMs: HOUR,
    clock: () => T0,
    ...extra,
  });
}

function rows(database: string, table: string): number {
  const db = new Database(database, { readonly: true });
  try {
    return (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
  } finally {
    db.close();
  }
}

function wired(store: PersistStore, maxEntries = 100) {
  const memory = createMemoryBlockTable({ maxEntries });
  const blocks = listenBlockTable(memory, [
    {
      added: (entry) => store.blockChanged(entry),
      removed: (keys) => {
        for (const key of keys) store.blockRemoved(key);
      },
    },
  ]);
  const trust = listenTrustTable(createMemoryTrustTable({ maxEntries: 100, ttlMs: HOUR }), (a, u, n) =>
    store.trusted(a, u, n),
  );
  return { memory, blocks, trust };
}

const entry = (key: string, expiresAt: number, rule = 'invite-flood') =>
  ({ key, scope: 'address', reason: `flood from ${key}`, rule, createdAt: T0, expiresAt }) as const;

test('blocks are written only when flushed, and restored with expiry, reason and rule', () => {
  const database = join(dir, `db${files++}.sqlite`);
  const store = open(database);
  const { blocks } = wired(store);
  blocks.block(entry('203.0.113.7', T0 + HOUR));
  blocks.block(entry('203.0.113.8', Number.POSITIVE_INFINITY, 'admin'));
  blocks.block({ ...entry('198.51.100.0/24', T0 + 2 * HOUR), scope: 'network' });
  blocks.block({ ...entry('user:alice@example.com', T0 + HOUR), scope: 'key' });
  // Nothing on disk yet: the hot path only queued the changes.
  assert.equal(rows(database, 'persisted_blocks'), 0);
  assert.equal(store.stats().pending, 4);
  store.flush();
  assert.equal(rows(database, 'persisted_blocks'), 4);
  store.close();

  const again = open(database);
  const restored = again.restore(T0 + 1000);
  again.close();
  const byKey = new Map(restored.blocks.map((b) => [b.key, b]));
  assert.deepEqual(byKey.get('203.0.113.7'), entry('203.0.113.7', T0 + HOUR));
  assert.equal(byKey.get('203.0.113.8')?.expiresAt, Number.POSITIVE_INFINITY);
  assert.equal(byKey.get('203.0.113.8')?.rule, 'admin');
  assert.equal(byKey.get('198.51.100.0/24')?.scope, 'network');
  assert.equal(byKey.get('user:alice@example.com')?.scope, 'key');
  // Restored into a fresh table, they block again.
  const table = createMemoryBlockTable({ maxEntries: 100 });
  for (const b of restored.blocks) table.block(b);
  assert.ok(table.match('198.51.100.9', T0 + 2000));
  assert.ok(table.match('203.0.113.7', T0 + 2000));
});

test('an extension is one row with the later expiry; an expired block is neither restored nor kept', () => {
  const database = join(dir, `db${files++}.sqlite`);
  const store = open(database);
  const { blocks } = wired(store);
  blocks.block(entry('203.0.113.7', T0 + 1000));
  blocks.block({ ...entry('203.0.113.7', T0 + HOUR), reason: 'again' });
  blocks.block(entry('203.0.113.9', T0 + 5000));
  store.close();
  const again = open(database);
  const restored = again.restore(T0 + 10_000);
  again.close();
  assert.deepEqual(
    restored.blocks.map((b) => [b.key, b.expiresAt, b.reason]),
    [['203.0.113.7', T0 + HOUR, 'again']],
  );
  assert.equal(rows(database, 'persisted_blocks'), 1, 'the expired row is deleted');
});

test('unblock removes the row, whatever form the operator wrote the address in', () => {
  const database = join(dir, `db${files++}.sqlite`);
  const store = open(database);
  const { blocks } = wired(store);
  blocks.block(entry('2001:db8::1', T0 + HOUR));
  blocks.block(entry('203.0.113.7', T0 + HOUR));
  store.flush();
  assert.equal(rows(database, 'persisted_blocks'), 2);
  assert.ok(unblockedKeys('2001:DB8:0::1').includes('2001:db8::1'));
  assert.equal(blocks.unblock('2001:DB8:0::1'), true);
  store.close();
  const again = open(database);
  assert.deepEqual(
    again.restore(T0).blocks.map((b) => b.key),
    ['203.0.113.7'],
  );
  again.close();
});

test('a block a full table refused is not persisted; the rows are bounded, the soonest expiring go first', () => {
  const database = join(dir, `db${files++}.sqlite`);
  const store = open(database, { maxBlocks: 2 });
  const { blocks, memory } = wired(store, 2);
  blocks.block(entry('203.0.113.1', Number.POSITIVE_INFINITY));
  blocks.block(entry('203.0.113.2', T0 + HOUR));
  // Full, and it expires sooner than every block held: refused by the table.
  blocks.block(entry('203.0.113.3', T0 + 1000));
  assert.equal(memory.stats().refused, 1);
  assert.equal(store.stats().pending, 2);
  // Evicts .2 in memory; the bound prunes its row when written.
  blocks.block(entry('203.0.113.4', T0 + 2 * HOUR));
  store.close();
  assert.equal(rows(database, 'persisted_blocks'), 2);
  const again = open(database, { maxBlocks: 2 });
  assert.deepEqual(
    again
      .restore(T0)
      .blocks.map((b) => b.key)
      .sort(),
    ['203.0.113.1', '203.0.113.4'],
  );
  again.close();
});

test('trust records survive: addresses and (address, user) pairs within their lifetime', () => {
  const database = join(dir, `db${files++}.sqlite`);
  const store = open(database);
  const { trust } = wired(store);
  trust.succeed('198.51.100.20', 'Alice', T0 - 2 * HOUR);
  trust.succeed('198.51.100.21', 'bob', T0 - 1000);
  store.close();
  const again = open(database);
  const restored = again.restore(T0);
  again.close();
  const table = createMemoryTrustTable({ maxEntries: 100, ttlMs: HOUR });
  for (const r of restored.trust) table.succeed(r.address, r.user, r.succeededAt);
  assert.equal(table.isTrusted('198.51.100.21', T0), true);
  assert.equal(table.isKnownFor('198.51.100.21', 'bob', T0), true);
  // Older than the trust lifetime: neither restored nor kept.
  assert.equal(table.isTrusted('198.51.100.20', T0), false);
  assert.equal(rows(database, 'persisted_trust'), 1);
});

test('the queue is bounded: changes beyond maxPending are counted as dropped', () => {
  const database = join(dir, `db${files++}.sqlite`);
  const store = open(database, { maxPending: 3 });
  for (let i = 1; i <= 5; i++) store.blockChanged(entry(`203.0.113.${i}`, T0 + HOUR));
  // A change to a key already waiting replaces it and takes no room.
  store.blockChanged(entry('203.0.113.1', T0 + 2 * HOUR));
  assert.deepEqual(store.stats(), { rowsWritten: 0, writeErrors: 0, pending: 3, dropped: 2 });
  store.close();
  assert.equal(rows(database, 'persisted_blocks'), 3);
});

test('a write error is counted and the changes are kept for the next flush', () => {
  const database = join(dir, `db${files++}.sqlite`);
  const store = open(database);
  // Another connection holds the write lock longer than the busy timeout.
  const other = new Database(database);
  other.exec('BEGIN IMMEDIATE');
  store.blockChanged(entry('203.0.113.7', T0 + HOUR));
  store.flush();
  assert.equal(store.stats().writeErrors, 1);
  assert.equal(store.stats().pending, 1);
  other.exec('COMMIT');
  other.close();
  store.flush();
  assert.equal(store.stats().pending, 0);
  store.close();
  assert.equal(rows(database, 'persisted_blocks'), 1);
});

test('the file it creates is its owner only, as the event store creates it', () => {
  const database = join(dir, `db${files++}.sqlite`);
  const store = open(database);
  store.blockChanged(entry('203.0.113.7', T0 + HOUR));
  store.flush();
  assert.equal(statSync(database).mode & 0o777, 0o600);
  assert.equal(statSync(`${database}-wal`).mode & 0o777, 0o600);
  store.close();
});

import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { EventBus } from '../../../src/events/event-bus.ts';
import type { SecurityEvent } from '../../../src/events/types.ts';
import { EventStoreError } from '../../../src/store/errors.ts';
import { createEventStore, type EventStore, WRITE_CHUNK } from '../../../src/store/event-store.ts';

const T0 = 1_750_000_000_000;
const DAY = 86_400_000;
const scratch = mkdtempSync(join(tmpdir(), 'sipwarden-store-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

let nextId = 1;
function event(overrides: Partial<SecurityEvent> = {}): SecurityEvent {
  return {
    type: 'flood',
    stage: 'detect:flood',
    rule: 'invite-flood',
    action: 'block',
    source: { address: '203.0.113.7', port: 5060, transport: 'udp' },
    key: 'src:203.0.113.7',
    reason: 'more than 50 INVITE in 10 s',
    status: 503,
    details: { threshold: 50, window: '10s' },
    firstSeen: T0,
    lastSeen: T0,
    count: 1,
    aggregateId: `agg-${nextId++}`,
    ...overrides,
  };
}

function memoryStore(retentionDays = 30, maxRows?: number): EventStore {
  return createEventStore({
    database: ':memory:',
    retentionDays,
    ...(maxRows === undefined ? {} : { maxRows }),
  });
}

test('a written event reads back with every field', () => {
  const store = memoryStore();
  const written = event();
  store.write([written]);
  const [read] = store.query({});
  const { id, ...rest } = read!;
  assert.equal(typeof id, 'number');
  const { final: _final, ...expected } = written;
  assert.deepEqual(rest, expected);
  store.close();
});

test('queries answer newest first, by last occurrence', () => {
  const store = memoryStore();
  store.write([event({ lastSeen: T0 + 1 }), event({ lastSeen: T0 + 3 }), event({ lastSeen: T0 + 2 })]);
  assert.deepEqual(
    store.query({}).map((e) => e.lastSeen),
    [T0 + 3, T0 + 2, T0 + 1],
  );
  store.close();
});

test('since keeps events whose last occurrence is at or after it', () => {
  const store = memoryStore();
  store.write([event({ lastSeen: T0 }), event({ firstSeen: T0, lastSeen: T0 + 5000 })]);
  assert.equal(store.query({ since: T0 + 1 }).length, 1);
  assert.equal(store.query({ since: T0 }).length, 2);
  store.close();
});

test('until keeps events whose first occurrence is at or before it', () => {
  const store = memoryStore();
  store.write([event({ firstSeen: T0, lastSeen: T0 }), event({ firstSeen: T0 + 10, lastSeen: T0 + 20 })]);
  assert.equal(store.query({ until: T0 + 5 }).length, 1);
  store.close();
});

test('type and source filter the events', () => {
  const store = memoryStore();
  store.write([
    event(),
    event({ type: 'scanner' }),
    event({ source: { address: '198.51.100.9', port: 5060, transport: 'tcp' } }),
  ]);
  assert.equal(store.query({ type: 'scanner' }).length, 1);
  assert.equal(store.query({ type: 'flood' }).length, 2);
  assert.equal(store.query({ source: '198.51.100.9' }).length, 1);
  assert.equal(store.query({ type: 'flood', source: '198.51.100.9' }).length, 1);
  store.close();
});

test('limit defaults to 100 and is held to 1..1000', () => {
  const store = memoryStore();
  store.write(Array.from({ length: 1200 }, (_, i) => event({ lastSeen: T0 + i })));
  assert.equal(store.query({}).length, 100);
  assert.equal(store.query({ limit: 5 }).length, 5);
  assert.equal(store.query({ limit: 5000 }).length, 1000);
  assert.equal(store.query({ limit: 0 }).length, 1);
  store.close();
});

test("a later report of an aggregate updates its row's count and last occurrence", () => {
  const store = memoryStore();
  const first = event({ aggregateId: 'agg-x', count: 1, lastSeen: T0 });
  store.write([first]);
  store.write([{ ...first, count: 700, lastSeen: T0 + 9000, final: true }]);
  const rows = store.query({});
  assert.equal(rows.length, 1);
  assert.equal(rows[0]!.count, 700);
  assert.equal(rows[0]!.lastSeen, T0 + 9000);
  assert.equal(rows[0]!.firstSeen, T0);
  store.close();
});

test('the bus and the store end with one row per aggregate holding the final count', () => {
  const store = memoryStore();
  const bus = new EventBus({ windowMs: 10_000 });
  bus.subscribe(store);
  const input = {
    type: 'flood',
    stage: 'detect:flood',
    rule: 'r',
    action: 'block',
    key: 'k',
    reason: 'x',
  } as const;
  bus.emit(input, T0);
  bus.flush(T0 + 1000);
  for (let i = 0; i < 999; i++) bus.emit(input, T0 + 1000 + i);
  bus.flush(T0 + 10_000);
  const rows = store.query({});
  assert.equal(rows.length, 1);
  assert.equal(rows[0]!.count, 1000);
  store.close();
});

test('prune deletes events older than the retention period', () => {
  const store = memoryStore(7);
  store.write([
    event({ lastSeen: T0 - 8 * DAY }),
    event({ lastSeen: T0 - 6 * DAY }),
    event({ lastSeen: T0 }),
  ]);
  assert.equal(store.prune(T0), 1);
  assert.equal(store.query({}).length, 2);
  store.close();
});

test('prune keeps at most maxRows, deleting the oldest', () => {
  const store = memoryStore(30, 10);
  store.write(Array.from({ length: 25 }, (_, i) => event({ lastSeen: T0 + i })));
  assert.equal(store.prune(T0), 15);
  const rows = store.query({ limit: 1000 });
  assert.equal(rows.length, 10);
  assert.equal(rows.at(-1)!.lastSeen, T0 + 15);
  store.close();
});

test('a file database is in WAL mode and keeps events across a reopen', () => {
  const file = join(scratch, 'events.db');
  const store = createEventStore({ database: file, retentionDays: 30 });
  store.write([event()]);
  store.close();
  const raw = new Database(file, { readonly: true });
  assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
  raw.close();
  const again = createEventStore({ database: file, retentionDays: 30 });
  assert.equal(again.query({}).length, 1);
  again.close();
});

test('a database that cannot be opened is an error that names the file', () => {
  const file = join(scratch, 'missing-dir', 'events.db');
  assert.throws(
    () => createEventStore({ database: file, retentionDays: 30 }),
    (error: unknown) =>
      error instanceof EventStoreError &&
      error.code === 'SW_ERR_EVENT_STORE_OPEN' &&
      error.message.includes(file),
  );
});

test('a failing write is counted and logged, never thrown', () => {
  const file = join(scratch, 'dropped.db');
  const store = createEventStore({ database: file, retentionDays: 30 });
  store.write([event()]);
  // Another connection drops the table under the store: its prepared upsert now fails.
  const other = new Database(file);
  other.exec('DROP TABLE events');
  other.close();
  assert.doesNotThrow(() => store.write([event()]));
  assert.equal(store.stats().writeErrors, 1);
  store.close();
});

test('a batch larger than a chunk is written a chunk per event-loop turn', async () => {
  const store = memoryStore();
  store.write(Array.from({ length: 2 * WRITE_CHUNK + 10 }, (_, i) => event({ lastSeen: T0 + i })));
  assert.equal(store.stats().rowsWritten, WRITE_CHUNK);
  assert.equal(store.stats().pending, WRITE_CHUNK + 10);
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(store.stats().rowsWritten, 2 * WRITE_CHUNK + 10);
  assert.equal(store.stats().pending, 0);
  store.close();
});

test('close() writes the rows still waiting', () => {
  const file = join(scratch, 'drain.db');
  const store = createEventStore({ database: file, retentionDays: 30 });
  store.write(Array.from({ length: WRITE_CHUNK + 5 }, () => event()));
  store.close();
  const raw = new Database(file, { readonly: true });
  assert.deepEqual(raw.prepare('SELECT count(*) AS n FROM events').get(), { n: WRITE_CHUNK + 5 });
  raw.close();
});

test('writes after close are ignored and queries after close are a typed error', () => {
  const store = memoryStore();
  store.close();
  assert.doesNotThrow(() => store.write([event()]));
  assert.throws(() => store.query({}), { code: 'SW_ERR_EVENT_STORE_CLOSED' });
});

test('a database file the store creates is its owner’s only, and so are its -wal and -shm files', () => {
  const file = join(scratch, 'private.db');
  const store = createEventStore({ database: file, retentionDays: 30 });
  try {
    store.write([event()]);
    // Open in WAL mode with a write done: SQLite has made both companion files.
    for (const path of [file, `${file}-wal`, `${file}-shm`]) {
      assert.equal((statSync(path).mode & 0o777).toString(8), '600', path);
    }
  } finally {
    store.close();
  }
});

test('an existing database file keeps the mode its owner gave it', () => {
  const file = join(scratch, 'shared.db');
  writeFileSync(file, '');
  chmodSync(file, 0o640);
  const store = createEventStore({ database: file, retentionDays: 30 });
  store.close();
  assert.equal((statSync(file).mode & 0o777).toString(8), '640');
});

test('a database in a directory that does not exist names the file and says why', () => {
  const file = join(scratch, 'no-such-dir', 'events.db');
  assert.throws(
    () => createEventStore({ database: file, retentionDays: 30 }),
    (error: unknown) =>
      error instanceof EventStoreError &&
      error.message === `events.database: cannot open ${file}: the directory does not exist`,
  );
});

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import type { CallDetailRecord } from '../../../src/cdr/cdr.ts';
import { cdrCsv } from '../../../src/cdr/cdr-csv.ts';
import { CDR_WRITE_CHUNK, CdrStore, openCdrReader } from '../../../src/cdr/cdr-store.ts';
import { createEventStore } from '../../../src/store/event-store.ts';

const T0 = 1_750_000_000_000;
const DAY = 86_400_000;
const scratch = mkdtempSync(join(tmpdir(), 'sipwarden-cdrs-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function cdr(overrides: Partial<CallDetailRecord> = {}): CallDetailRecord {
  return {
    callId: 'c1@198.51.100.10',
    direction: 'client',
    legs: 1,
    startTime: T0,
    answerTime: T0 + 1000,
    endTime: T0 + 61_000,
    durationMs: 60_000,
    fromUser: '100',
    fromDomain: 'pbx.example.com',
    toUser: '200',
    toDomain: 'pbx.example.com',
    requestUser: '200',
    requestDomain: 'pbx.example.com',
    authUser: null,
    authDomain: null,
    authMethod: null,
    sourceAddress: '198.51.100.10',
    sourcePort: 5060,
    sourceTransport: 'udp',
    disposition: 'answered',
    status: 200,
    endedBy: 'caller',
    endReason: 'bye',
    refusalStage: null,
    refusalRule: null,
    refusalReason: null,
    ...overrides,
  };
}

function memoryStore(retentionDays = 90, maxRows = 1_000_000): CdrStore {
  return new CdrStore({ database: ':memory:', retentionDays, maxRows });
}

test('a written record reads back with every field', () => {
  const store = memoryStore();
  const record = cdr({
    authUser: 'alice',
    authDomain: 'example.com',
    authMethod: 'digest',
    refusalStage: 'policy',
    refusalRule: 'r1',
    refusalReason: 'no',
  });
  store.write([record]);
  const [read] = store.query({});
  const { id, ...rest } = read!;
  assert.equal(typeof id, 'number');
  assert.deepEqual(rest, record);
  store.close();
});

test('since, until and user filter by start time and by caller or callee, signalled or authenticated', () => {
  const store = memoryStore();
  store.write([
    cdr({ callId: 'a', startTime: T0, fromUser: '100', toUser: '200', requestUser: '200' }),
    cdr({ callId: 'b', startTime: T0 + 10, fromUser: '300', toUser: '100', requestUser: '100' }),
    cdr({ callId: 'c', startTime: T0 + 20, fromUser: '300', toUser: '400', requestUser: '400' }),
    cdr({ callId: 'd', startTime: T0 + 30, fromUser: 'x', authUser: '100', authDomain: 'other.example' }),
  ]);
  const ids = (q: Parameters<CdrStore['query']>[0]) => store.query(q).map((r) => r.callId);
  assert.deepEqual(ids({}), ['d', 'c', 'b', 'a'], 'newest first');
  assert.deepEqual(ids({ since: T0 + 10 }), ['d', 'c', 'b']);
  assert.deepEqual(ids({ until: T0 + 10 }), ['b', 'a']);
  assert.deepEqual(ids({ user: '100' }), ['d', 'b', 'a']);
  assert.deepEqual(ids({ user: '100@pbx.example.com' }), ['b', 'a']);
  assert.deepEqual(ids({ user: '100@OTHER.example' }), ['d']);
  assert.deepEqual(ids({ limit: 2 }), ['d', 'c']);
  store.close();
});

test('prune deletes records that ended before the retention period, and the oldest beyond maxRows', () => {
  const store = new CdrStore({ database: ':memory:', retentionDays: 2, maxRows: 1000, clock: () => T0 });
  store.write([cdr({ callId: 'old', endTime: T0 - 3 * DAY }), cdr({ callId: 'new', endTime: T0 - DAY })]);
  assert.equal(store.prune(T0), 1);
  assert.deepEqual(
    store.query({}).map((r) => r.callId),
    ['new'],
  );
  store.close();
  const capped = memoryStore(90, 1000);
  capped.write(
    Array.from({ length: 1003 }, (_, i) => cdr({ callId: `n${i}`, startTime: T0 + i, endTime: T0 + i })),
  );
  assert.equal(capped.prune(T0), 3);
  const left = capped.query({ limit: 2000 });
  assert.equal(left.length, 1000);
  assert.equal(left.at(-1)?.callId, 'n3', 'the oldest went first');
  capped.close();
});

test('a batch larger than a chunk is written a chunk per event-loop turn; close() writes the rest', async () => {
  const store = memoryStore();
  store.write(Array.from({ length: CDR_WRITE_CHUNK + 5 }, (_, i) => cdr({ callId: `k${i}` })));
  assert.equal(store.stats().rowsWritten, CDR_WRITE_CHUNK);
  assert.equal(store.stats().pending, 5);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(store.stats().rowsWritten, CDR_WRITE_CHUNK + 5);
  store.close();
});

test('a failing write is counted and logged, never thrown', () => {
  const file = join(scratch, 'failing.db');
  const store = new CdrStore({ database: file, retentionDays: 30, maxRows: 1000 });
  store.write([cdr()]);
  const other = new Database(file);
  other.exec('DROP TABLE cdrs');
  other.close();
  assert.doesNotThrow(() => store.write([cdr()]));
  assert.equal(store.stats().writeErrors, 1);
  store.close();
});

test('the records share the events database file, created owner-only, and read back read-only', () => {
  const file = join(scratch, 'shared.db');
  const events = createEventStore({ database: file, retentionDays: 30 });
  const store = new CdrStore({ database: file, retentionDays: 30, maxRows: 1000 });
  assert.equal((statSync(file).mode & 0o777).toString(8), '600');
  store.write([cdr({ callId: 'shared' })]);
  store.close();
  events.close();
  const reader = openCdrReader(file);
  assert.deepEqual(
    reader.query({}).map((r) => r.callId),
    ['shared'],
  );
  reader.close();
  const tables = new Database(file, { readonly: true })
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    .all();
  assert.deepEqual(tables, [{ name: 'cdrs' }, { name: 'events' }]);
});

test('a database without the table reads as empty; a missing file is an error naming it', () => {
  const file = join(scratch, 'events-only.db');
  createEventStore({ database: file, retentionDays: 30 }).close();
  const reader = openCdrReader(file);
  assert.deepEqual(reader.query({}), []);
  reader.close();
  assert.throws(() => openCdrReader(join(scratch, 'none.db')), /none\.db/);
});

test('CSV: a header row, ISO times, empty absent values, quoted commas, formula-looking values defused', () => {
  const text = cdrCsv([
    cdr({ id: 7, fromUser: '=cmd()', toUser: 'a,b', answerTime: null, durationMs: null, endedBy: null }),
  ]);
  const [header, row, end] = text.split('\r\n');
  assert.equal(end, '');
  assert.ok(header?.startsWith('id,callId,direction,legs,startTime,answerTime,endTime,durationMs,fromUser'));
  assert.ok(row?.startsWith(`7,c1@198.51.100.10,client,1,${new Date(T0).toISOString()},,`), row);
  assert.ok(row?.includes(",'=cmd(),"), row);
  assert.ok(row?.includes(',"a,b",'), row);
});

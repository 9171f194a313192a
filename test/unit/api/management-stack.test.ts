import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { createManagementStack, type ManagementStack } from '../../../src/api/management-stack.ts';
import type { EventsAnswer } from '../../../src/api/views.ts';
import { silentLogger } from '../../../src/log/logger.ts';
import { createMemoryBlockTable } from '../../../src/state/memory-block-table.ts';
import { bearer } from './helpers.ts';

const management = {
  enabled: true,
  host: '127.0.0.1',
  port: 0,
  allow: ['127.0.0.0/8'],
  totpRequired: ['admin' as const],
};

/** Headers with a new viewer token of the stack's account store. */
function viewer(stack: ManagementStack): { headers: { authorization: string } } {
  return {
    headers: bearer(
      stack.access.store.createToken({ name: 'viewer', role: 'viewer', createdBy: 'test' }).token,
    ),
  };
}
const events = { database: ':memory:', retentionDays: 30, aggregateWindowMs: 10_000 };

test('the stack serves emitted events and counts them in the metrics', async (t) => {
  const stack = createManagementStack(management, events, {
    blocks: createMemoryBlockTable({ maxEntries: 100 }),
    log: silentLogger,
    processMetrics: false,
    readings: () => ({ transactions: 12 }),
  });
  t.after(() => stack.close());
  const address = await stack.start();
  assert.ok(address !== undefined && address.port > 0);
  for (let i = 0; i < 3; i++) {
    stack.bus.emit(
      {
        type: 'scanner',
        stage: 'detect:scanner',
        rule: 'ua',
        action: 'drop',
        key: 'src:203.0.113.5',
        reason: 'sipvicious',
      },
      Date.now(),
    );
  }
  stack.bus.flush(Date.now());
  const base = `http://127.0.0.1:${address.port}`;
  const answer = (await (
    await fetch(`${base}/api/events?type=scanner`, viewer(stack))
  ).json()) as EventsAnswer;
  assert.equal(answer.events.length, 1);
  assert.equal(answer.events[0]!.count, 3);
  const metrics = await (await fetch(`${base}/metrics`, viewer(stack))).text();
  assert.match(metrics, /^sipwarden_events_total\{type="scanner",action="drop"\} 3$/m);
  assert.match(metrics, /^sipwarden_transactions 12$/m);
  assert.match(metrics, /^sipwarden_event_aggregates_open 1$/m);
});

test('close() reports open aggregates to the store before closing it', async () => {
  const stack = createManagementStack({ ...management, enabled: false }, events, {
    blocks: createMemoryBlockTable({ maxEntries: 100 }),
    log: silentLogger,
    processMetrics: false,
  });
  await stack.start();
  stack.bus.emit(
    { type: 'flood', stage: 'detect:flood', action: 'block', key: 'k', reason: 'r' },
    Date.now(),
  );
  const written: number[] = [];
  stack.bus.subscribe({ write: (batch) => written.push(...batch.map((event) => event.count)) });
  await stack.close();
  assert.deepEqual(written, [1]);
  assert.equal(stack.store.stats().rowsWritten, 1);
});

test('with management disabled there is no server and start() resolves to undefined', async () => {
  const stack = createManagementStack({ ...management, enabled: false }, events, {
    blocks: createMemoryBlockTable({ maxEntries: 100 }),
    log: silentLogger,
    processMetrics: false,
  });
  assert.equal(stack.server, undefined);
  assert.equal(await stack.start(), undefined);
  await stack.close();
});

test('with cdrs, the stack opens their store on the events database, serves /api/cdrs and counts write errors', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sipwarden-stack-cdrs-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const database = join(dir, 'events.db');
  const stack = createManagementStack(
    management,
    { ...events, database },
    {
      blocks: createMemoryBlockTable({ maxEntries: 100 }),
      log: silentLogger,
      processMetrics: false,
      cdrs: { retentionDays: 30, maxRows: 1000 },
    },
  );
  t.after(() => stack.close());
  const address = await stack.start();
  assert.ok(stack.cdrs !== undefined && address !== undefined);
  const base = `http://127.0.0.1:${address.port}`;
  assert.deepEqual(await (await fetch(`${base}/api/cdrs`, viewer(stack))).json(), { cdrs: [] });
  // Another connection drops the table under the store: its next write fails, and is counted.
  const other = new Database(database);
  other.exec('DROP TABLE cdrs');
  other.close();
  stack.cdrs.write([
    {
      callId: 'c',
      direction: 'client',
      legs: 1,
      startTime: 1,
      answerTime: null,
      endTime: 2,
      durationMs: null,
      fromUser: null,
      fromDomain: null,
      toUser: null,
      toDomain: null,
      requestUser: null,
      requestDomain: null,
      authUser: null,
      authDomain: null,
      authMethod: null,
      sourceAddress: '198.51.100.1',
      sourcePort: 5060,
      sourceTransport: 'udp',
      disposition: 'failed',
      status: 500,
      endedBy: 'callee',
      endReason: 'final-response',
      refusalStage: null,
      refusalRule: null,
      refusalReason: null,
    },
  ]);
  const metrics = await (await fetch(`${base}/metrics`, viewer(stack))).text();
  assert.match(metrics, /^sipwarden_cdr_store_write_errors_total 1$/m);
});

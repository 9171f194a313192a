import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { createAuditLog, MAX_ENTRIES_PER_SECOND, openAuditReader } from '../../../src/audit/audit-log.ts';
import { run } from '../../../src/cli/program.ts';
import type { SecurityEvent } from '../../../src/events/types.ts';
import { createEventStore } from '../../../src/store/event-store.ts';
import { T0, testStack } from '../api/helpers.ts';

const scratch = mkdtempSync(join(tmpdir(), 'sipwarden-audit-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

test('entries are written at once and listed newest first, with their detail', () => {
  const audit = createAuditLog({ database: ':memory:', clock: () => T0 });
  audit.record({ actor: 'alice', address: '127.0.0.1', action: 'session.login', outcome: 'ok' });
  audit.record({
    at: T0 + 1000,
    actor: 'alice',
    address: '127.0.0.1',
    action: 'block.add',
    target: '192.0.2.7',
    detail: { duration: '1h', reason: 'scanner' },
    outcome: 'ok',
  });
  audit.record({
    at: T0 + 2000,
    actor: '-',
    address: '198.51.100.1',
    action: 'session.login-failed',
    outcome: 'refused',
  });
  const all = audit.list({});
  assert.deepEqual(
    all.map((e) => e.action),
    ['session.login-failed', 'block.add', 'session.login'],
  );
  assert.deepEqual(all[1], {
    at: T0 + 1000,
    actor: 'alice',
    address: '127.0.0.1',
    action: 'block.add',
    target: '192.0.2.7',
    detail: { duration: '1h', reason: 'scanner' },
    outcome: 'ok',
  });
  assert.equal(all[2]!.at, T0, 'at defaults to the clock');
  assert.deepEqual(
    audit.list({ action: 'session.*' }).map((e) => e.action),
    ['session.login-failed', 'session.login'],
  );
  assert.deepEqual(audit.list({ actor: 'alice', action: 'block.add' }).length, 1);
  assert.deepEqual(
    audit.list({ since: T0 + 500, until: T0 + 1500 }).map((e) => e.action),
    ['block.add'],
  );
  assert.equal(audit.list({ limit: 1 }).length, 1);
  // `session.*` is a family by its dot, not a LIKE pattern: `session_x` is not in it.
  audit.record({ actor: '-', address: '-', action: 'sessionXlogin', outcome: 'ok' });
  assert.equal(audit.list({ action: 'session.*' }).length, 2);
  audit.close();
});

test('the table is append-only: UPDATE and DELETE are refused by the database itself', () => {
  const database = join(scratch, 'append-only.db');
  const audit = createAuditLog({ database });
  audit.record({ actor: 'bob', address: '127.0.0.1', action: 'config.reload', outcome: 'ok' });
  audit.close();
  assert.equal(statSync(database).mode & 0o777, 0o600);
  const db = new Database(database);
  try {
    assert.throws(() => db.prepare("UPDATE audit SET actor = 'mallory'").run(), /append-only/);
    assert.throws(() => db.prepare('DELETE FROM audit').run(), /append-only/);
  } finally {
    db.close();
  }
  const reader = openAuditReader(database);
  assert.equal(reader.list({})[0]!.actor, 'bob');
  reader.close();
});

test("the events' retention prunes the events table and leaves the audit table whole", () => {
  const database = join(scratch, 'shared.db');
  const audit = createAuditLog({ database });
  audit.record({ at: T0, actor: 'alice', address: '127.0.0.1', action: 'block.add', outcome: 'ok' });
  const store = createEventStore({ database, retentionDays: 1, clock: () => T0 });
  const event: SecurityEvent = {
    type: 'block',
    stage: 'admin',
    rule: 'admin',
    action: 'block',
    reason: 'test',
    firstSeen: T0,
    lastSeen: T0,
    count: 1,
  };
  store.write([event]);
  store.drain();
  assert.equal(store.prune(T0 + 10 * 86_400_000), 1, 'the old event is pruned');
  store.close();
  assert.equal(audit.list({}).length, 1, 'the old audit entry stays');
  audit.close();
});

test('fields are cut to their bounds and control characters made printable', () => {
  const audit = createAuditLog({ database: ':memory:', clock: () => T0 });
  audit.record({
    actor: `eve\r\n${'x'.repeat(1000)}`,
    address: 'a'.repeat(500),
    action: 'session.login-failed',
    target: 't'.repeat(5000),
    detail: { big: 'y'.repeat(100_000) },
    outcome: 'refused',
  });
  const [entry] = audit.list({});
  assert.ok(entry !== undefined);
  assert.ok(entry.actor.startsWith('eve??x'));
  assert.ok(entry.actor.length <= 128);
  assert.ok(entry.address.length <= 64);
  assert.ok((entry.target ?? '').length <= 300);
  assert.deepEqual(entry.detail, { truncated: true, keys: ['big'] });
  audit.close();
});

test('a burst beyond the rate bound is counted and reported by one audit.dropped entry', () => {
  let now = T0;
  const audit = createAuditLog({ database: ':memory:', clock: () => now });
  for (let i = 0; i < MAX_ENTRIES_PER_SECOND + 25; i += 1) {
    audit.record({ actor: '-', address: '203.0.113.9', action: 'session.login-failed', outcome: 'refused' });
  }
  assert.equal(audit.stats().written, MAX_ENTRIES_PER_SECOND);
  assert.equal(audit.stats().dropped, 25);
  now += 1000;
  audit.record({ actor: 'alice', address: '127.0.0.1', action: 'session.login', outcome: 'ok' });
  const [latest, report] = audit.list({ limit: 2 });
  assert.equal(latest!.action, 'session.login');
  assert.equal(report!.action, 'audit.dropped');
  assert.deepEqual(report!.detail, { count: 25, limitPerSecond: MAX_ENTRIES_PER_SECOND });
  audit.close();
});

test('GET /api/audit answers the filtered entries and declares the admin role', async () => {
  const audit = createAuditLog({ database: ':memory:', clock: () => T0 });
  const stack = testStack({ audit });
  try {
    // The access layer reads each route's minimum role from its options (deny by default).
    let declared: unknown;
    stack.server.app.addHook('onRequest', async (request) => {
      declared = (request.routeOptions.config as { role?: unknown }).role;
    });
    audit.record({
      at: T0 - 3 * 86_400_000,
      actor: 'alice',
      address: '127.0.0.1',
      action: 'block.add',
      outcome: 'ok',
    });
    audit.record({
      at: T0 - 10 * 86_400_000,
      actor: 'alice',
      address: '127.0.0.1',
      action: 'block.remove',
      outcome: 'ok',
    });
    audit.record({
      at: T0 - 1000,
      actor: 'local',
      address: '-',
      action: 'config.reload',
      outcome: 'refused',
    });
    const week = await stack.inject({ method: 'GET', url: '/api/audit?since=7d' });
    assert.equal(week.statusCode, 200);
    assert.deepEqual(
      (week.json() as { audit: { action: string }[] }).audit.map((e) => e.action),
      ['config.reload', 'block.add'],
    );
    const byActor = await stack.inject({
      method: 'GET',
      url: '/api/audit?actor=alice&action=block.*&limit=5',
    });
    assert.equal((byActor.json() as { audit: unknown[] }).audit.length, 2);
    const bad = await stack.inject({ method: 'GET', url: '/api/audit?since=yesterday' });
    assert.equal(bad.statusCode, 400);
    assert.equal((bad.json() as { error: { code: string } }).error.code, 'SW_ERR_BAD_TIME');
    const badAction = await stack.inject({ method: 'GET', url: "/api/audit?action=x'%20OR" });
    assert.equal(badAction.statusCode, 400);
    assert.equal(declared, 'admin');
  } finally {
    await stack.close();
    audit.close();
  }
});

test('blocks, unblocks and hold releases through the API are audited with their outcome', async () => {
  const audit = createAuditLog({ database: ':memory:', clock: () => T0 });
  const stack = testStack({ audit });
  try {
    const block = await stack.inject({
      method: 'POST',
      url: '/api/blocks',
      payload: { address: '192.0.2.7', duration: '2h', reason: 'scanner' },
    });
    assert.equal(block.statusCode, 201);
    assert.equal((await stack.inject({ method: 'DELETE', url: '/api/blocks/192.0.2.7' })).statusCode, 200);
    assert.equal((await stack.inject({ method: 'DELETE', url: '/api/blocks/192.0.2.8' })).statusCode, 404);
    assert.equal(
      (await stack.inject({ method: 'DELETE', url: '/api/fraud/holds/alice@example.com' })).statusCode,
      404,
    );
    const entries = audit.list({}).reverse();
    assert.deepEqual(
      entries.map((e) => [e.action, e.target, e.outcome, e.address]),
      [
        ['block.add', '192.0.2.7', 'ok', '127.0.0.1'],
        ['block.remove', '192.0.2.7', 'ok', '127.0.0.1'],
        ['block.remove', '192.0.2.8', 'failed', '127.0.0.1'],
        ['fraud.release', 'alice@example.com', 'failed', '127.0.0.1'],
      ],
    );
    assert.deepEqual(entries[0]!.detail, { scope: 'address', duration: '2h', reason: 'scanner' });
  } finally {
    await stack.close();
    audit.close();
  }
});

test('sipwarden audit --since 7d reads the file whether the gateway runs or not', async () => {
  const database = join(scratch, 'cli.db');
  const now = Date.now();
  const audit = createAuditLog({ database });
  audit.record({
    at: now - 8 * 86_400_000,
    actor: 'old',
    address: '127.0.0.1',
    action: 'block.add',
    outcome: 'ok',
  });
  audit.record({
    at: now - 60_000,
    actor: 'local',
    address: '-',
    action: 'config.reload',
    target: 'sipwarden.yaml',
    outcome: 'ok',
  });
  audit.close();
  const text = await capture(['audit', '--db', database, '--since', '7d']);
  assert.equal(text.code, 0);
  assert.match(text.stdout, /^TIME\s+ACTOR\s+ADDRESS\s+ACTION\s+OUTCOME\s+TARGET/);
  assert.match(text.stdout, /local\s+-\s+config\.reload\s+ok\s+sipwarden\.yaml/);
  assert.doesNotMatch(text.stdout, /old/);
  const json = await capture(['audit', '--db', database, '--json', '--action', 'block.add']);
  assert.equal(json.code, 0);
  assert.deepEqual(
    (JSON.parse(json.stdout) as { audit: { actor: string }[] }).audit.map((e) => e.actor),
    ['old'],
  );
  const bad = await capture(['audit', '--db', database, '--since', 'soon']);
  assert.equal(bad.code, 2);
});

/** Runs the command line in this process, capturing what it prints. */
async function capture(args: readonly string[]): Promise<{ code: number; stdout: string }> {
  let stdout = '';
  const write = process.stdout.write;
  const writeErr = process.stderr.write;
  process.stdout.write = ((chunk: string) => {
    stdout += chunk;
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    const code = await run(['node', 'sipwarden', ...args]);
    return { code, stdout };
  } finally {
    process.stdout.write = write;
    process.stderr.write = writeErr;
  }
}

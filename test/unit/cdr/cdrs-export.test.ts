/**
 * The two ways out for call detail records: GET /api/cdrs (in process, with app.inject)
 * and `sipwarden cdrs` reading the database file (the real command line, as a child).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createManagementServer } from '../../../src/api/management-server.ts';
import type { CdrsAnswer } from '../../../src/api/views.ts';
import type { CallDetailRecord } from '../../../src/cdr/cdr.ts';
import { CdrStore } from '../../../src/cdr/cdr-store.ts';
import { EventBus } from '../../../src/events/event-bus.ts';
import { silentLogger } from '../../../src/log/logger.ts';
import { createMetrics } from '../../../src/metrics/metrics.ts';
import { createMemoryBlockTable } from '../../../src/state/memory-block-table.ts';
import { createEventStore } from '../../../src/store/event-store.ts';
import { bearer, testAccess } from '../api/helpers.ts';

const root = join(import.meta.dirname, '..', '..', '..');
const bin = join(root, 'bin', 'sipwarden.js');
const scratch = mkdtempSync(join(tmpdir(), 'sipwarden-cdrs-export-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const HOUR = 3_600_000;

function cdr(
  callId: string,
  startTime: number,
  fromUser: string,
  overrides: Partial<CallDetailRecord> = {},
): CallDetailRecord {
  return {
    callId,
    direction: 'client',
    legs: 1,
    startTime,
    answerTime: startTime + 1000,
    endTime: startTime + 11_000,
    durationMs: 10_000,
    fromUser,
    fromDomain: 'example.com',
    toUser: '200',
    toDomain: 'example.com',
    requestUser: '200',
    requestDomain: 'example.com',
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

test('GET /api/cdrs answers records newest first with since, user and limit, JSON or CSV, and refuses a bad time', async (t) => {
  const now = Date.now();
  const cdrs = new CdrStore({ database: ':memory:', retentionDays: 30, maxRows: 1000 });
  cdrs.write([
    cdr('old', now - 3 * 24 * HOUR, '100'),
    cdr('a', now - 2 * HOUR, '100'),
    cdr('b', now - HOUR, '300', {
      disposition: 'refused',
      refusalStage: 'policy',
      refusalRule: 'deny-premium',
    }),
  ]);
  const events = createEventStore({ database: ':memory:', retentionDays: 30 });
  const access = testAccess();
  const server = createManagementServer({
    host: '127.0.0.1',
    port: 0,
    blocks: createMemoryBlockTable({ maxEntries: 10 }),
    events,
    cdrs,
    metrics: createMetrics({ processMetrics: false }),
    bus: new EventBus({ windowMs: 10_000 }),
    log: silentLogger,
    now: () => now,
    access,
  });
  const viewer = access.store.createToken({ name: 'viewer', role: 'viewer', createdBy: 'test' }).token;
  t.after(async () => {
    await server.close();
    access.store.close();
    cdrs.close();
    events.close();
  });
  const get = (url: string) => server.app.inject({ method: 'GET', url, headers: bearer(viewer) });
  const ids = async (url: string) => ((await get(url)).json() as CdrsAnswer).cdrs.map((r) => r.callId);
  assert.deepEqual(await ids('/api/cdrs'), ['b', 'a', 'old']);
  assert.deepEqual(await ids('/api/cdrs?since=1d'), ['b', 'a']);
  assert.deepEqual(await ids('/api/cdrs?user=100'), ['a', 'old']);
  assert.deepEqual(await ids('/api/cdrs?limit=1'), ['b']);
  const [refused] = ((await get('/api/cdrs?since=90m')).json() as CdrsAnswer).cdrs;
  assert.deepEqual([refused?.refusalStage, refused?.refusalRule], ['policy', 'deny-premium']);
  const csv = await get('/api/cdrs?since=1d&format=csv');
  assert.match(csv.headers['content-type'] as string, /^text\/csv/);
  const lines = csv.body.trimEnd().split('\r\n');
  assert.equal(lines.length, 3);
  assert.ok(lines[0]?.startsWith('id,callId,'));
  assert.ok(lines[1]?.includes(',b,'));
  const bad = await get('/api/cdrs?since=yesterday');
  assert.equal(bad.statusCode, 400);
  assert.equal((bad.json() as { error: { code: string } }).error.code, 'SW_ERR_BAD_TIME');
});

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function sipwarden(args: readonly string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd: scratch }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

test('sipwarden cdrs reads the database a configuration names: a table, CSV or JSON, filtered', async () => {
  const dataDir = join(scratch, 'data');
  const config = join(scratch, 'sipwarden.yaml');
  writeFileSync(config, `dataDir: ${dataDir}\nevents:\n  database: calls.db\n`);
  mkdirSync(dataDir);
  const now = Date.now();
  const store = new CdrStore({ database: join(dataDir, 'calls.db'), retentionDays: 30, maxRows: 1000 });
  store.write([
    cdr('yesterday', now - 30 * HOUR, '100'),
    cdr('today', now - HOUR, '100', { disposition: 'busy', status: 486, answerTime: null, durationMs: null }),
    cdr('other', now - HOUR, '555'),
  ]);
  store.close();

  const csv = await sipwarden(['cdrs', '--config', config, '--since', '1d', '--user', '100', '--csv']);
  assert.equal(csv.code, 0, csv.stderr);
  const lines = csv.stdout.trimEnd().split('\r\n');
  assert.equal(lines.length, 2, csv.stdout);
  assert.ok(lines[1]?.includes(',today,'), csv.stdout);

  const json = await sipwarden(['cdrs', '--db', join(dataDir, 'calls.db'), '--json', '--limit', '2']);
  assert.equal(json.code, 0, json.stderr);
  assert.deepEqual((JSON.parse(json.stdout) as CdrsAnswer).cdrs.map((r) => r.callId).sort(), [
    'other',
    'today',
  ]);

  const table = await sipwarden(['cdrs', '--config', config]);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^START\s+DURATION\s+DISPOSITION/);
  assert.match(table.stdout, /busy\s+486\s+caller\s+100@example\.com/);
  assert.match(table.stdout, /10\.0s\s+answered/);

  const bad = await sipwarden(['cdrs', '--config', config, '--since', 'soon']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--since: "soon" is not a time/);
  const missing = await sipwarden(['cdrs', '--db', join(scratch, 'none.db')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /none\.db/);
});

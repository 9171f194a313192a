/**
 * The management socket: the local command line's way in, trusted as admin (actor `local`)
 * because only the owner can open it (0600); a stale socket file is replaced, a live one
 * is not taken over.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { AuditRecord } from '../../../src/api/auth/audit.ts';
import { ManagementClient } from '../../../src/api/client.ts';
import { createManagementServer, type ManagementServer } from '../../../src/api/management-server.ts';
import { EventBus } from '../../../src/events/event-bus.ts';
import { silentLogger } from '../../../src/log/logger.ts';
import { createMetrics } from '../../../src/metrics/metrics.ts';
import { createMemoryBlockTable } from '../../../src/state/memory-block-table.ts';
import { createEventStore } from '../../../src/store/event-store.ts';
import { testAccess } from './helpers.ts';

function serverOn(path: string, audited: AuditRecord[] = [], required = true): ManagementServer {
  return createManagementServer({
    host: '127.0.0.1',
    port: 0,
    blocks: createMemoryBlockTable({ maxEntries: 10 }),
    events: createEventStore({ database: ':memory:', retentionDays: 1 }),
    metrics: createMetrics({ processMetrics: false }),
    bus: new EventBus({ windowMs: 1000 }),
    log: silentLogger,
    access: testAccess({ now: Date.now() }, audited),
    socket: { path, required },
  });
}

test('over the socket the command line is admin with no token, audited as local; the file is 0600', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sw-socket-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'sipwarden.sock');
  const audited: AuditRecord[] = [];
  const server = serverOn(path, audited);
  t.after(() => server.close());
  await server.listen();
  assert.equal(server.socketPath, path);
  assert.equal(statSync(path).mode & 0o777, 0o600);
  const client = ManagementClient.overSocket(path);
  const answer = await client.block({ address: '203.0.113.5', reason: 'test' });
  assert.equal(answer.block.key, '203.0.113.5');
  const made = await client.request<{ token: string }>('POST', '/api/tokens', { name: 'ci', role: 'viewer' });
  assert.match(made.token, /^swt_/);
  assert.deepEqual(
    audited.map((entry) => [entry.action, entry.actor, entry.address]),
    [
      ['block.add', 'local', 'local'],
      ['token.create', 'local', 'local'],
    ],
  );
  await server.close();
  assert.throws(() => statSync(path), /ENOENT/, 'the socket file is removed at close');
});

test('a stale socket file is replaced; one another process listens on is an error, or a warning when not configured', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sw-socket-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const stale = join(dir, 'stale.sock');
  writeFileSync(stale, '');
  const first = serverOn(stale);
  await first.listen();
  assert.equal(first.socketPath, stale);
  await first.close();

  const held = join(dir, 'held.sock');
  const other = createServer();
  await new Promise<void>((resolve) => other.listen(held, resolve));
  t.after(() => other.close());
  const refused = serverOn(held);
  await assert.rejects(refused.listen(), /management\.socket: another process listens on/);
  const optional = serverOn(held, [], false);
  await optional.listen();
  assert.equal(optional.socketPath, undefined);
  await optional.close();
});

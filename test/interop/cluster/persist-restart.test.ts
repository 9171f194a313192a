/**
 * Blocks survive a restart: sipwarden (a real process) blocks sources through its
 * management API, is killed without a chance to write anything at exit (SIGKILL, as in a
 * crash: the rows were written while it ran), and is started again on the same events
 * database. The source blocked for an hour is still refused on the wire and listed with its
 * reason and rule; the one blocked for two seconds expired while sipwarden was down and is
 * answered again.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { freePort } from '../harness/ports.ts';
import { sipwardenAvailable } from '../harness/sipwarden.ts';
import { tempDir } from '../harness/workdir.ts';
import { type Guarded, startGuard, until } from '../security/helpers.ts';
import { blockVia, listBlocks, probe } from './persist-helpers.ts';

const HOST = '127.0.0.1';
const KEPT = '127.0.0.51';
const EXPIRING = '127.0.0.52';
const NEVER = '127.0.0.53';

const running: Guarded[] = [];
after(async () => {
  for (const guard of running) await guard.sipwarden.stop();
});

function persistedKeys(database: string): string[] {
  const db = new Database(database, { readonly: true, fileMustExist: true });
  try {
    return db
      .prepare<[], { key: string }>('SELECT key FROM persisted_blocks ORDER BY key')
      .all()
      .map((row) => row.key);
  } catch {
    return [];
  } finally {
    db.close();
  }
}

test('a block survives a restart of sipwarden on the same database; an expired one does not', {
  skip: sipwardenAvailable() ? false : 'bin/sipwarden.js not built',
  timeout: 60_000,
}, async () => {
  const database = join(tempDir('persist'), 'sipwarden.db');
  const upstreamPort = await freePort();
  const config = { events: { database } };

  const first = await startGuard(upstreamPort, config);
  running.push(first);
  assert.match((await probe(NEVER, HOST, first.port)) ?? 'no answer', /^SIP\/2\.0 200/);
  await blockVia(first.api, KEPT, '1h', 'kept across restarts');
  await blockVia(first.api, EXPIRING, '2s', 'expires while down');
  assert.equal(await probe(KEPT, HOST, first.port), undefined, 'refused before the restart');
  // Written while running, off the hot path: no exit handler runs after SIGKILL.
  assert.ok(
    await until(() => persistedKeys(database).length === 2, 10_000),
    `rows written: ${persistedKeys(database).join(', ')}`,
  );
  first.sipwarden.process.signal('SIGKILL');
  await first.sipwarden.process.exited;
  // The short block's expiry passes while sipwarden is down.
  await new Promise((resolve) => setTimeout(resolve, 2500));

  const second = await startGuard(upstreamPort, config);
  running.push(second);
  const blocks = await listBlocks(second.api);
  const kept = blocks.find((b) => b.key === KEPT);
  assert.ok(kept, `blocks after the restart: ${JSON.stringify(blocks)}`);
  assert.equal(kept.reason, 'kept across restarts');
  assert.equal(kept.rule, 'admin');
  assert.ok(kept.remainingSeconds !== null && kept.remainingSeconds > 3000, JSON.stringify(kept));
  assert.equal(
    blocks.find((b) => b.key === EXPIRING),
    undefined,
    'the expired block is not restored',
  );
  // On the wire: the kept source gets no answer and its block counts the refusal; the
  // expired one and a source never blocked are answered.
  assert.equal(await probe(KEPT, HOST, second.port), undefined);
  const hits = (await listBlocks(second.api)).find((b) => b.key === KEPT)?.hits ?? 0;
  assert.ok(hits >= 1, `hits ${hits}`);
  assert.match((await probe(EXPIRING, HOST, second.port)) ?? 'no answer', /^SIP\/2\.0 200/);
  assert.match((await probe(NEVER, HOST, second.port)) ?? 'no answer', /^SIP\/2\.0 200/);
  // The expired row was deleted at start, not only skipped.
  assert.deepEqual(persistedKeys(database), [KEPT]);
});

/**
 * sipwarden's own Digest authentication (`security.settings.authenticate.mode: local`) with
 * real peers: sipp UACs answering challenges with `[authentication]` (MD5, qop=auth) through
 * a sipwarden process to sipp UASs that check what sipwarden forwards. The users are added
 * with `sipwarden users add --password-stdin` to the database the process opens.
 *
 * - REGISTER and INVITE: the first attempt is challenged by sipwarden (401 / 407, SHA-256
 *   and MD5 offered; sipp answers MD5), the second passes; the UAS gets no credentials and a
 *   P-Asserted-Identity naming the user, and nothing of the challenged attempt (its ACK is
 *   absorbed).
 * - A wrong password is challenged again, reported as an `authentication` event, and counted
 *   by password guessing: past its per-source threshold the source is blocked.
 * - Credentials captured from an accepted REGISTER and sent again (a replayed nonce count)
 *   are challenged again.
 *
 * Each UAC binds its own loopback address, so that a block of one does not touch the others.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ManagementClient } from '../../../src/api/client.ts';
import { freePort } from '../harness/ports.ts';
import { stopAll } from '../harness/process.ts';
import { describeSipp, runSipp, type SippResult, startSipp } from '../harness/sipp.ts';
import { SIPWARDEN_BIN, type Sipwarden, startSipwarden } from '../harness/sipwarden.ts';
import { tempDir } from '../harness/workdir.ts';

after(() => stopAll());

const HOST = '127.0.0.1';
const DOMAIN = 'pbx.example.com';
const PASSWORD = 'correct-horse-battery';

/** Polls `check` every 100 ms until it is true; false after `timeoutMs`. */
async function until(check: () => Promise<boolean>, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** What the UAS logged of each request's P-Asserted-Identity (uas-*-asserted.xml, -trace_logs). */
function assertedIdentities(run: SippResult): string[] {
  const out: string[] = [];
  for (const file of readdirSync(run.workDir).filter((f) => f.endsWith('_logs.log'))) {
    for (const line of readFileSync(join(run.workDir, file), 'latin1').split('\n')) {
      const m = /asserted (\S+)/.exec(line);
      if (m) out.push(m[1]!);
    }
  }
  return out;
}

/** Adds a user with the CLI, the password on stdin (never on the command line). */
function addUser(database: string, user: string, password: string): void {
  execFileSync(
    process.execPath,
    [SIPWARDEN_BIN, 'users', 'add', `${user}@${DOMAIN}`, '--password-stdin', '--db', database],
    { input: `${password}\n`, stdio: ['pipe', 'pipe', 'pipe'] },
  );
}

describe('sipp through sipwarden authenticating by itself', () => {
  let sipwarden: Sipwarden;
  let port: number;
  let uasPort: number;
  let api: ManagementClient;

  before(async () => {
    uasPort = await freePort();
    port = await freePort();
    const apiPort = await freePort(HOST, ['tcp']);
    const dir = tempDir('sw-local-auth-');
    // The users live in the database sipwarden opens: the events database, a file here.
    const database = join(dir, 'sipwarden.db');
    addUser(database, 'alice', PASSWORD);
    addUser(database, 'bob', PASSWORD);
    sipwarden = await startSipwarden({
      port,
      upstream: { host: HOST, port: uasPort },
      cwd: dir,
      extraArgs: ['--log-level', 'warn'],
      config: {
        management: { port: apiPort },
        events: { database, aggregateWindowMs: 1000 },
        security: {
          settings: {
            // sipp 3.6 stops at a first challenge it cannot answer (SHA-256) instead of taking the next.
            authenticate: { mode: 'local', realm: DOMAIN, algorithms: ['MD5'] },
            'password-guessing': { perSource: { failures: 2 } },
          },
        },
      },
    });
    api = sipwarden.client();
    // The API starts after the SIP listeners: wait for it.
    await until(async () => {
      try {
        await api.blocks();
        return true;
      } catch {
        return false;
      }
    }, 10_000);
  });

  after(async () => {
    await sipwarden.stop();
  });

  test('a REGISTER is challenged, then registered; the registrar sees P-Asserted-Identity, no Authorization', async () => {
    const uas = await startSipp({
      scenario: 'uas-register-asserted.xml',
      localPort: uasPort,
      timeoutS: 30,
      extraArgs: ['-trace_logs'],
    });
    await uas.ready();
    const uac = await runSipp({
      scenario: 'uac-register-digest.xml',
      localPort: await freePort('127.0.4.1'),
      localHost: '127.0.4.1',
      remote: { host: HOST, port },
      service: 'alice',
      auth: { username: 'alice', password: PASSWORD },
      calls: 3,
      rate: 5,
      timeoutS: 20,
    });
    const registrar = await uas.stop();
    assert.equal(uac.successful, 3, describeSipp(uac));
    assert.equal(registrar.successful + registrar.current, 3, describeSipp(registrar));
    assert.equal(registrar.failed, 0, describeSipp(registrar));
    assert.deepEqual(assertedIdentities(registrar), Array(3).fill(`sip:alice@${DOMAIN}`));
  });

  test('an INVITE is challenged, then called through; the UAS sees P-Asserted-Identity, no Proxy-Authorization', async () => {
    const workDir = tempDir('sw-local-auth-');
    const callers = join(workDir, 'callers.csv');
    writeFileSync(callers, `SEQUENTIAL\nbob;[authentication username=bob password=${PASSWORD}]\n`);
    const uas = await startSipp({
      scenario: 'uas-call-asserted.xml',
      localPort: uasPort,
      timeoutS: 30,
      extraArgs: ['-trace_logs'],
    });
    await uas.ready();
    const uac = await runSipp({
      scenario: 'uac-call-digest.xml',
      localPort: await freePort('127.0.4.2'),
      localHost: '127.0.4.2',
      remote: { host: HOST, port },
      service: '200',
      keys: { domain: DOMAIN },
      calls: 3,
      rate: 5,
      timeoutS: 20,
      extraArgs: ['-inf', callers],
    });
    const pbx = await uas.stop();
    assert.equal(uac.successful, 3, `${describeSipp(uac)}\n${describeSipp(pbx)}`);
    assert.equal(pbx.failed, 0, describeSipp(pbx));
    // One INVITE per call reached the UAS: the challenged one and its ACK stayed at sipwarden.
    assert.equal(pbx.messageCounts['0_INVITE_Recv'], 3, describeSipp(pbx));
    assert.deepEqual(assertedIdentities(pbx), Array(3).fill(`sip:bob@${DOMAIN}`));
    // Events reach the store within a second (the bus's batches).
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(
      (await api.events({ type: 'dialog' })).events.length,
      0,
      'no ACK of a challenge taken for a request of an unknown dialog',
    );
  });

  test('a wrong password is challenged again, reported, and counted until the source is blocked', async () => {
    const source = '127.0.4.3';
    const uac = await runSipp({
      scenario: 'uac-register-digest.xml',
      localPort: await freePort(source),
      localHost: source,
      remote: { host: HOST, port },
      service: 'alice',
      auth: { username: 'alice', password: 'not the password' },
      calls: 4,
      rate: 5,
      timeoutS: 15,
    });
    assert.equal(uac.successful, 0, describeSipp(uac));
    const reported = await until(async () =>
      (await api.events({ type: 'authentication' })).events.some(
        (e) => e.rule === 'wrong-password' && e.source?.address === source,
      ),
    );
    assert.ok(
      reported,
      `an authentication event for the wrong password: ${JSON.stringify((await api.events({ type: 'authentication' })).events)}\n${describeSipp(uac)}`,
    );
    const blocked = await until(async () => (await api.blocks()).blocks.some((b) => b.key === source));
    assert.ok(
      blocked,
      `the source is blocked for password guessing: ${JSON.stringify((await api.blocks()).blocks)}`,
    );
  });

  test('credentials captured from an accepted REGISTER and sent again (a replayed nonce count) are refused', async () => {
    const source = '127.0.4.4';
    const uas = await startSipp({ scenario: 'uas-register-asserted.xml', localPort: uasPort, timeoutS: 30 });
    await uas.ready();
    const first = await runSipp({
      scenario: 'uac-register-digest.xml',
      localPort: await freePort(source),
      localHost: source,
      remote: { host: HOST, port },
      service: 'alice',
      auth: { username: 'alice', password: PASSWORD },
      calls: 1,
      timeoutS: 15,
      extraArgs: ['-trace_msg'],
    });
    const registrar = await uas.stop();
    assert.equal(first.successful, 1, describeSipp(first));
    assert.equal(registrar.messageCounts['0_REGISTER_Recv'], 1, describeSipp(registrar));
    // What went over the wire: the accepted REGISTER's Authorization line, as sent.
    const sent = readdirSync(first.workDir)
      .filter((f) => f.endsWith('_messages.log'))
      .map((f) => readFileSync(join(first.workDir, f), 'latin1'))
      .join('\n');
    const credentials = /^Authorization: Digest .*$/m.exec(sent)?.[0];
    assert.ok(credentials, 'the accepted REGISTER carried credentials');

    const replay = await runSipp({
      scenario: 'uac-register-replay.xml',
      localPort: await freePort(source),
      localHost: source,
      remote: { host: HOST, port },
      service: 'alice',
      keys: { credentials: credentials.trim() },
      calls: 1,
      timeoutS: 15,
    });
    assert.equal(replay.successful, 1, `the replay is challenged again: ${describeSipp(replay)}`);
    const reported = await until(async () =>
      (await api.events({ type: 'authentication' })).events.some(
        (e) => e.rule === 'replayed-nonce-count' && e.source?.address === source,
      ),
    );
    assert.ok(reported, 'the replay is reported');
  });
});

/**
 * No false blocks on shared addresses, end to end with real sockets: sipwarden with its
 * default settings (a child process) in front of a PBX that verifies digest for real (the
 * project's own registrar and UAS, src/attack/ua/callee.ts: users 2000-2199, each with its
 * own password), and sipp as the phones.
 *
 * - An office of 200 phones behind one NAT address (127.0.8.1, a socket per phone) comes
 *   back from an outage: every phone registers at once with digest, then people call
 *   (200 calls over 20 s). Nothing is blocked, every request succeeds.
 * - The office's address earned trust with its first successful registration: a burst of
 *   calls over the untrusted INVITE threshold (200 in 2 s) goes through from it, while the
 *   same burst from an address that never authenticated is blocked.
 * - A trunk peer (127.0.9.1, never authenticates: trunks are trusted by address at the
 *   PBX) sends OPTIONS keep-alives and 20 calls/s, each call from another PSTN caller, for
 *   15 s. Nothing is blocked, every request succeeds.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Callee } from '../../../src/attack/ua/callee.ts';
import { freePort } from '../harness/ports.ts';
import { stopAll } from '../harness/process.ts';
import { describeSipp, runSipp, type SippResult, startSipp } from '../harness/sipp.ts';
import { tempDir } from '../harness/workdir.ts';
import {
  allBlocks,
  CALLERS_SCENARIO,
  eventsOf,
  type Guarded,
  startGuard,
  until,
  waitForEvent,
  whyGone,
} from './helpers.ts';

after(() => stopAll());

const TARGET_HOST = '127.0.0.1';
const OFFICE = '127.0.8.1';
const STRANGER = '127.0.8.2';
const TRUNK = '127.0.9.1';
const PHONES = 200;
const REGISTER_SCENARIO = join(import.meta.dirname, 'scenarios', 'uac-register-users.xml');
const CALL_SCENARIO = join(import.meta.dirname, 'scenarios', 'uac-call-users.xml');

const users = Array.from({ length: PHONES }, (_, i) => String(2000 + i));
const passwordOf = (user: string) => `pw-${user}-${user.split('').reverse().join('')}`;

/** The injection file: user;credentials (sipp's keyword);callee (another phone of the office). */
function phonebook(): string {
  const path = join(tempDir('phonebook'), 'users.csv');
  const lines = users.map(
    (u, i) => `${u};[authentication username=${u} password=${passwordOf(u)}];${users[(i * 7 + 1) % PHONES]}`,
  );
  writeFileSync(path, `SEQUENTIAL\n${lines.join('\n')}\n`);
  return path;
}

/** Events that acted on `address` (anything but an alert), once the event bus has flushed (every second). */
async function actedOn(guard: Guarded, address: string): Promise<string[]> {
  await sleep(1500);
  const out: string[] = [];
  for (const type of [
    'flood',
    'password-guessing',
    'enumeration',
    'scanner',
    'malformed',
    'policy',
    'blocked',
  ]) {
    for (const e of await eventsOf(guard, type, address)) {
      if (e.action !== 'alert') out.push(`${e.type}/${e.rule}/${e.action}: ${e.reason}`);
    }
  }
  return out;
}

function assertAllSucceeded(result: SippResult, count: number): void {
  assert.equal(result.successful, count, describeSipp(result));
  assert.equal(result.failed, 0, describeSipp(result));
}

describe('shared addresses through sipwarden with its defaults', () => {
  let pbx: Callee;
  let guard: Guarded;
  let book: string;

  before(async () => {
    const pbxPort = await freePort(TARGET_HOST, ['udp']);
    pbx = await Callee.start(TARGET_HOST, pbxPort, {
      users: new Map(users.map((u) => [u, passwordOf(u)])),
      realm: 'office.test',
    });
    guard = await startGuard(pbxPort);
    book = phonebook();
  });

  after(async () => {
    const gone = guard && whyGone(guard);
    if (gone) console.log(gone);
    pbx?.close();
    await guard?.sipwarden.stop();
  });

  test('an office of 200 phones behind one address registers with digest all at once after an outage: nothing blocked, every registration succeeds', async () => {
    const run = await runSipp({
      scenario: REGISTER_SCENARIO,
      localHost: OFFICE,
      localPort: await freePort(OFFICE),
      remote: { host: TARGET_HOST, port: guard.port },
      transport: 'un',
      calls: PHONES,
      rate: 400,
      timeoutS: 30,
      extraArgs: ['-inf', book],
    });
    assertAllSucceeded(run, PHONES);
    assert.equal(pbx.stats.registered, PHONES);
    assert.deepEqual(await actedOn(guard, OFFICE), []);
    assert.deepEqual(await allBlocks(guard), []);
  });

  test('then the office places 200 calls over 20 s from the same address: every call succeeds, nothing blocked', async () => {
    const answeredBefore = pbx.stats.answered;
    const run = await runSipp({
      scenario: CALL_SCENARIO,
      localHost: OFFICE,
      localPort: await freePort(OFFICE),
      remote: { host: TARGET_HOST, port: guard.port },
      transport: 'un',
      calls: PHONES,
      rate: 10,
      timeoutS: 60,
      extraArgs: ['-inf', book],
    });
    assertAllSucceeded(run, PHONES);
    assert.equal(pbx.stats.answered - answeredBefore, PHONES);
    assert.deepEqual(await actedOn(guard, OFFICE), []);
    assert.deepEqual(await allBlocks(guard), []);
  });

  test('the office earned trust by authenticating: a burst of 300 calls in 1.5 s goes through from it, while the same burst from an address that never authenticated is blocked', async () => {
    const burst = (host: string, port: number) =>
      startSipp({
        scenario: CALL_SCENARIO,
        localHost: host,
        localPort: port,
        remote: { host: TARGET_HOST, port: guard.port },
        calls: 300,
        rate: 200,
        timeoutS: 30,
        extraArgs: ['-inf', book],
      });
    // From the office: over the untrusted invite-flood threshold (200 in 2 s), under the trusted one (2000).
    const office = await (await burst(OFFICE, await freePort(OFFICE))).done();
    assertAllSucceeded(office, 300);
    assert.deepEqual(await actedOn(guard, OFFICE), []);
    // The same burst from a stranger is taken for an INVITE flood.
    const stranger = await burst(STRANGER, await freePort(STRANGER));
    const blocked = await until(
      async () => (await allBlocks(guard)).some((b) => b.key === STRANGER && b.rule === 'invite-flood'),
      15_000,
    );
    const result = await stranger.stop();
    assert.ok(blocked, describeSipp(result));
    assert.ok(result.successful < 300, describeSipp(result));
    const { event, events } = await waitForEvent(
      guard,
      'flood',
      STRANGER,
      (e) => e.rule === 'invite-flood' && e.action === 'block',
    );
    assert.ok(event, JSON.stringify(events));
    assert.equal(event.details?.threshold, 200);
    console.log(
      `burst of 300 calls at 200/s: office (trusted) ${office.successful} succeeded; ` +
        `stranger ${result.successful} succeeded before its block (${event.reason})`,
    );
    assert.equal(
      (await allBlocks(guard)).some((b) => b.key === OFFICE),
      false,
    );
  });

  test('a trunk peer sending OPTIONS keep-alives and 20 calls/s for 15 s is never blocked and every request succeeds', async () => {
    const keepAlives = runSipp({
      scenario: 'uac-options.xml',
      localHost: TRUNK,
      localPort: await freePort(TRUNK),
      remote: { host: TARGET_HOST, port: guard.port },
      calls: 15,
      rate: 1,
      timeoutS: 40,
    });
    const calls = runSipp({
      scenario: CALLERS_SCENARIO,
      localHost: TRUNK,
      localPort: await freePort(TRUNK),
      remote: { host: TARGET_HOST, port: guard.port },
      service: users[42]!,
      calls: 300,
      rate: 20,
      timeoutS: 60,
    });
    const [options, trunk] = await Promise.all([keepAlives, calls]);
    assertAllSucceeded(options, 15);
    assertAllSucceeded(trunk, 300);
    assert.deepEqual(await actedOn(guard, TRUNK), []);
    assert.equal(
      (await allBlocks(guard)).some((b) => b.key === TRUNK),
      false,
    );
  });
});

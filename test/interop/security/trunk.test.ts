/**
 * A PBX trunk with one fixed identity through sipwarden with its default stages (nothing
 * allowlisted), sipp on both sides:
 *
 * - The trunk (127.0.9.1, declared in `security.trunks` with its identity) places 300
 *   calls at 20/s, each 2.5 s long, all from the same From user (about 50 open at once),
 *   while sending OPTIONS keep-alives from the same address. Every call completes and no
 *   stage acts on the trunk: neither the per-user call limit (5) nor any flood rule.
 * - A user account (127.0.9.2, not declared) calling with one identity is still held to 5
 *   concurrent calls: the next ones get 403.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../harness/ports.ts';
import { stopAll } from '../harness/process.ts';
import { describeSipp, runSipp, type SippRun, startSipp } from '../harness/sipp.ts';
import { allBlocks, eventsOf, type Guarded, startGuard, waitForEvent, whyGone } from './helpers.ts';

after(() => stopAll());

const TARGET_HOST = '127.0.0.1';
const TRUNK = '127.0.9.1';
const PHONE = '127.0.9.2';
const CALLS = 300;
const KEEPALIVE_SCENARIO = join(import.meta.dirname, 'scenarios', 'uac-keepalive.xml');

/** Events that acted on `address` (anything but an alert), once the event bus has flushed (every second). */
async function actedOn(guard: Guarded, address: string): Promise<string[]> {
  await sleep(1500);
  const out: string[] = [];
  for (const type of ['flood', 'policy', 'blocked', 'overload', 'enumeration', 'password-guessing']) {
    for (const e of await eventsOf(guard, type, address)) {
      if (e.action !== 'alert') out.push(`${e.type}/${e.rule}/${e.action}: ${e.reason}`);
    }
  }
  return out;
}

describe('a trunk with one fixed identity through sipwarden with its default stages', () => {
  let uas: SippRun;
  let guard: Guarded;

  before(async () => {
    const uasPort = await freePort(TARGET_HOST, ['udp']);
    uas = await startSipp({ scenario: 'uas-answer.xml', localPort: uasPort, transport: 'u1', timeoutS: 120 });
    await uas.ready();
    guard = await startGuard(uasPort, {
      security: {
        // uac-call.xml calls as sipp@<its address>.
        trunks: [
          {
            name: 'carrier',
            addresses: [TRUNK],
            identity: `sipp@${TRUNK}`,
            maxConcurrentCalls: 200,
            // Room for sipp catching up after a stall on a busy machine (it sends the calls it owes at once).
            maxCallsPerSecond: 100,
          },
        ],
      },
    });
  });

  after(async () => {
    const gone = guard && whyGone(guard);
    if (gone) console.log(gone);
    await guard?.sipwarden.stop();
    await uas?.stop();
  });

  test('the declared trunk places 300 calls at 20/s, 2.5 s each, one From user, with OPTIONS keep-alives: every call completes, nothing acts on it', async () => {
    const keepAlives = runSipp({
      scenario: KEEPALIVE_SCENARIO,
      localHost: TRUNK,
      localPort: await freePort(TRUNK),
      remote: { host: TARGET_HOST, port: guard.port },
      calls: 15,
      rate: 1,
      timeoutS: 40,
    });
    const calls = runSipp({
      scenario: 'uac-call.xml',
      localHost: TRUNK,
      localPort: await freePort(TRUNK),
      remote: { host: TARGET_HOST, port: guard.port },
      calls: CALLS,
      rate: 20,
      pauseMs: 2500,
      timeoutS: 60,
    });
    const [options, trunk] = await Promise.all([keepAlives, calls]);
    const context = `${describeSipp(trunk)}\n${guard.sipwarden.process.tail(2000)}`;
    assert.equal(trunk.successful, CALLS, context);
    assert.equal(trunk.failed, 0, context);
    assert.equal(options.successful, 15, describeSipp(options));
    assert.deepEqual(await actedOn(guard, TRUNK), []);
    assert.equal(
      (await allBlocks(guard)).some((b) => b.key === TRUNK),
      false,
    );
  });

  test('a user account that is not declared is still held to 5 concurrent calls: the sixth and later get 403', async () => {
    const run = await runSipp({
      scenario: 'uac-call.xml',
      localHost: PHONE,
      localPort: await freePort(PHONE),
      remote: { host: TARGET_HOST, port: guard.port },
      calls: 10,
      rate: 20,
      // Long enough for all ten to be placed while the first five are still up.
      pauseMs: 4000,
      timeoutS: 30,
      timeoutIsError: false,
    });
    assert.equal(run.successful, 5, describeSipp(run));
    assert.equal(run.failed, 5, describeSipp(run));
    assert.equal(run.failedBy.FailedUnexpectedMessage, 5, describeSipp(run));
    const { event, events } = await waitForEvent(
      guard,
      'policy',
      PHONE,
      (e) => e.rule === 'max-concurrent-calls' && e.status === 403,
    );
    assert.ok(event, JSON.stringify(events));
    assert.equal(event.details?.limit, 5);
  });
});

/**
 * Identity policy on the wire: sipp callers through sipwarden (its default stages, so the
 * policy stage runs where it does in production) to a sipp PBX, with a few rules:
 *
 * - no-premium: calls to premium numbers (+1900..., 0900...) are denied with 403, however
 *   the number is written (`001900...` is `+1900...`);
 * - kiosk-tls: an unauthenticated caller at 127.0.9.3 must use TLS: over UDP it gets 403;
 * - guest-pace: an unauthenticated caller at 127.0.9.4 places at most 3 calls a minute;
 * - allow-rest: everyone else's calls go through.
 *
 * The caller sees the refusal status, the PBX never sees the refused INVITEs, and each
 * refusal's event names the rule that made it.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../harness/ports.ts';
import { stopAll } from '../harness/process.ts';
import { describeSipp, runSipp, type SippRun, startSipp } from '../harness/sipp.ts';
import { currentCounts, type Guarded, startGuard, stepCount, waitForEvent, whyGone } from './helpers.ts';

after(() => stopAll());

const TARGET_HOST = '127.0.0.1';
const PHONE = '127.0.9.2';
const KIOSK = '127.0.9.3';
const GUEST = '127.0.9.4';
const REFUSED_SCENARIO = join(import.meta.dirname, 'scenarios', 'uac-call-refused.xml');

const POLICY = {
  rules: [
    {
      name: 'no-premium',
      match: { to: { prefixes: ['+1900', '0900'] } },
      action: 'deny',
      reason: 'Premium Numbers Barred',
    },
    { name: 'kiosk-tls', match: { authenticated: false, networks: KIOSK }, action: 'require-tls' },
    {
      name: 'guest-pace',
      match: { authenticated: false, networks: GUEST },
      action: 'limit',
      limit: { callsPerMinute: 3 },
    },
    { name: 'allow-rest', match: {}, action: 'allow' },
  ],
};

describe('identity policy rules through a running sipwarden', () => {
  let uas: SippRun;
  let guard: Guarded;

  before(async () => {
    const uasPort = await freePort(TARGET_HOST, ['udp']);
    uas = await startSipp({ scenario: 'uas-answer.xml', localPort: uasPort, transport: 'u1', timeoutS: 120 });
    await uas.ready();
    guard = await startGuard(uasPort, { policy: POLICY });
  });

  after(async () => {
    const gone = guard && whyGone(guard);
    if (gone) console.log(gone);
    await guard?.sipwarden.stop();
    await uas?.stop();
  });

  /**
   * INVITEs the PBX has received so far: sipp rewrites its counts every second, so read a
   * second and a half after the last call.
   */
  async function invitesAtPbx(): Promise<number> {
    await sleep(1500);
    return stepCount(await currentCounts(uas), 'INVITE_Recv');
  }

  test('calls to premium numbers get 403 on the wire, never reach the PBX, and the event names no-premium', async () => {
    const before = await invitesAtPbx();
    for (const service of ['0019005550100', '09001234567']) {
      const run = await runSipp({
        scenario: REFUSED_SCENARIO,
        localHost: PHONE,
        localPort: await freePort(PHONE),
        remote: { host: TARGET_HOST, port: guard.port },
        service,
        calls: 3,
        rate: 10,
        timeoutS: 20,
      });
      assert.equal(run.successful, 3, `${service}: ${describeSipp(run)}`);
      assert.equal(run.failed, 0, describeSipp(run));
    }
    const { event, events } = await waitForEvent(guard, 'policy', PHONE, (e) => e.rule === 'no-premium');
    assert.ok(event, JSON.stringify(events));
    assert.equal(event.status, 403);
    assert.equal(event.stage, 'policy');
    assert.equal(event.reason, 'rule no-premium: denied');
    assert.ok(
      events.filter((e) => e.rule === 'no-premium').some((e) => e.details?.destination === '+19005550100'),
    );
    assert.equal(await invitesAtPbx(), before);
  });

  test('an unauthenticated caller held to TLS gets 403 over UDP, naming kiosk-tls', async () => {
    const run = await runSipp({
      scenario: REFUSED_SCENARIO,
      localHost: KIOSK,
      localPort: await freePort(KIOSK),
      remote: { host: TARGET_HOST, port: guard.port },
      service: '2001',
      calls: 2,
      rate: 10,
      timeoutS: 20,
    });
    assert.equal(run.successful, 2, describeSipp(run));
    const { event, events } = await waitForEvent(guard, 'policy', KIOSK, (e) => e.rule === 'kiosk-tls');
    assert.ok(event, JSON.stringify(events));
    assert.equal(event.status, 403);
    assert.match(event.reason, /TLS required \(came over udp\)/);
  });

  test('a caller over its calls per minute gets 403 for the calls past the limit, naming guest-pace', async () => {
    const run = await runSipp({
      scenario: 'uac-call.xml',
      localHost: GUEST,
      localPort: await freePort(GUEST),
      remote: { host: TARGET_HOST, port: guard.port },
      service: '2001',
      calls: 5,
      rate: 10,
      timeoutS: 30,
      timeoutIsError: false,
    });
    assert.equal(run.successful, 3, describeSipp(run));
    assert.equal(run.failed, 2, describeSipp(run));
    assert.equal(run.failedBy.FailedUnexpectedMessage, 2, describeSipp(run));
    const { event, events } = await waitForEvent(guard, 'policy', GUEST, (e) => e.rule === 'guest-pace');
    assert.ok(event, JSON.stringify(events));
    assert.equal(event.status, 403);
    assert.equal(event.details?.limit, 3);
  });

  test('other calls are allowed by allow-rest and complete', async () => {
    const before = await invitesAtPbx();
    const run = await runSipp({
      scenario: 'uac-call.xml',
      localHost: PHONE,
      localPort: await freePort(PHONE),
      remote: { host: TARGET_HOST, port: guard.port },
      service: '2001',
      calls: 5,
      rate: 10,
      timeoutS: 30,
    });
    assert.equal(run.successful, 5, describeSipp(run));
    assert.equal(run.failed, 0, describeSipp(run));
    assert.equal((await invitesAtPbx()) - before, 5);
  });
});

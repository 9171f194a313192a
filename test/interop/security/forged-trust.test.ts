/**
 * Trust cannot be forged, end to end: sipwarden with its default settings in front of a
 * PBX (the project's callee, src/attack/ua/callee.ts) that answers OPTIONS 200 without
 * looking at credentials, as PBXes do. A source sends one OPTIONS with a made-up
 * Authorization header, which the PBX answers 200; then a burst of calls over the
 * untrusted INVITE threshold (200 in 2 s). The OPTIONS proved no password, so the source
 * is not trusted and the burst is blocked as an INVITE flood. (A source that proved its
 * password by a digest registration is let through the same burst: shared-address.test.ts.)
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Callee } from '../../../src/attack/ua/callee.ts';
import { freePort } from '../harness/ports.ts';
import { stopAll } from '../harness/process.ts';
import { describeSipp, runSipp, startSipp } from '../harness/sipp.ts';
import {
  allBlocks,
  CALLERS_SCENARIO,
  type Guarded,
  startGuard,
  until,
  waitForEvent,
  whyGone,
} from './helpers.ts';

after(() => stopAll());

const TARGET_HOST = '127.0.0.1';
const FORGER = '127.0.10.1';
const FORGED_SCENARIO = join(import.meta.dirname, 'scenarios', 'uac-options-forged-auth.xml');

describe('trust from a forged Authorization header', () => {
  let pbx: Callee;
  let guard: Guarded;

  before(async () => {
    const pbxPort = await freePort(TARGET_HOST, ['udp']);
    pbx = await Callee.start(TARGET_HOST, pbxPort, {});
    guard = await startGuard(pbxPort);
  });

  after(async () => {
    const gone = guard && whyGone(guard);
    if (gone) console.log(gone);
    pbx?.close();
    await guard?.sipwarden.stop();
  });

  test('an OPTIONS with a made-up Authorization header answered 200 earns no trust: a burst of calls after it is blocked as a flood', async () => {
    const options = await runSipp({
      scenario: FORGED_SCENARIO,
      localHost: FORGER,
      localPort: await freePort(FORGER),
      remote: { host: TARGET_HOST, port: guard.port },
      service: '2000',
      calls: 1,
      rate: 1,
      timeoutS: 10,
    });
    assert.equal(options.successful, 1, describeSipp(options));

    const burst = await startSipp({
      scenario: CALLERS_SCENARIO,
      localHost: FORGER,
      localPort: await freePort(FORGER),
      remote: { host: TARGET_HOST, port: guard.port },
      service: '2001',
      calls: 300,
      rate: 200,
      timeoutS: 30,
    });
    const blocked = await until(
      async () => (await allBlocks(guard)).some((b) => b.key === FORGER && b.rule === 'invite-flood'),
      15_000,
    );
    const result = await burst.stop();
    assert.ok(blocked, describeSipp(result));
    assert.ok(result.successful < 300, describeSipp(result));
    const { event, events } = await waitForEvent(
      guard,
      'flood',
      FORGER,
      (e) => e.rule === 'invite-flood' && e.action === 'block',
    );
    assert.ok(event, JSON.stringify(events));
    // The untrusted threshold: the made-up credentials did not raise it.
    assert.equal(event.details?.threshold, 200);
  });
});

/**
 * Real peers calling through sipwarden with its default configuration (security pipeline
 * on, nothing allowlisted): sipp UAC -> sipwarden -> sipp UAS over UDP and TCP, and a
 * REGISTER with digest authentication passing through to a challenging registrar. The
 * calling sipp places 20 calls/s under one caller identity, as a trunk does: it is
 * declared as one (`security.trunks`), or on a busy machine its calls overlap past the
 * per-user limit of 5 concurrent calls and get 403.
 * Loopback only, free ports, every process stopped by its pid.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { freePort } from './harness/ports.ts';
import { stopAll } from './harness/process.ts';
import { describeSipp, runSipp, type SippResult, type SippTransport, startSipp } from './harness/sipp.ts';
import { type Sipwarden, startSipwarden } from './harness/sipwarden.ts';

after(() => stopAll());

const HOST = '127.0.0.1';

describe('sipp calls through sipwarden with its defaults', () => {
  let uasPort: number;
  let sipwarden: Sipwarden;

  before(async () => {
    uasPort = await freePort();
    sipwarden = await startSipwarden({
      port: await freePort(),
      upstream: { host: HOST, port: uasPort },
      listenKinds: ['udp', 'tcp'],
      extraArgs: ['--log-level', 'warn'],
      config: { security: { trunks: [{ name: 'sipp', addresses: [HOST], identity: `sipp@${HOST}` }] } },
    });
  });

  after(async () => {
    await sipwarden.stop();
  });

  /**
   * A bounded batch of calls (INVITE, 180, 200, ACK, BYE) at a modest steady rate. The
   * caller uses `transport`; the upstream is always reached over UDP, so the TCP runs also
   * cross a transport change (two Record-Route entries).
   */
  async function callBatch(
    transport: SippTransport,
    count: number,
  ): Promise<{ uac: SippResult; uas: SippResult }> {
    const uas = await startSipp({
      scenario: 'uas-call.xml',
      localPort: uasPort,
      transport: 'u1',
      timeoutS: 60,
    });
    await uas.ready();
    const uac = await runSipp({
      scenario: 'uac-call.xml',
      localPort: await freePort(),
      remote: { host: HOST, port: sipwarden.port },
      transport,
      calls: count,
      rate: 20,
      timeoutS: 40,
      responseTimes: true,
    });
    return { uac, uas: await uas.stop() };
  }

  function assertAllPassed(run: { uac: SippResult; uas: SippResult }, count: number): void {
    const context = `${describeSipp(run.uac)}\n${sipwarden.process.tail()}`;
    assert.equal(run.uac.successful, count, context);
    assert.equal(run.uac.failed, 0, context);
    // Every in-dialog request went through sipwarden to the UAS: ACK and BYE follow the Record-Route.
    assert.equal(run.uas.messageCounts['3_ACK_Recv'], count, describeSipp(run.uas));
    assert.equal(run.uas.messageCounts['4_BYE_Recv'], count, describeSipp(run.uas));
  }

  test('200 calls over UDP all complete', async () => {
    assertAllPassed(await callBatch('u1', 200), 200);
  });

  test('100 calls over TCP on one connection all complete', async () => {
    assertAllPassed(await callBatch('t1', 100), 100);
  });

  test('40 calls over TCP with a connection per call all complete', async () => {
    assertAllPassed(await callBatch('tn', 40), 40);
  });
});

describe('REGISTER with digest authentication through sipwarden', () => {
  async function register(password: string): Promise<{ uac: SippResult; uas: SippResult }> {
    const registrarPort = await freePort();
    const sipwarden = await startSipwarden({
      port: await freePort(),
      upstream: { host: HOST, port: registrarPort },
      extraArgs: ['--log-level', 'warn'],
    });
    try {
      const registrar = await startSipp({
        scenario: 'uas-register-digest.xml',
        localPort: registrarPort,
        timeoutS: 30,
        keys: { user: 'alice', password: 's3cret' },
      });
      await registrar.ready();
      const uac = await runSipp({
        scenario: 'uac-register-digest.xml',
        localPort: await freePort(),
        remote: { host: HOST, port: sipwarden.port },
        service: 'alice',
        auth: { username: 'alice', password },
        calls: password === 's3cret' ? 5 : 1,
        rate: 10,
        timeoutS: 15,
      });
      return { uac, uas: await registrar.stop() };
    } finally {
      await sipwarden.stop();
    }
  }

  test('the challenge and the authenticated REGISTER pass through, and the right password registers', async () => {
    const { uac, uas } = await register('s3cret');
    assert.equal(uac.successful, 5, describeSipp(uac));
    assert.equal(uac.failed, 0, describeSipp(uac));
    assert.equal(uas.messageCounts['1_401_Sent'], 5, describeSipp(uas));
  });

  test('a wrong password is refused by the registrar, not by sipwarden', async () => {
    const { uac, uas } = await register('guess');
    assert.equal(uac.successful, 0, describeSipp(uac));
    assert.equal(uac.failed, 1, describeSipp(uac));
    assert.equal(uas.messageCounts['1_401_Sent'], 1, describeSipp(uas));
  });
});

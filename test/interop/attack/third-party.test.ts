import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { runByeSpoof } from '../../../src/attack/kinds/bye-spoof.ts';
import { runResponseInject } from '../../../src/attack/kinds/response-inject.ts';
import { runSpit } from '../../../src/attack/kinds/spit.ts';
import { parseUserList } from '../../../src/attack/options.ts';
import { Callee } from '../../../src/attack/ua/callee.ts';
import { startKamailio } from '../harness/kamailio.ts';
import { freePort } from '../harness/ports.ts';
import { stopAll } from '../harness/process.ts';
import { startBareUas } from './helpers.ts';

after(() => stopAll());

const limits = (count: number, rate = 0) => ({ count, durationMs: 10_000, rate });

test('through a proxy that keeps no dialog state, a forged BYE ends the call and a forged CANCEL cancels one', async () => {
  const port = await freePort();
  const uas = { address: '127.0.0.1', port: await freePort('127.0.0.1', ['udp']) };
  const kamailio = await startKamailio({
    variant: 'proxy',
    port,
    upstream: { host: uas.address, port: uas.port },
  });
  const callee = await Callee.start(uas.address, uas.port);
  try {
    const report = await runByeSpoof({ target: { address: '127.0.0.1', port }, callee, limits: limits(3) });
    assert.equal(report.details.bye, 'killed');
    assert.equal(report.details.cancel, 'cancelled');
    // The forgeries came from the third address, and reached our callee through the proxy.
    assert.equal(report.sources.first, '127.0.0.66');
    assert.ok(callee.log.some((r) => r.method === 'BYE' && r.forged));
    assert.ok(callee.log.some((r) => r.method === 'CANCEL'));
    assert.equal(callee.stats.cancelled, 1);
    assert.equal(report.succeeded, true);
  } finally {
    callee.close();
    await kamailio.stop();
  }
});

test('through a proxy that matches responses on the branch alone, forged responses reach the caller', async () => {
  const port = await freePort();
  const uas = { address: '127.0.0.1', port: await freePort('127.0.0.1', ['udp']) };
  const kamailio = await startKamailio({
    variant: 'proxy',
    port,
    upstream: { host: uas.address, port: uas.port },
  });
  const callee = await Callee.start(uas.address, uas.port);
  try {
    const report = await runResponseInject({
      target: { address: '127.0.0.1', port },
      callee,
      limits: limits(10),
    });
    assert.ok((report.details.reached as number) > 0, report.outcome);
    assert.equal(report.details.forged, 10);
    assert.equal(report.succeeded, true);
  } finally {
    callee.close();
    await kamailio.stop();
  }
});

test('against a bare sipp UAS, the callee accepts a forged BYE and the caller takes forged responses', async () => {
  const uas = await startBareUas(60);
  const target = { address: '127.0.0.1', port: uas.port };
  const bye = await runByeSpoof({ target, limits: limits(2) });
  assert.equal(bye.details.bye, 'killed');
  assert.ok((bye.details.forgedByeAccepted as number) >= 1);
  assert.equal(bye.succeeded, true);
  const inject = await runResponseInject({ target, limits: limits(4) });
  assert.equal(inject.details.reached, 4);
  assert.equal(inject.succeeded, true);
  await uas.run.stop();
});

test('spit places every call it reports, each to a different user, and counts those answered', async () => {
  const port = await freePort('127.0.0.1', ['udp']);
  const callee = await Callee.start('127.0.0.1', port);
  try {
    const report = await runSpit({
      target: { address: '127.0.0.1', port },
      users: parseUserList('300-319'),
      holdMs: 50,
      concurrency: 5,
      limits: limits(20, 50),
    });
    assert.equal(report.answers.sent, 20);
    assert.deepEqual(report.answers.byStatus, { 200: 20 });
    assert.equal(report.details.reachedUsers, 20);
    assert.equal(callee.stats.invites, 20);
    assert.equal(callee.stats.byes, 20);
    assert.equal(report.succeeded, true);
  } finally {
    callee.close();
  }
});

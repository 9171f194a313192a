import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { runCrack } from '../../../src/attack/kinds/crack.ts';
import { runEnumerate } from '../../../src/attack/kinds/enumerate.ts';
import { runScan } from '../../../src/attack/kinds/scan.ts';
import { parseUserList } from '../../../src/attack/options.ts';
import { resolveScanTarget } from '../../../src/attack/target.ts';
import { Callee } from '../../../src/attack/ua/callee.ts';
import { freePort } from '../harness/ports.ts';
import { stopAll } from '../harness/process.ts';
import { startSipp } from '../harness/sipp.ts';
import { startBareUas } from './helpers.ts';
import { digestRegistrar } from './targets.ts';

after(() => stopAll());

const limits = (count: number, rate = 0) => ({ count, durationMs: 10_000, rate });

test('scan sweeps a range and finds exactly the address and port where sipp listens', async () => {
  const uas = await startBareUas(30);
  const report = await runScan({
    scan: resolveScanTarget(`127.0.0.0/29:${uas.port}`, [uas.port - 1, uas.port, uas.port + 1], false),
    limits: limits(100, 200),
    answerWaitMs: 500,
  });
  assert.equal(report.answers.sent, 18);
  assert.deepEqual(
    (report.details.found as { address: string; port: number }[]).map((f) => `${f.address}:${f.port}`),
    [`127.0.0.1:${uas.port}`],
  );
  assert.equal(report.succeeded, true);
  await uas.run.stop();
});

test('enumerate tells existing extensions (401) from unknown ones (404) over REGISTER', async () => {
  const port = await freePort('127.0.0.1', ['udp']);
  const users = new Map(parseUserList('100-104').map((u) => [u, 'secret']));
  const callee = await Callee.start('127.0.0.1', port, { users });
  try {
    const report = await runEnumerate({
      method: 'REGISTER',
      users: parseUserList('98-108'),
      target: { address: '127.0.0.1', port },
      limits: limits(100, 200),
      answerWaitMs: 500,
    });
    const found = report.details.found as { user: string; status: number }[];
    assert.deepEqual(
      found.map((f) => f.user),
      ['100', '101', '102', '103', '104'],
    );
    assert.ok(found.every((f) => f.status === 401));
    assert.equal(report.details.notFound, 6);
    assert.equal((report.details.baseline as { status: number }).status, 404);
    assert.equal(callee.stats.registers, 12);
    assert.equal(report.succeeded, true);
  } finally {
    callee.close();
  }
});

test('enumerate over INVITE finds the extensions that ring and cleans every call up', async () => {
  const port = await freePort('127.0.0.1', ['udp']);
  const users = new Map(parseUserList('200-201').map((u) => [u, 'x']));
  const callee = await Callee.start('127.0.0.1', port, { users });
  try {
    const report = await runEnumerate({
      method: 'INVITE',
      users: parseUserList('199-202'),
      target: { address: '127.0.0.1', port },
      limits: limits(10, 100),
      answerWaitMs: 1000,
    });
    assert.deepEqual(
      (report.details.found as { user: string }[]).map((f) => f.user),
      ['200', '201'],
    );
    // Answered INVITEs were acknowledged and ended with BYE.
    assert.equal(callee.stats.byes, 2);
  } finally {
    callee.close();
  }
});

test("crack finds the password sipp's own verifyauth accepts (MD5), after the wrong ones it refuses", async () => {
  const port = await freePort();
  const sipp = await startSipp({
    scenario: 'uas-register-digest.xml',
    localPort: port,
    timeoutS: 30,
    keys: { user: '1001', password: 'hunter2' },
  });
  await sipp.ready();
  const report = await runCrack({
    user: '1001',
    words: ['1234', 'password', '1001', 'hunter2', 'never-tried'],
    target: { address: '127.0.0.1', port },
    limits: limits(5, 0),
  });
  assert.equal(report.details.found, 'hunter2');
  assert.equal(report.details.guesses, 4);
  assert.equal(report.details.algorithm, 'MD5');
  // Three refused by sipp (403 from verifyauth), the fourth accepted.
  assert.deepEqual(report.answers.byStatus, { 200: 1, 403: 3 });
  assert.equal(report.succeeded, true);
  await sipp.stop();
});

for (const algorithm of ['SHA-256', 'MD5'] as const) {
  test(`crack computes ${algorithm} responses a verifier of the test's own accepts for the right password only`, async () => {
    const registrar = await digestRegistrar('alice', 'correct horse', algorithm);
    try {
      const report = await runCrack({
        user: 'alice',
        words: ['a', 'b', 'c', 'correct horse', 'd'],
        target: { address: '127.0.0.1', port: registrar.port },
        limits: limits(5, 0),
      });
      assert.equal(report.details.found, 'correct horse');
      assert.equal(report.details.algorithm, algorithm);
      assert.equal(registrar.verified, 1);
      assert.equal(registrar.refused, 3);
    } finally {
      registrar.close();
    }
  });
}

test('crack reports "not found" when the password is not in the list', async () => {
  const registrar = await digestRegistrar('bob', 'not-in-list', 'SHA-256');
  try {
    const report = await runCrack({
      user: 'bob',
      words: ['1', '2', '3', '4', '5', '6'],
      target: { address: '127.0.0.1', port: registrar.port },
      limits: limits(6, 0),
    });
    assert.equal(report.details.found, null);
    assert.equal(report.details.guesses, 6);
    assert.equal(registrar.refused, 6);
    assert.equal(report.succeeded, false);
    assert.match(report.outcome, /not found/);
  } finally {
    registrar.close();
  }
});

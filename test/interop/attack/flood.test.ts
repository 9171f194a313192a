import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { parseAddressRange } from '../../../src/attack/address-range.ts';
import { runFlood } from '../../../src/attack/kinds/flood.ts';
import type { AttackReport } from '../../../src/attack/report.ts';
import { validateMessage } from '../../../src/sip/validate.ts';
import { stopAll } from '../harness/process.ts';
import { sipwarden, startBareUas } from './helpers.ts';
import { countingTarget } from './targets.ts';

after(() => stopAll());

test('an invite-flood from a /24 pool reaches the target from as many addresses as it reports', async () => {
  const target = await countingTarget();
  try {
    const report = await runFlood({
      method: 'INVITE',
      target: { address: '127.0.0.1', port: target.port },
      limits: { count: 120, durationMs: 10_000, rate: 0 },
      sources: parseAddressRange('127.1.2.0/24'),
      maxSources: 50,
      answerWaitMs: 200,
    });
    assert.equal(report.answers.sent, 120);
    assert.equal(report.sources.count, 50);
    assert.equal(target.datagrams, 120);
    assert.equal(target.sources.size, 50);
    assert.ok([...target.sources].every((a) => a.startsWith('127.1.2.')));
    assert.equal(target.unparsable, 0);
    for (const request of target.requests) {
      assert.equal(request.method, 'INVITE');
      assert.deepEqual(validateMessage(request), { ok: true });
    }
  } finally {
    target.close();
  }
});

test('fixed user, Call-ID and User-Agent are used on every request; random ones vary', async () => {
  const target = await countingTarget();
  try {
    await runFlood({
      method: 'REGISTER',
      target: { address: '127.0.0.1', port: target.port },
      limits: { count: 30, durationMs: 10_000, rate: 0 },
      user: '4711',
      callId: 'fixed-call-id',
      userAgent: 'sw-test-agent',
      answerWaitMs: 100,
    });
    const first = target.requests.slice(0, 30);
    assert.equal(first.length, 30);
    for (const request of first) {
      assert.equal(request.callId, 'fixed-call-id');
      assert.equal(request.headers.find((h) => h.name === 'user-agent')?.value, 'sw-test-agent');
      assert.match(request.headers.find((h) => h.name === 'to')!.value, /sip:4711@/);
    }
    await runFlood({
      method: 'OPTIONS',
      target: { address: '127.0.0.1', port: target.port },
      limits: { count: 30, durationMs: 10_000, rate: 0 },
      answerWaitMs: 100,
    });
    const random = target.requests.slice(30);
    assert.equal(new Set(random.map((r) => r.callId)).size, 30);
    assert.ok(new Set(random.map((r) => r.headers.find((h) => h.name === 'user-agent')?.value)).size > 1);
  } finally {
    target.close();
  }
});

test('a target that answers, then goes silent, is reported blocked after the last answered request', async () => {
  const target = await countingTarget((index) => (index < 25 ? 403 : undefined));
  try {
    const report = await runFlood({
      method: 'INVITE',
      target: { address: '127.0.0.1', port: target.port },
      limits: { count: 100, durationMs: 10_000, rate: 500 },
      answerWaitMs: 300,
    });
    assert.equal(report.answers.blockedAfter?.messages, 25);
    assert.deepEqual(report.answers.byStatus, { 403: 25 });
    assert.equal(report.answers.silent, 75);
    assert.equal(report.succeeded, false);
    // Each 403 to an INVITE was acknowledged (RFC 3261 17.1.1.3).
    assert.equal(target.requests.filter((r) => r.method === 'ACK').length, 25);
  } finally {
    target.close();
  }
});

test('the CLI floods a bare sipp UAS and reports every request answered, as JSON', async () => {
  const uas = await startBareUas(30);
  const run = await sipwarden([
    'attack',
    'options-flood',
    '--target',
    `127.0.0.1:${uas.port}`,
    '--count',
    '100',
    '--rate',
    '200',
    '--sources',
    '127.1.3.0/24',
    '--json',
  ]);
  assert.equal(run.code, 0, run.stderr);
  const report = JSON.parse(run.stdout) as AttackReport;
  assert.equal(report.kind, 'options-flood');
  assert.equal(report.answers.sent, 100);
  assert.equal(report.answers.answered, 100);
  assert.deepEqual(report.answers.byStatus, { 200: 100 });
  assert.equal(report.sources.count, 100);
  assert.equal(report.succeeded, true);
  await uas.run.stop();
});

test('the CLI refuses a target that is not loopback, and sends nothing', async () => {
  const run = await sipwarden(['attack', 'invite-flood', '--target', '198.51.100.7:5060']);
  assert.equal(run.code, 2);
  assert.match(run.stderr, /not a loopback address.*--allow-remote/);
});

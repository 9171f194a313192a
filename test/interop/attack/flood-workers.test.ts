import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { parseAddressRange } from '../../../src/attack/address-range.ts';
import { runFloodWorkers } from '../../../src/attack/kinds/flood-workers.ts';
import type { AttackReport } from '../../../src/attack/report.ts';
import { validateMessage } from '../../../src/sip/validate.ts';
import { stopAll } from '../harness/process.ts';
import { sipwarden, startBareUas } from './helpers.ts';
import { countingTarget } from './targets.ts';

after(() => stopAll());

test('three workers share a /24 pool: every request arrives, valid, with its own branch and Call-ID', async () => {
  const target = await countingTarget();
  try {
    const report = await runFloodWorkers({
      method: 'INVITE',
      target: { address: '127.0.0.1', port: target.port },
      // Paced: every datagram must arrive, and an unpaced burst from three processes can
      // overflow the target's receive buffer on a busy machine.
      limits: { count: 300, durationMs: 10_000, rate: 1000 },
      sources: parseAddressRange('127.1.4.0/24'),
      maxSources: 50,
      answerWaitMs: 200,
      workers: 3,
    });
    assert.equal(report.answers.sent, 300);
    assert.equal(report.sources.count, 50);
    assert.equal(report.details.workers, 3);
    assert.equal(target.datagrams, 300);
    assert.equal(target.sources.size, 50);
    assert.equal(target.unparsable, 0);
    assert.equal(new Set(target.requests.map((r) => r.via[0]?.branch)).size, 300);
    assert.equal(new Set(target.requests.map((r) => r.callId)).size, 300);
    for (const request of target.requests) assert.deepEqual(validateMessage(request), { ok: true });
  } finally {
    target.close();
  }
});

test('answers to every worker are counted once, and each failure to an INVITE is acknowledged', async () => {
  const target = await countingTarget((index) => (index < 40 ? 486 : undefined));
  try {
    const report = await runFloodWorkers({
      method: 'INVITE',
      target: { address: '127.0.0.1', port: target.port },
      limits: { count: 100, durationMs: 10_000, rate: 1000 },
      sources: parseAddressRange('127.1.5.0/24'),
      maxSources: 8,
      answerWaitMs: 300,
      workers: 2,
    });
    assert.deepEqual(report.answers.byStatus, { 486: 40 });
    assert.equal(report.answers.answered, 40);
    assert.equal(report.answers.silent, 60);
    assert.equal(target.requests.filter((r) => r.method === 'ACK').length, 40);
  } finally {
    target.close();
  }
});

test('the CLI floods with --workers from the build and reports every request answered', async () => {
  const uas = await startBareUas(30);
  const run = await sipwarden([
    'attack',
    'options-flood',
    '--target',
    `127.0.0.1:${uas.port}`,
    '--count',
    '200',
    '--rate',
    '400',
    '--sources',
    '127.1.6.0/24',
    '--workers',
    '2',
    '--json',
  ]);
  assert.equal(run.code, 0, run.stderr);
  const report = JSON.parse(run.stdout) as AttackReport;
  assert.equal(report.answers.sent, 200);
  assert.equal(report.answers.answered, 200);
  assert.deepEqual(report.answers.byStatus, { 200: 200 });
  assert.equal(report.sources.count, 200);
  assert.equal(report.details.workers, 2);
  await uas.run.stop();
});

test('the CLI refuses more workers than the bound before sending anything', async () => {
  const run = await sipwarden(['attack', 'options-flood', '--target', '127.0.0.1:9', '--workers', '99']);
  assert.equal(run.code, 2);
  assert.match(run.stderr, /--workers 99/);
});

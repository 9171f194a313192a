/**
 * `sipwarden assess` end to end: against sipwarden itself (defaults, our own callee as its
 * upstream, its events API), and against a bare sipp UAS, where every attack must succeed:
 * the tool tells a defended target from an undefended one.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { formatScorecard, type Scorecard } from '../../src/attack/assess/scorecard.ts';
import { ATTACK_KINDS } from '../../src/attack/report.ts';
import { sipwarden, startBareUas } from './attack/helpers.ts';
import { freePort } from './harness/ports.ts';
import { stopAll } from './harness/process.ts';
import { type Sipwarden, startSipwarden } from './harness/sipwarden.ts';

after(() => stopAll());

function checkWellFormed(card: Scorecard): void {
  assert.equal(card.rows.length, ATTACK_KINDS.length);
  assert.deepEqual(new Set(card.rows.map((r) => r.kind)), new Set(ATTACK_KINDS));
  for (const row of card.rows) {
    assert.ok(
      ['succeeded', 'stopped', 'not-applicable'].includes(row.verdict),
      `${row.attack}: ${row.verdict} ${row.outcome}`,
    );
    assert.equal(typeof row.outcome, 'string');
    assert.ok(row.legitCalls.attempted >= row.legitCalls.succeeded);
    assert.ok(row.report, `${row.attack} has its report`);
  }
  const s = card.summary;
  assert.equal(s.succeeded + s.stopped + s.notApplicable + s.errors, s.attacks);
}

describe('assess against sipwarden with its defaults', () => {
  let card: Scorecard;
  let target: Sipwarden;
  let exitCode: number;

  before(async () => {
    const port = await freePort();
    const apiPort = await freePort('127.0.0.1', ['tcp']);
    // The scan sweeps the target's port and two on each side: the PBX (a SIP service of its
    // own, answering) must not sit there, or the sweep rightly reports it found one.
    let uasPort = await freePort('127.0.0.1', ['udp']);
    while (Math.abs(uasPort - port) <= 2) uasPort = await freePort('127.0.0.1', ['udp']);
    target = await startSipwarden({
      port,
      upstream: { host: '127.0.0.1', port: uasPort },
      config: { management: { port: apiPort }, log: { level: 'warn' } },
      listenKinds: ['udp', 'tcp'],
    });
    const run = await sipwarden([
      'assess',
      '--target',
      `127.0.0.1:${port}`,
      '--uas',
      `127.0.0.1:${uasPort}`,
      '--api',
      `http://127.0.0.1:${apiPort}`,
      // An operator's token: assess reads events and blocks, and stores its scorecard.
      '--api-token',
      await target.apiToken('operator'),
      '--json',
    ]);
    assert.ok(run.code === 0 || run.code === 3, `exit ${run.code}: ${run.stderr}`);
    exitCode = run.code;
    card = JSON.parse(run.stdout) as Scorecard;
    process.stdout.write(`scorecard of sipwarden with its defaults:\n${formatScorecard(card)}`);
  });

  test('prints a well-formed scorecard with every attack, and the exit code follows it', () => {
    checkWellFormed(card);
    assert.equal(exitCode, card.summary.succeeded > 0 ? 3 : 0);
    assert.equal(card.api?.startsWith('http://127.0.0.1:'), true);
    // With the events API, detection is known (true or false) for every attack.
    for (const row of card.rows) assert.equal(typeof row.detected, 'boolean', row.attack);
  });

  test('the scorecard is stored on the gateway, for its console', async () => {
    const stored = await target
      .client()
      .request<{ assessments: { scorecard: Scorecard }[] }>('GET', '/api/assessments?limit=1');
    assert.equal(stored.assessments.length, 1);
    const kept = stored.assessments[0]!.scorecard;
    assert.equal(kept.target, card.target);
    assert.deepEqual(
      kept.rows.map((r) => [r.attack, r.verdict]),
      card.rows.map((r) => [r.attack, r.verdict]),
    );
    assert.deepEqual(kept.summary, card.summary);
  });

  test('the target stays alive through every attack and does not crash', () => {
    for (const row of card.rows) assert.equal(row.alive, true, `${row.attack}: ${row.outcome}`);
    assert.equal(card.summary.aliveAtEnd, true);
    assert.equal(target.process.running, true, target.process.tail());
  });

  test('legitimate calls keep succeeding during the attacks', () => {
    const attempted = card.rows.reduce((n, r) => n + r.legitCalls.attempted, 0);
    const succeeded = card.rows.reduce((n, r) => n + r.legitCalls.succeeded, 0);
    assert.ok(attempted > 0);
    assert.ok(succeeded / attempted >= 0.9, `${succeeded} of ${attempted}`);
  });

  test('every attack is stopped: 11 of 11, and assess exits 0', () => {
    for (const row of card.rows) {
      assert.equal(row.verdict, 'stopped', `${row.attack}: ${row.outcome}`);
    }
    assert.equal(card.summary.stopped, ATTACK_KINDS.length);
    assert.equal(card.summary.succeeded, 0);
    assert.equal(exitCode, 0);
  });

  test('the distributed INVITE flood and SPIT are stopped by their own rules, with no address blocked', () => {
    const flood = card.rows.find((r) => r.kind === 'invite-flood')!;
    const spit = card.rows.find((r) => r.kind === 'spit')!;
    // The flood stopped reaching the callee; the spam reached some users before it was refused.
    assert.match(flood.outcome, /stopped reaching the service behind the target/);
    assert.match(spit.outcome, /refused the campaign's last \d+ calls/);
    assert.ok(flood.legitCalls.succeeded === flood.legitCalls.attempted, JSON.stringify(flood.legitCalls));
  });

  test('every attack shows in the events', {
    todo: 'tcp-exhaust: the slow connections the target closes raise no event',
  }, () => {
    for (const row of card.rows) {
      if (row.verdict === 'not-applicable') continue;
      assert.equal(row.detected, true, `${row.attack} not in the events`);
    }
  });
});

describe('assess against a bare sipp UAS', () => {
  test('shows every applicable attack succeeding, and exits 3', async () => {
    const uas = await startBareUas(180);
    const run = await sipwarden(['assess', '--target', `127.0.0.1:${uas.port}`, '--json']);
    assert.equal(run.code, 3, run.stderr);
    assert.match(run.stderr, /attacks succeeded against/);
    const card = JSON.parse(run.stdout) as Scorecard;
    process.stdout.write(`scorecard of a bare sipp UAS:\n${formatScorecard(card)}`);
    checkWellFormed(card);
    assert.equal(card.api, null);
    for (const row of card.rows) {
      assert.equal(row.detected, null);
      if (row.kind === 'tcp-exhaust') {
        // sipp listens on UDP only here: nothing to exhaust.
        assert.equal(row.verdict, 'not-applicable');
        continue;
      }
      assert.equal(row.verdict, 'succeeded', `${row.attack}: ${row.outcome}`);
    }
    await uas.run.stop();
  });
});

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { parseAddressRange } from '../../../src/attack/address-range.ts';
import { escapeExcerpt, runMalformed } from '../../../src/attack/kinds/malformed.ts';
import { runTcpExhaust } from '../../../src/attack/kinds/tcp-exhaust.ts';
import { MUTATIONS } from '../../../src/attack/mutations.ts';
import { Callee } from '../../../src/attack/ua/callee.ts';
import { freePort } from '../harness/ports.ts';
import { stopAll } from '../harness/process.ts';
import { diesOnNulTarget, tcpTarget } from './targets.ts';

after(() => stopAll());

test('slow connections that fill a connection table shut a legitimate TCP client out', async () => {
  const target = await tcpTarget(40);
  try {
    const report = await runTcpExhaust({
      target: { address: '127.0.0.1', port: target.port },
      connections: 60,
      intervalMs: 200,
      limits: { count: 10, durationMs: 2000, rate: 20 },
    });
    assert.equal(report.details.legitAnswered, 0);
    assert.ok((report.details.slowOpened as number) >= 40);
    assert.equal(report.succeeded, true);
  } finally {
    target.close();
  }
});

test('a target that closes connections without headers in time keeps serving the legitimate client', async () => {
  const target = await tcpTarget(40, 300);
  try {
    const report = await runTcpExhaust({
      target: { address: '127.0.0.1', port: target.port },
      connections: 30,
      intervalMs: 200,
      sources: parseAddressRange('127.4.0.0/24'),
      limits: { count: 10, durationMs: 2000, rate: 20 },
    });
    assert.equal(report.details.legitAnswered, 3);
    assert.equal(report.details.slowClosedByTarget, report.details.slowOpened);
    assert.equal(report.succeeded, false);
    assert.equal(report.sources.count, 254);
  } finally {
    target.close();
  }
});

test('the fuzzer reports the message after which the target stopped answering (batch of one)', async () => {
  const target = await diesOnNulTarget();
  try {
    const report = await runMalformed({
      target: { address: '127.0.0.1', port: target.port },
      batch: 1,
      seed: 7,
      limits: { count: 300, durationMs: 20_000, rate: 0 },
      answerWaitMs: 100,
    });
    assert.ok(target.dead, 'no mutation carried a NUL byte');
    const stopped = report.details.stoppedAnswering as {
      messages: { excerpt: string; bytes: number }[];
      recovered: boolean;
    };
    assert.ok(stopped, report.outcome);
    assert.equal(stopped.recovered, false);
    assert.equal(stopped.messages.length, 1);
    // The one message reported is the one that killed the target.
    const killer = target.killer!;
    assert.equal(stopped.messages[0]!.bytes, Buffer.byteLength(killer, 'latin1'));
    assert.equal(stopped.messages[0]!.excerpt, escapeExcerpt(killer));
    assert.equal(report.succeeded, true);
  } finally {
    target.close();
  }
});

test('every mutation is sent, and malformed ones reaching the callee behind a lax target are counted', async () => {
  const port = await freePort('127.0.0.1', ['udp']);
  // No proxy in between: the callee itself is the target; it refuses what it cannot validate.
  const callee = await Callee.start('127.0.0.1', port);
  try {
    const report = await runMalformed({
      target: { address: '127.0.0.1', port },
      callee,
      batch: 50,
      seed: 11,
      limits: { count: 400, durationMs: 20_000, rate: 0 },
      answerWaitMs: 200,
    });
    const used = Object.keys(report.details.byMutation as Record<string, number>);
    assert.equal(used.length, MUTATIONS.length);
    assert.ok((report.details.malformed as number) > 300);
    // Every malformed message reached the callee (there is nothing in between).
    assert.equal(report.details.reachedCallee, report.details.malformed);
    assert.equal(report.succeeded, true);
  } finally {
    callee.close();
  }
});

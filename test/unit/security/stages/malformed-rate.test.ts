import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StageConfigError, type StageVerdict } from '../../../../src/security/stage.ts';
import { createMalformedRateStage } from '../../../../src/security/stages/malformed-rate.ts';
import { parseMessage } from '../../../../src/sip/parse.ts';
import { flow, makeDeps, packet, T0 } from './helpers.ts';

const fuzzer = flow('203.0.113.30');
// A request line with no SIP version: what a fuzzer sends by the thousand.
const BAD = 'INVITE sip:100@pbx.example.com\r\nVia: x\r\n\r\n';

function parseError() {
  const r = parseMessage(Buffer.from(BAD, 'latin1'));
  assert.ok(!r.ok);
  return r.error;
}

function errors(settings: unknown): string[] {
  try {
    createMalformedRateStage(settings, makeDeps());
  } catch (error) {
    assert.ok(error instanceof StageConfigError);
    return [...error.issues];
  }
  assert.fail('expected a StageConfigError');
}

function run(
  settings: unknown,
  n: number,
  stepMs: number,
  deps = makeDeps(),
  from = fuzzer,
  direction: 'client' | 'upstream' = 'client',
): StageVerdict[] {
  const stage = createMalformedRateStage(settings, deps);
  const error = parseError();
  const out: StageVerdict[] = [];
  for (let i = 0; i < n; i++)
    out.push(stage.malformed!({ ...packet(from, BAD), direction }, error, T0 + i * stepMs));
  return out;
}

test('blocks a source for 10 minutes past 20 malformed messages in 10 s', () => {
  const verdicts = run({}, 21, 100);
  assert.equal(
    verdicts.findIndex((v) => v.action !== 'pass'),
    20,
  );
  const v = verdicts[20]!;
  assert.ok(v.action === 'block');
  assert.equal(v.scope, 'address');
  assert.equal(v.key, '203.0.113.30');
  assert.equal(v.durationMs, 600_000);
  assert.equal(v.event.type, 'malformed');
  assert.equal(v.event.rule, 'malformed-rate');
  assert.equal(v.event.details?.count, 21);
  assert.equal(v.event.details?.threshold, 20);
  assert.equal(v.event.details?.lastError, parseError().code);
});

test('a phone sending one bad message a minute is never blocked', () => {
  assert.ok(run({}, 100, 60_000).every((v) => v.action === 'pass'));
});

test('a trusted source is allowed ten times as many', () => {
  const deps = makeDeps();
  deps.trust.succeed('203.0.113.30', undefined, T0 - 1);
  const verdicts = run({}, 201, 10, deps);
  assert.equal(
    verdicts.findIndex((v) => v.action !== 'pass'),
    200,
  );
});

test('the upstream side is not counted by default', () => {
  assert.ok(run({}, 100, 1, makeDeps(), fuzzer, 'upstream').every((v) => v.action === 'pass'));
  assert.equal(run({ direction: 'any' }, 21, 1, makeDeps(), fuzzer, 'upstream')[20]!.action, 'block');
});

test('the threshold and action follow the settings', () => {
  const verdicts = run({ count: 5, windowMs: 1000, action: 'alert' }, 6, 10);
  assert.equal(verdicts[5]!.action, 'alert');
});

test('settings errors name the key and the reason', () => {
  assert.deepEqual(errors({ count: 0 }), ['count: must be an integer from 1 to 10000000']);
  assert.deepEqual(errors({ windowMs: 10 }), [
    'windowMs: must be a window in milliseconds from 100 to 86400000 (1 day)',
  ]);
  assert.deepEqual(errors({ counts: 5 }), ['counts: unknown key (did you mean count?)']);
});

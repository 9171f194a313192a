import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { HeldAnswers } from '../../../src/core/held-answers.ts';

test('an answer is held, not sent at once, and sent once its delay has passed', async () => {
  const held = new HeldAnswers(8);
  const sent: string[] = [];
  const none: string[] = [];
  held.hold(30, () => sent.push('a'));
  assert.deepEqual(sent, none);
  assert.equal(held.size, 1);
  for (let i = 0; i < 200 && sent.length === 0; i++) await sleep(10);
  assert.deepEqual(sent, ['a']);
  assert.equal(held.size, 0);
});

test('when full, the answer due soonest is sent at once to make room; the table never grows past its capacity', () => {
  const clock = { now: 1_000_000 };
  const held = new HeldAnswers(2, () => clock.now);
  const sent: string[] = [];
  const none: string[] = [];
  held.hold(20_000, () => sent.push('b'));
  held.hold(10_000, () => sent.push('a'));
  assert.deepEqual(sent, none);
  held.hold(30_000, () => sent.push('c'));
  assert.deepEqual(sent, ['a']);
  held.hold(30_000, () => sent.push('d'));
  assert.deepEqual(sent, ['a', 'b']);
  assert.equal(held.size, 2);
  assert.equal(held.releasedEarly, 2);
  for (let i = 0; i < 1000; i++) held.hold(60_000, () => sent.push('flood'));
  assert.equal(held.size, 2);
  held.clear();
  assert.equal(held.size, 0);
});

test('clear drops what is held: nothing is sent after the gateway closed', async () => {
  const held = new HeldAnswers(8);
  const sent: string[] = [];
  const none: string[] = [];
  held.hold(20, () => sent.push('late'));
  held.clear();
  await sleep(60);
  assert.deepEqual(sent, none);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runFuzz } from './parser-fuzz.ts';

test('the parser survives three seconds of mutated torture messages', () => {
  const result = runFuzz({ seconds: 3 });
  const failure = result.failure;
  assert.equal(
    failure,
    undefined,
    failure === undefined
      ? ''
      : `seed ${result.seed}: ${String(failure.error)}\n${failure.input.toString('hex')}`,
  );
  assert.ok(result.messages > 1000, `only ${result.messages} messages`);
  assert.ok(result.parsed > 0, 'no mutated message parsed: the mutations are too destructive');
});

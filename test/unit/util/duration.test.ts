import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DurationError, formatDuration, parseDuration } from '../../../src/util/duration.ts';

test('parseDuration reads each unit', () => {
  assert.equal(parseDuration('1500ms'), 1500);
  assert.equal(parseDuration('30s'), 30_000);
  assert.equal(parseDuration('10m'), 600_000);
  assert.equal(parseDuration('1h'), 3_600_000);
  assert.equal(parseDuration('2d'), 172_800_000);
  assert.equal(parseDuration('1w'), 604_800_000);
});

test('parseDuration reads a bare number, text or number, as seconds', () => {
  assert.equal(parseDuration('3600'), 3_600_000);
  assert.equal(parseDuration(3600), 3_600_000);
  assert.equal(parseDuration(0.5), 500);
});

test('parseDuration reads decimals', () => {
  assert.equal(parseDuration('1.5h'), 5_400_000);
});

test('parseDuration refuses other text with a message naming the accepted forms', () => {
  for (const bad of ['', '1x', '-5s', 'h', '1 h', '1h30m', 'Infinity']) {
    assert.throws(
      () => parseDuration(bad),
      (error: unknown) =>
        error instanceof DurationError &&
        error.code === 'SW_ERR_BAD_DURATION' &&
        /30s, 10m, 1h/.test(error.message),
      bad,
    );
  }
});

test('parseDuration refuses negative, infinite and absurdly long durations', () => {
  assert.throws(() => parseDuration(-1), DurationError);
  assert.throws(() => parseDuration(Number.POSITIVE_INFINITY), DurationError);
  assert.throws(() => parseDuration('999999999999999d'), /too long/);
});

test('formatDuration writes the largest units first', () => {
  assert.equal(formatDuration(90_061_000), '1d1h1m1s');
  assert.equal(formatDuration(3_600_000), '1h');
  assert.equal(formatDuration(250), '250ms');
  assert.equal(formatDuration(Number.POSITIVE_INFINITY), 'permanent');
});

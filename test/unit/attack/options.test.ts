import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  MAX_COUNT,
  parseCount,
  parseDuration,
  parseRate,
  parseUserList,
} from '../../../src/attack/options.ts';
import { limitsOf, sourceRangeOf } from '../../../src/attack/run-attack.ts';

test('the defaults are small: 100 messages, 10 s, 100 per second', () => {
  assert.deepEqual(limitsOf({}), { count: 100, durationMs: 10_000, rate: 100 });
});

test('durations take s, ms and m; a bare number is seconds', () => {
  assert.equal(parseDuration('10'), 10_000);
  assert.equal(parseDuration('2.5s'), 2500);
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('2m'), 120_000);
});

test('counts, durations and rates out of bounds are refused', () => {
  assert.throws(() => parseCount('0'), { code: 'SW_ERR_ATTACK_OPTION' });
  assert.throws(() => parseCount(String(MAX_COUNT + 1)), { code: 'SW_ERR_ATTACK_OPTION' });
  assert.throws(() => parseCount('1e3'), { code: 'SW_ERR_ATTACK_OPTION' });
  assert.throws(() => parseDuration('2h'), { code: 'SW_ERR_ATTACK_OPTION' });
  assert.throws(() => parseDuration('61m'), { code: 'SW_ERR_ATTACK_OPTION' });
  assert.throws(() => parseRate('-1'), { code: 'SW_ERR_ATTACK_OPTION' });
  assert.equal(parseRate('0'), 0);
});

test('user lists expand ranges, keep leading zeros and refuse odd names', () => {
  assert.deepEqual(parseUserList('100-102,alice'), ['100', '101', '102', 'alice']);
  assert.deepEqual(parseUserList('007-009'), ['007', '008', '009']);
  assert.throws(() => parseUserList('a b'), { code: 'SW_ERR_ATTACK_OPTION' });
  assert.throws(() => parseUserList('1-100000', 1000), { code: 'SW_ERR_ATTACK_OPTION' });
});

test('a pool of sources must be loopback unless remote targets are allowed', () => {
  assert.equal(sourceRangeOf({ sources: '127.1.0.0/16' })?.size, 65534);
  assert.throws(() => sourceRangeOf({ sources: '10.0.0.0/8' }), { code: 'SW_ERR_ATTACK_REMOTE_REFUSED' });
  assert.throws(() => sourceRangeOf({ source: '127.0.0.2', sources: '127.1.0.0/16' }), {
    code: 'SW_ERR_ATTACK_OPTION',
  });
});

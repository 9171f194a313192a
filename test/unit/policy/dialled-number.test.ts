import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_DIALLED_LENGTH, normaliseNumber } from '../../../src/policy/dialled-number.ts';

test('+ and the international prefix give one spelling of an international number', () => {
  assert.equal(normaliseNumber('+442079460000', '00'), '+442079460000');
  assert.equal(normaliseNumber('00442079460000', '00'), '+442079460000');
  assert.equal(normaliseNumber('011442079460000', '011'), '+442079460000');
  // With 011 configured, 00 is dialled as it is.
  assert.equal(normaliseNumber('00442079460000', '011'), '00442079460000');
});

test('percent-escapes, visual separators and telephone-subscriber parameters do not hide a number', () => {
  assert.equal(normaliseNumber('%2B44%32079460000', '00'), '+442079460000');
  assert.equal(normaliseNumber('%30%3044-20-7946.0000', '00'), '+442079460000');
  assert.equal(normaliseNumber('+1(900)555-0100', '00'), '+19005550100');
  assert.equal(normaliseNumber('+44%2020%207946', '00'), '+44207946');
  assert.equal(normaliseNumber('0900123;phone-context=example.com', '00'), '0900123');
});

test('a national or service number is kept as dialled; a name is lower-cased', () => {
  assert.equal(normaliseNumber('0900123456', '00'), '0900123456');
  assert.equal(normaliseNumber('*21#', '00'), '*21#');
  assert.equal(normaliseNumber('Alice', '00'), 'alice');
  assert.equal(normaliseNumber('', '00'), '');
});

test('the number is cut to its bound, whatever the length of the user part', () => {
  const long = normaliseNumber(`+44${'1'.repeat(10_000)}`, '00');
  assert.equal(long.length, MAX_DIALLED_LENGTH);
  assert.ok(long.startsWith('+441'));
});

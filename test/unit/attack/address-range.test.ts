import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isLoopbackAddress, isLoopbackRange, parseAddressRange } from '../../../src/attack/address-range.ts';

test('a /16 block holds its 65534 host addresses without expanding them', () => {
  const range = parseAddressRange('127.1.0.0/16');
  assert.equal(range.size, 65534);
  assert.equal(range.at(0), '127.1.0.1');
  assert.equal(range.at(65533), '127.1.255.254');
  assert.equal(range.at(255), '127.1.1.0');
});

test('a /31 and a /32 keep every address', () => {
  assert.equal(parseAddressRange('127.0.0.4/31').size, 2);
  assert.equal(parseAddressRange('127.0.0.4/32').at(0), '127.0.0.4');
});

test('a block given with host bits set starts at its network', () => {
  assert.equal(parseAddressRange('127.0.0.77/28').at(0), '127.0.0.65');
});

test('a dash range includes both ends', () => {
  const range = parseAddressRange('127.0.0.1-127.0.0.3');
  assert.deepEqual([range.at(0), range.at(1), range.at(2)], ['127.0.0.1', '127.0.0.2', '127.0.0.3']);
  assert.equal(range.size, 3);
});

test('one IPv6 address is a range of one', () => {
  const range = parseAddressRange('::1');
  assert.equal(range.size, 1);
  assert.equal(range.family, 6);
});

test('malformed ranges are refused with a coded error', () => {
  for (const text of ['127.0.0.0/33', '127.0.0.9-127.0.0.1', 'not-an-address', '127.0.0/8', '::1/64']) {
    assert.throws(() => parseAddressRange(text), { code: 'SW_ERR_ATTACK_RANGE' }, text);
  }
});

test('loopback is 127.0.0.0/8 and ::1, nothing else', () => {
  for (const address of ['127.0.0.1', '127.255.0.9', '::1', '::ffff:127.0.0.1']) {
    assert.ok(isLoopbackAddress(address), address);
  }
  for (const address of ['10.0.0.1', '128.0.0.1', '::2', 'fe80::1', '0.0.0.0', 'localhost']) {
    assert.ok(!isLoopbackAddress(address), address);
  }
});

test('a range is loopback only when it lies wholly inside 127.0.0.0/8', () => {
  assert.ok(isLoopbackRange(parseAddressRange('127.0.0.0/8')));
  assert.ok(!isLoopbackRange(parseAddressRange('126.255.255.250-127.0.0.5')));
  assert.ok(!isLoopbackRange(parseAddressRange('0.0.0.0/0')));
});

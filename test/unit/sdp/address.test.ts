import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isFqdn, isIPv4, isIPv4Multicast, isIPv6, isIPv6Multicast } from '../../../src/sdp/address.ts';

test('accepts dotted-quad IPv4 addresses and nothing else', () => {
  for (const ok of ['0.0.0.0', '192.0.2.1', '255.255.255.255', '010.1.1.1']) assert.ok(isIPv4(ok), ok);
  for (const bad of [
    '',
    '1.2.3',
    '1.2.3.4.5',
    '256.1.1.1',
    '1..2.3',
    '1.2.3.',
    '.1.2.3',
    '1.2.3.4 ',
    '1111.1.1.1',
    'a.b.c.d',
  ])
    assert.equal(isIPv4(bad), false, bad);
});

test('accepts the RFC 4291 text forms of IPv6 addresses', () => {
  for (const ok of [
    '::',
    '::1',
    '2001:db8::1',
    'FF15::101',
    '2001:db8:0:0:0:0:0:1',
    '::ffff:192.0.2.2',
    '1::',
    'fe80::1:2:3:4:5:6',
  ])
    assert.ok(isIPv6(ok), ok);
  for (const bad of [
    '',
    ':',
    ':::',
    '2001:db8:::1',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7',
    '12345::1',
    'g::1',
    '::1%eth0',
    '[::1]',
    '1::2::3',
    '::ffff:1.2.3',
  ])
    assert.equal(isIPv6(bad), false, bad);
});

test('accepts domain names and refuses what only looks like one', () => {
  for (const ok of [
    'example.com',
    'host',
    'pbx-1.example.com.',
    'a.b.c.d.e',
    '5f4c3b2a-1d0e-4f9a.local',
    '3com.com',
  ])
    assert.ok(isFqdn(ok), ok);
  for (const bad of [
    '',
    '.',
    'a..b',
    '-a.com',
    'a-.com',
    'a_b.com',
    '999.1.1.1',
    '1.2.3.4',
    `${'a'.repeat(64)}.com`,
    'a b',
  ])
    assert.equal(isFqdn(bad), false, bad);
});

test('tells multicast addresses from unicast ones', () => {
  assert.ok(isIPv4Multicast('224.0.0.1'));
  assert.ok(isIPv4Multicast('239.255.255.255'));
  assert.equal(isIPv4Multicast('223.255.255.255'), false);
  assert.equal(isIPv4Multicast('240.0.0.1'), false);
  assert.ok(isIPv6Multicast('ff15::101'));
  assert.ok(isIPv6Multicast('FF02::1'));
  assert.equal(isIPv6Multicast('ff::1'), false, 'the first group is 0x00ff');
  assert.equal(isIPv6Multicast('2001:db8::1'), false);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isHost, isHostname, isIpv4, isIpv6 } from '../../../src/config/host.ts';

test('accepts dotted-quad IPv4 addresses and refuses out-of-range or short ones', () => {
  for (const good of ['0.0.0.0', '127.0.0.1', '255.255.255.255', '10.0.0.10']) assert.ok(isIpv4(good), good);
  for (const bad of ['256.0.0.1', '1.2.3', '1.2.3.4.5', '01.2.3.4', '1.2.3.4 ', '']) {
    assert.ok(!isIpv4(bad), bad);
  }
});

test('accepts IPv6 text forms with compression and an IPv4 tail', () => {
  for (const good of ['::', '::1', 'fe80::1', '2001:db8::5:6', '1:2:3:4:5:6:7:8', '::ffff:192.0.2.1']) {
    assert.ok(isIpv6(good), good);
  }
});

test('refuses malformed IPv6 addresses', () => {
  for (const bad of [
    ':::',
    '1::2::3',
    '1:2:3:4:5:6:7:8:9',
    '12345::',
    '[::1]',
    'fe80::1%eth0',
    ':1',
    'g::1',
  ]) {
    assert.ok(!isIpv6(bad), bad);
  }
});

test('accepts hostnames made of RFC 1123 labels', () => {
  for (const good of ['pbx', 'pbx.example.com', 'sip-1.example.com.', '3com.example']) {
    assert.ok(isHostname(good), good);
  }
});

test('refuses hostnames with bad labels and all-numeric names', () => {
  for (const bad of [
    '-pbx',
    'pbx-',
    'pbx local',
    'a..b',
    '',
    'pbx_1',
    '300.1.2.3',
    `${'a'.repeat(64)}.com`,
  ]) {
    assert.ok(!isHostname(bad), bad);
  }
});

test('a host is any of the three forms', () => {
  assert.ok(isHost('127.0.0.1'));
  assert.ok(isHost('::1'));
  assert.ok(isHost('pbx.example.com'));
  assert.ok(!isHost('pbx example'));
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import * as sdp from '../../../src/sdp/address.ts';
import { ipv4Value, ipv6Groups, isIPv4, isIPv6 } from '../../../src/sip/host.ts';

const whole = (f: (s: string, i: number, e: number) => boolean) => (s: string) => f(s, 0, s.length);

test('reads a dotted quad as an unsigned 32-bit integer, within the bounds given', () => {
  assert.equal(ipv4Value('203.0.113.7', 0, 11, true), 0xcb007107);
  assert.equal(ipv4Value('255.255.255.255', 0, 15, true), 0xffffffff);
  assert.equal(ipv4Value('[10.0.0.1]', 1, 9, true), 0x0a000001);
});

test('allows leading zeros as RFC 3261 does, and refuses them when strict', () => {
  assert.equal(ipv4Value('010.001.0.00', 0, 12, false), 0x0a010000);
  assert.equal(ipv4Value('010.001.0.00', 0, 12, true), -1);
  assert.ok(isIPv4('001.2.3.4', 0, 9));
});

test('refuses dotted quads with missing, extra, long or large octets', () => {
  for (const bad of [
    '',
    '1.2.3',
    '1.2.3.4.5',
    '1.2.3.256',
    '1..3.4',
    '1.2.3.',
    '.1.2.3',
    '0001.2.3.4',
    '1.2.3.4 ',
  ])
    assert.ok(!whole(isIPv4)(bad), bad);
});

test('reads every RFC 4291 text form of an IPv6 address into eight groups', () => {
  const groups = new Uint16Array(8);
  const cases: [string, string][] = [
    ['::', '0,0,0,0,0,0,0,0'],
    ['::1', '0,0,0,0,0,0,0,1'],
    ['1::', '1,0,0,0,0,0,0,0'],
    ['2001:DB8::8:800:200C:417A', '8193,3512,0,0,8,2048,8204,16762'],
    ['::ffff:192.0.2.1', '0,0,0,0,0,65535,49152,513'],
    ['1:2:3:4:5:6:7::', '1,2,3,4,5,6,7,0'],
  ];
  for (const [text, expected] of cases) {
    assert.ok(ipv6Groups(text, 0, text.length, groups, true), text);
    assert.equal(groups.join(), expected, text);
  }
});

test('refuses malformed IPv6 text, a zone id, and a second "::" (RFC 5118 4.10)', () => {
  for (const bad of [
    ':::',
    '1::2::3',
    '2001:db8:::192.0.2.1',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7',
    '12345::',
    ':1',
    '1:',
    'fe80::1%eth0',
    '1:2:3:4:5:6:7:1.2.3.4',
  ])
    assert.ok(!whole(isIPv6)(bad), bad);
  assert.ok(whole(isIPv6)('::ffff:001.2.3.4'));
  assert.ok(!ipv6Groups('::ffff:001.2.3.4', 0, 16, new Uint16Array(8), true));
});

// src/sdp keeps its own copy (it imports nothing of ours): it must say what this one says.
const addressLike = fc.oneof(
  fc.ipV4().map(String),
  fc.ipV4Extended().map(String),
  fc.ipV6().map(String),
  fc
    .array(fc.constantFrom(...'0123456789abcdefABCDEF::..g'.split('')), { maxLength: 48 })
    .map((chars) => chars.join('')),
  fc
    .tuple(fc.ipV6(), fc.nat(45), fc.constantFrom(':', '.', '0', '::', 'g'))
    .map(([a, k, extra]) => a.slice(0, k) + extra + a.slice(k)),
);

test('src/sdp reads IPv4 and IPv6 text exactly as src/sip does', () => {
  fc.assert(
    fc.property(addressLike, (text) => {
      assert.equal(sdp.isIPv4(text), whole(isIPv4)(text), text);
      assert.equal(sdp.isIPv6(text), whole(isIPv6)(text), text);
    }),
    { numRuns: 20_000 },
  );
});

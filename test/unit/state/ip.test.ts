import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { formatIPv6, normalizeAddress, parseIPv4, parseIPv6 } from '../../../src/state/ip.ts';

test('parses a dotted quad to an unsigned 32-bit integer', () => {
  assert.equal(parseIPv4('0.0.0.0'), 0);
  assert.equal(parseIPv4('255.255.255.255'), 0xffffffff);
  assert.equal(parseIPv4('203.0.113.7'), 0xcb007107);
  assert.equal(parseIPv4('x203.0.113.7', 1), 0xcb007107);
});

test('refuses dotted quads with leading zeros, missing or extra octets, or octets over 255', () => {
  for (const bad of [
    '01.2.3.4',
    '1.2.3',
    '1.2.3.4.5',
    '1.2.3.256',
    '1..3.4',
    '1.2.3.',
    '.1.2.3',
    '1.2.3.4 ',
    '',
    'a.b.c.d',
  ]) {
    assert.equal(parseIPv4(bad), -1, bad);
  }
});

test('parses every RFC 4291 text form of an IPv6 address', () => {
  const cases: [string, string][] = [
    ['2001:DB8:0:0:8:800:200C:417A', '2001:db8::8:800:200c:417a'],
    ['FF01::101', 'ff01::101'],
    ['::1', '::1'],
    ['::', '::'],
    ['1::', '1::'],
    ['0:0:0:0:0:0:13.1.68.3', '::d01:4403'],
    ['::13.1.68.3', '::d01:4403'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['fe80::1%eth0', 'fe80::1'],
    ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
  ];
  for (const [input, canonical] of cases) {
    const words = parseIPv6(input);
    assert.ok(words, input);
    assert.equal(formatIPv6(words), canonical, input);
  }
});

test('refuses malformed IPv6 text', () => {
  for (const bad of [
    ':::',
    '1:::2',
    '1::2::3',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7',
    '12345::',
    'g::',
    ':1::',
    '1::2:',
    '::1.2.3',
    '1.2.3.4::',
    '1:2:3:4:5:6:7:1.2.3.4',
    `${'1:'.repeat(40)}1`,
  ]) {
    assert.equal(parseIPv6(bad), undefined, bad);
  }
});

test('normalizes IPv4-mapped IPv6 to IPv4 and leaves other addresses canonical', () => {
  assert.equal(normalizeAddress('::ffff:198.51.100.7'), '198.51.100.7');
  assert.equal(normalizeAddress('::FFFF:c633:6407'), '198.51.100.7');
  assert.equal(normalizeAddress('198.51.100.7'), '198.51.100.7');
  assert.equal(normalizeAddress('2001:0DB8::0001'), '2001:db8::1');
  assert.equal(normalizeAddress('example.com'), undefined);
});

test('property: formatting and parsing IPv6 words round-trips', () => {
  const word = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffffffff }));
  fc.assert(
    fc.property(fc.tuple(word, word, word, word), (w) => {
      const text = formatIPv6(w);
      assert.deepEqual(parseIPv6(text), w, text);
      assert.equal(formatIPv6(parseIPv6(text.toUpperCase())!), text);
    }),
    { numRuns: 500 },
  );
});

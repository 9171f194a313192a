import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { AddressSet, cidrContains, parseCidr } from '../../../src/state/cidr.ts';
import { StateError } from '../../../src/state/errors.ts';
import { formatIPv4 } from '../../../src/state/ip.ts';

test('parses IPv4 and IPv6 networks to their canonical form', () => {
  assert.equal(parseCidr('203.0.113.0/24')?.text, '203.0.113.0/24');
  assert.equal(parseCidr('10.1.2.3/8')?.text, '10.0.0.0/8');
  assert.equal(parseCidr('0.0.0.0/0')?.text, '0.0.0.0/0');
  assert.equal(parseCidr('198.51.100.7')?.text, '198.51.100.7/32');
  assert.equal(parseCidr('2001:DB8::1/32')?.text, '2001:db8::/32');
  assert.equal(parseCidr('2001:db8::1')?.text, '2001:db8::1/128');
  assert.equal(parseCidr('::/0')?.text, '::/0');
});

test('an IPv4-mapped network of /96 or longer is an IPv4 network', () => {
  assert.equal(parseCidr('::ffff:10.0.0.0/104')?.text, '10.0.0.0/8');
  assert.equal(parseCidr('::ffff:0:0/96')?.text, '0.0.0.0/0');
});

test('refuses malformed networks', () => {
  for (const bad of [
    '10.0.0.0/33',
    '10.0.0.0/',
    '10.0.0.0/08',
    '10.0.0.0/-1',
    '10.0.0/8',
    '2001:db8::/129',
    'fe80::%eth0/64',
    'x/8',
    '',
    '/24',
    '10.0.0.0/8/8',
  ]) {
    assert.equal(parseCidr(bad), undefined, bad);
  }
});

test('cidrContains compares the masked address, of the same family only', () => {
  const v4 = parseCidr('203.0.113.0/24')!;
  assert.ok(cidrContains(v4, '203.0.113.255'));
  assert.ok(cidrContains(v4, '::ffff:203.0.113.1'));
  assert.ok(!cidrContains(v4, '203.0.114.0'));
  assert.ok(!cidrContains(v4, '::cb00:7101'));
  assert.ok(!cidrContains(v4, 'nonsense'));
  const v6 = parseCidr('2001:db8:8000::/33')!;
  assert.ok(cidrContains(v6, '2001:db8:ffff::1'));
  assert.ok(!cidrContains(v6, '2001:db8:7fff::1'));
  assert.ok(cidrContains(parseCidr('0.0.0.0/0')!, '1.2.3.4'));
});

test('an address set holds addresses and networks of both families', () => {
  const set = new AddressSet([
    '198.51.100.7',
    '10.0.0.0/8',
    '172.16.0.0/12',
    '2001:db8::/32',
    '::1',
    ' 192.0.2.0/24 ',
  ]);
  assert.equal(set.size, 6);
  for (const yes of [
    '198.51.100.7',
    '::ffff:198.51.100.7',
    '10.255.0.1',
    '172.31.255.255',
    '2001:db8:1::1',
    '::1',
    '0:0::1',
    '192.0.2.1',
  ]) {
    assert.ok(set.has(yes), yes);
  }
  for (const no of [
    '198.51.100.8',
    '11.0.0.1',
    '172.32.0.0',
    '2001:db9::1',
    '::2',
    '',
    'localhost',
    '10.0.0.0/8',
  ]) {
    assert.ok(!set.has(no), no);
  }
});

test('an empty address set holds nothing', () => {
  const set = new AddressSet([]);
  assert.ok(!set.has('127.0.0.1'));
  assert.ok(!set.has('::1'));
});

test('an invalid entry is an error naming it by position', () => {
  assert.throws(
    () => new AddressSet(['10.0.0.0/8', '192.0.2.1', '10.0.0.0/33']),
    (e: unknown) =>
      e instanceof StateError &&
      e.code === 'SW_ERR_STATE_ADDRESS_LIST' &&
      e.message === 'allowlist[2]: "10.0.0.0/33" is not an address or CIDR network',
  );
  const r = AddressSet.parse(['ok', '1.2.3.4'], 'security.allowlist');
  assert.ok(!r.ok);
  assert.equal(r.error.message, 'security.allowlist[0]: "ok" is not an address or CIDR network');
  assert.ok(AddressSet.parse(['1.2.3.4']).ok);
});

test('property: an address set with many networks agrees with checking each network', () => {
  const v4net = fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 8, max: 32 }));
  const v6net = fc.tuple(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 16, max: 128 }));
  fc.assert(
    fc.property(
      fc.array(v4net, { minLength: 1, maxLength: 300 }),
      fc.array(v6net, { maxLength: 50 }),
      fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 200 }),
      (v4, v6, probes) => {
        const entries = [
          ...v4.map(([a, p]) => `${formatIPv4(a)}/${p}`),
          ...v6.map(([a, p]) => `2001:db8:${a.toString(16)}::${a.toString(16)}/${p}`),
        ];
        const set = new AddressSet(entries);
        const networks = entries.map((e) => parseCidr(e)!);
        // Probe inside the listed networks as well as at random.
        const addresses = [
          ...probes.map(formatIPv4),
          ...v4.map(([a]) => formatIPv4((a ^ 1) >>> 0)),
          ...v6.map(([a]) => `2001:db8:${a.toString(16)}::${(a ^ 1).toString(16)}`),
          '2001:db8::1',
        ];
        for (const address of addresses) {
          const expected = networks.some((n) => cidrContains(n, address));
          assert.equal(set.has(address), expected, address);
        }
      },
    ),
    { numRuns: 100 },
  );
});

test('an address set of 10,000 networks holds the addresses of each and nothing beside', () => {
  const entries = Array.from({ length: 10_000 }, (_, i) => `10.${i >> 8}.${i & 255}.0/24`);
  entries.push('2001:db8::/48', '2001:db8:1::/56');
  const set = new AddressSet(entries);
  assert.equal(set.size, 10_002);
  for (let i = 0; i < 10_000; i += 37) assert.ok(set.has(`10.${i >> 8}.${i & 255}.${i % 256}`));
  assert.ok(!set.has('10.40.0.1'));
  assert.ok(set.has('2001:db8:0:ffff::1'));
  assert.ok(set.has('2001:db8:1:ff::1'));
  assert.ok(!set.has('2001:db8:1:100::1'));
});

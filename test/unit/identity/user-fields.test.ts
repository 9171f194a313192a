import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  checkPassword,
  parseDomain,
  parseNames,
  parseNetworks,
  parseOrganisation,
  parseUserName,
  USER_LIMITS,
} from '../../../src/identity/users/user-fields.ts';
import { buildUser } from '../../../src/identity/users/user-input.ts';

test('user names: RFC 3261 user characters, lower-cased, bounded; no escapes, no @ or :', () => {
  assert.deepEqual(parseUserName(" Alice.O'Hara+1 "), { ok: true, value: "alice.o'hara+1" });
  assert.deepEqual(parseUserName('100'), { ok: true, value: '100' });
  for (const bad of [
    '',
    'a@b',
    'a:b',
    'a b',
    'a%41',
    'a"b',
    'a\\b',
    'é',
    'a<b',
    'x'.repeat(USER_LIMITS.userLength + 1),
  ]) {
    assert.equal(parseUserName(bad).ok, false, bad);
  }
  assert.equal(parseUserName('x'.repeat(USER_LIMITS.userLength)).ok, true);
});

test('domains: DNS names, IPv4 and bracketed IPv6, lower-cased, without a trailing dot', () => {
  assert.deepEqual(parseDomain('SIP.Example.COM.'), { ok: true, value: 'sip.example.com' });
  assert.deepEqual(parseDomain('192.0.2.1'), { ok: true, value: '192.0.2.1' });
  assert.deepEqual(parseDomain('[2001:DB8::1]'), { ok: true, value: '[2001:db8::1]' });
  for (const bad of [
    '',
    'exa mple.com',
    '-x.com',
    '2001:db8::1',
    '[nope]',
    '1.2.3',
    'a'.repeat(64) + '.com',
    'a_b.com',
  ]) {
    assert.equal(parseDomain(bad).ok, false, bad);
  }
});

test('groups and roles: simple names, repeats dropped, bounded in number and length', () => {
  assert.deepEqual(parseNames('groups', [' staff', 'sales', 'staff', '']), {
    ok: true,
    value: ['staff', 'sales'],
  });
  assert.equal(parseNames('groups', ['has space']).ok, false);
  assert.equal(parseNames('roles', ['.dot-first']).ok, false);
  assert.equal(parseNames('roles', ['r'.repeat(USER_LIMITS.nameLength + 1)]).ok, false);
  const many = Array.from({ length: USER_LIMITS.listEntries + 1 }, (_, i) => `g${i}`);
  assert.equal(parseNames('groups', many).ok, false);
  assert.equal(parseNames('groups', many.slice(1)).ok, true);
});

test('allowed networks: canonical CIDRs through the state layer, bounded; a bad one is named', () => {
  assert.deepEqual(parseNetworks(['10.1.2.3/8', '2001:DB8::/32', '192.0.2.7', '10.0.0.0/8']), {
    ok: true,
    value: ['10.0.0.0/8', '2001:db8::/32', '192.0.2.7/32'],
  });
  const bad = parseNetworks(['10.0.0.0/33']);
  assert.equal(bad.ok, false);
  assert.match(bad.ok ? '' : bad.message, /"10\.0\.0\.0\/33" is not an IP address or a CIDR network/);
  const many = Array.from({ length: USER_LIMITS.networks + 1 }, (_, i) => `10.0.${i}.0/24`);
  assert.equal(parseNetworks(many).ok, false);
});

test('organisation: free text without control characters; empty is none', () => {
  assert.deepEqual(parseOrganisation(' ACME Ltd. '), { ok: true, value: 'ACME Ltd.' });
  assert.deepEqual(parseOrganisation('  '), { ok: true, value: undefined });
  assert.equal(parseOrganisation('a\nb').ok, false);
  assert.equal(parseOrganisation('o'.repeat(USER_LIMITS.organisationLength + 1)).ok, false);
});

test('passwords: not empty, bounded in bytes, no control characters', () => {
  assert.equal(checkPassword('s3cret w0rd!').ok, true);
  assert.equal(checkPassword('').ok, false);
  assert.equal(checkPassword('a\tb').ok, false);
  assert.equal(checkPassword('é'.repeat(USER_LIMITS.passwordBytes / 2)).ok, true);
  assert.equal(checkPassword('é'.repeat(USER_LIMITS.passwordBytes / 2 + 1)).ok, false);
});

test('buildUser reports every bad field at once', () => {
  const built = buildUser(
    'alice',
    'example.com',
    { ha1Md5: 'xyz', ha1Sha256: 'a'.repeat(64) },
    {
      groups: ['bad group'],
      allowedNetworks: ['nowhere'],
    },
  );
  assert.equal(built.ok, false);
  assert.equal(built.ok ? 0 : built.errors.length, 3);
});

test('buildUser takes given HA1s as they are (lower-cased), not recomputed', () => {
  const built = buildUser('alice', 'example.com', { ha1Md5: 'A'.repeat(32), ha1Sha256: 'b'.repeat(64) }, {});
  assert.ok(built.ok);
  assert.equal(built.value.ha1Md5, 'a'.repeat(32));
  assert.equal(built.value.ha1Sha256, 'b'.repeat(64));
  assert.equal(built.value.enabled, true);
});

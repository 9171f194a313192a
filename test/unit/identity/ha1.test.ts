import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { computeHa1, computeHa1s, normalizeHa1 } from '../../../src/identity/users/ha1.ts';

/** RFC 7616 3.4.1 response with qop=auth, from an HA1. */
function response(hash: 'md5' | 'sha256', ha1: string, fields: Record<string, string>): string {
  const h = (text: string): string => createHash(hash).update(text).digest('hex');
  const ha2 = h(`${fields.method}:${fields.uri}`);
  return h(`${ha1}:${fields.nonce}:${fields.nc}:${fields.cnonce}:auth:${ha2}`);
}

// RFC 7616 section 3.9.1: Mufasa / "Circle of Life" in realm http-auth@example.org.
const EXAMPLE = {
  method: 'GET',
  uri: '/dir/index.html',
  nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v',
  nc: '00000001',
  cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
};

test('the MD5 HA1 of the RFC 7616 3.9.1 example gives the response printed there', () => {
  const ha1 = computeHa1('MD5', 'Mufasa', 'http-auth@example.org', 'Circle of Life');
  assert.equal(response('md5', ha1, EXAMPLE), '8ca523f5e9506fed4657c9700eebdbec');
});

test('the SHA-256 HA1 of the RFC 7616 3.9.1 example gives the response printed there', () => {
  const ha1 = computeHa1('SHA-256', 'Mufasa', 'http-auth@example.org', 'Circle of Life');
  assert.equal(
    response('sha256', ha1, EXAMPLE),
    '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1',
  );
});

test('computeHa1s hashes user:realm:password with both algorithms, in lower-case hex', () => {
  const pair = computeHa1s('alice', 'example.com', 'secret');
  assert.equal(pair.ha1Md5, createHash('md5').update('alice:example.com:secret').digest('hex'));
  assert.equal(pair.ha1Sha256, createHash('sha256').update('alice:example.com:secret').digest('hex'));
  assert.match(pair.ha1Md5, /^[0-9a-f]{32}$/);
  assert.match(pair.ha1Sha256, /^[0-9a-f]{64}$/);
});

test('the password is hashed as UTF-8 (RFC 7616 3.4.4)', () => {
  const ha1 = computeHa1('MD5', 'j\u00e4s\u00f8n', 'example.org', 'Secret, or not?');
  assert.equal(
    ha1,
    createHash('md5')
      .update(Buffer.from('j\u00e4s\u00f8n:example.org:Secret, or not?', 'utf8'))
      .digest('hex'),
  );
});

test('normalizeHa1 takes hex of the right length, lower-cased, and nothing else', () => {
  assert.equal(normalizeHa1('MD5', 'ABCDEF0123456789abcdef0123456789'), 'abcdef0123456789abcdef0123456789');
  assert.equal(normalizeHa1('MD5', 'abcdef0123456789abcdef012345678'), undefined);
  assert.equal(normalizeHa1('SHA-256', 'abcdef0123456789abcdef0123456789'), undefined);
  assert.equal(normalizeHa1('SHA-256', 'g'.repeat(64)), undefined);
  assert.equal(normalizeHa1('SHA-256', 'a'.repeat(64)), 'a'.repeat(64));
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  challengeValue,
  computeResponse,
  digestHash,
  parseCredentials,
  responseMatches,
} from '../../../../src/identity/digest/digest.ts';

// RFC 7616 section 3.9.1: the same request answered with MD5 and with SHA-256.
const RFC7616 = {
  username: 'Mufasa',
  realm: 'http-auth@example.org',
  password: 'Circle of Life',
  method: 'GET',
  uri: '/dir/index.html',
  nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v',
  cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
  nc: '00000001',
};

for (const [algorithm, expected] of [
  ['MD5', '8ca523f5e9506fed4657c9700eebdbec'],
  ['SHA-256', '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1'],
] as const) {
  test(`computes the RFC 7616 3.9.1 ${algorithm} response`, () => {
    const v = RFC7616;
    const ha1 = digestHash(algorithm, `${v.username}:${v.realm}:${v.password}`);
    const response = computeResponse(ha1, {
      algorithm,
      method: v.method,
      uri: v.uri,
      nonce: v.nonce,
      qop: { nc: v.nc, cnonce: v.cnonce },
    });
    assert.equal(response, expected);
    assert.ok(responseMatches(response, expected.toUpperCase()), 'hex compares case-insensitively');
    assert.equal(responseMatches(response, `${expected.slice(0, -1)}0`), false);
  });

  test(`reads the RFC 7616 3.9.1 ${algorithm} Authorization header`, () => {
    const v = RFC7616;
    const header = `Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", algorithm=${algorithm}, nonce="${v.nonce}", nc=00000001, cnonce="${v.cnonce}", qop=auth, response="${expected}", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"`;
    const parsed = parseCredentials(header);
    assert.ok(typeof parsed === 'object');
    assert.equal(parsed.algorithm, algorithm);
    assert.equal(parsed.username, 'Mufasa');
    assert.deepEqual(parsed.qop, { nc: '00000001', count: 1, cnonce: v.cnonce });
    assert.equal(parsed.response, expected);
  });
}

test('without qop the response is H(HA1:nonce:HA2) (RFC 2617 3.2.2.1)', () => {
  const ha1 = digestHash('MD5', 'alice:example.com:secret');
  const ha2 = digestHash('MD5', 'REGISTER:sip:example.com');
  assert.equal(
    computeResponse(ha1, { algorithm: 'MD5', method: 'REGISTER', uri: 'sip:example.com', nonce: 'abc' }),
    digestHash('MD5', `${ha1}:abc:${ha2}`),
  );
});

test('refuses credentials that cannot be checked, each with its reason', () => {
  const base = 'Digest username="a", realm="r", nonce="n", uri="sip:x"';
  assert.equal(parseCredentials('Digest username="a", realm="r", nonce="n"'), 'missing-parameter');
  assert.equal(parseCredentials(`${base}, response="abc"`), 'bad-response');
  assert.equal(
    parseCredentials(`${base}, response="${'0'.repeat(32)}", algorithm=SHA-512-256`),
    'unsupported-algorithm',
  );
  assert.equal(
    parseCredentials(`${base}, response="${'0'.repeat(32)}", algorithm=SHA-256`),
    'bad-response',
    'a SHA-256 response has 64 hex digits',
  );
  assert.equal(
    parseCredentials(`${base}, response="${'0'.repeat(32)}", qop=auth-int, nc=00000001, cnonce="c"`),
    'unsupported-qop',
  );
  assert.equal(
    parseCredentials(`${base}, response="${'0'.repeat(32)}", qop=auth, nc=1, cnonce="c"`),
    'bad-nonce-count',
  );
  assert.equal(
    parseCredentials(`${base}, response="${'0'.repeat(32)}", qop=auth, nc=00000000, cnonce="c"`),
    'bad-nonce-count',
  );
  assert.equal(
    parseCredentials(`${base}, response="${'0'.repeat(32)}", qop=auth, cnonce="c"`),
    'missing-parameter',
  );
  assert.equal(parseCredentials(`${base}, response="${'0'.repeat(32)}", userhash=true`), 'userhash');
  assert.equal(
    parseCredentials(
      `Digest username="${'a'.repeat(129)}", realm="r", nonce="n", uri="sip:x", response="${'0'.repeat(32)}"`,
    ),
    'too-long',
  );
});

test('a challenge names realm, nonce, algorithm and qop, and stale only when stale', () => {
  assert.equal(
    challengeValue('example.com', 'n0nce', 'SHA-256', false),
    'Digest realm="example.com", nonce="n0nce", algorithm=SHA-256, qop="auth"',
  );
  assert.equal(
    challengeValue('exa"mple', 'n', 'MD5', true),
    'Digest realm="exa\\"mple", nonce="n", algorithm=MD5, qop="auth", stale=true',
  );
});

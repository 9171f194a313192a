import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  authorizationValue,
  digestResponse,
  parseAuthParams,
  parseChallenge,
} from '../../../src/attack/digest.ts';

test('MD5 with qop=auth matches the example of RFC 2617 section 3.5', () => {
  const challenge = parseChallenge(
    'Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"',
  );
  assert.ok(challenge);
  const response = digestResponse(challenge, {
    username: 'Mufasa',
    password: 'Circle Of Life',
    method: 'GET',
    uri: '/dir/index.html',
    cnonce: '0a4f113b',
    nc: 1,
  });
  assert.equal(response, '6629fae49393a05397450978507c4ef1');
});

const RFC7616 = {
  username: 'Mufasa',
  password: 'Circle of Life',
  method: 'GET',
  uri: '/dir/index.html',
  cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
  nc: 1,
};
const RFC7616_CHALLENGE =
  'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=%ALG%, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"';

test('SHA-256 with qop=auth matches the example of RFC 7616 section 3.9.1', () => {
  const challenge = parseChallenge(RFC7616_CHALLENGE.replace('%ALG%', 'SHA-256'));
  assert.equal(challenge?.algorithm, 'SHA-256');
  assert.equal(
    digestResponse(challenge!, RFC7616),
    '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1',
  );
});

test('MD5 of the same RFC 7616 example matches too', () => {
  const challenge = parseChallenge(RFC7616_CHALLENGE.replace('%ALG%', 'MD5'));
  assert.equal(digestResponse(challenge!, RFC7616), '8ca523f5e9506fed4657c9700eebdbec');
});

test('a challenge without qop uses the RFC 2069 form', () => {
  const challenge = parseChallenge('Digest realm="r", nonce="n"');
  assert.equal(challenge?.qop, undefined);
  assert.equal(challenge?.algorithm, 'MD5');
  const value = authorizationValue(challenge!, {
    username: 'u',
    password: 'p',
    method: 'REGISTER',
    uri: 'sip:h',
  });
  assert.doesNotMatch(value, /qop=|cnonce=|nc=/);
});

test('the Authorization value carries every field a verifier needs', () => {
  const challenge = parseChallenge(
    'Digest realm="sw", nonce="abc", algorithm=SHA-256, qop="auth", opaque="o1"',
  );
  const value = authorizationValue(challenge!, {
    username: '100',
    password: 'secret',
    method: 'REGISTER',
    uri: 'sip:127.0.0.1',
    cnonce: 'c1',
    nc: 3,
  });
  const params = parseAuthParams(value)!;
  assert.equal(params.get('username'), '100');
  assert.equal(params.get('realm'), 'sw');
  assert.equal(params.get('nonce'), 'abc');
  assert.equal(params.get('uri'), 'sip:127.0.0.1');
  assert.equal(params.get('qop'), 'auth');
  assert.equal(params.get('nc'), '00000003');
  assert.equal(params.get('cnonce'), 'c1');
  assert.equal(params.get('opaque'), 'o1');
  assert.equal(params.get('algorithm'), 'SHA-256');
  assert.match(params.get('response')!, /^[0-9a-f]{64}$/);
});

test('challenges that are not Digest, or lack realm or nonce, or use an unknown algorithm are not answered', () => {
  assert.equal(parseChallenge('Basic realm="x"'), undefined);
  assert.equal(parseChallenge('Digest nonce="n"'), undefined);
  assert.equal(parseChallenge('Digest realm="r", nonce="n", algorithm=SHA-512-256'), undefined);
});

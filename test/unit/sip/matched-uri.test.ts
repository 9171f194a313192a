import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SipUri } from '../../../src/sip/message.ts';
import { MatchedSipUri, parseUriWalk } from '../../../src/sip/uri.ts';
import { invite, parseFails, parseRequest, plain } from './helpers.ts';

const request = (ruri: string, from: string, to: string): string =>
  invite()
    .replace('INVITE sip:bob@biloxi.example.com SIP/2.0', `INVITE ${ruri} SIP/2.0`)
    .replace('From: Alice <sip:alice@atlanta.example.com>;tag=1928301774', `From: ${from};tag=1`)
    .replace('To: Bob <sip:bob@biloxi.example.com>', `To: ${to}`);

test('the Request-URI, From and To URIs read the same parts as the character walk', () => {
  const m = parseRequest(
    request(
      'sip:+4930123456789@10.0.0.10:5060',
      '"Alice" <sip:alice:pw@atlanta.example.com;transport=UDP>',
      '<sips:%41bob@biloxi.example.com:65535>',
    ),
  );
  for (const [uri, text] of [
    [m.uri, 'sip:+4930123456789@10.0.0.10:5060'],
    [m.from.uri, 'sip:alice:pw@atlanta.example.com;transport=UDP'],
    [m.to.uri, 'sips:%41bob@biloxi.example.com:65535'],
  ] as const) {
    assert.ok(uri instanceof MatchedSipUri, text);
    assert.deepEqual(plain(uri), plain(parseUriWalk(text)), text);
  }
  const to = m.to.uri as SipUri;
  assert.equal(to.user, '%41bob');
  assert.equal(to.port, 65535);
  assert.equal(to.headers.size, 0);
  const from = m.from.uri as SipUri;
  assert.equal(from.password, 'pw');
  assert.equal(from.params.get('transport'), 'UDP');
});

test('a URI read later reads the same parts twice, and logs as its parts', () => {
  const m = parseRequest(
    request('sip:bob@biloxi.example.com', '<sip:alice@a.example.com>', '<sip:bob@b.example.com>'),
  );
  const uri = m.from.uri as SipUri;
  assert.equal(uri.host, 'a.example.com');
  assert.equal(uri.host, 'a.example.com');
  assert.deepEqual(JSON.parse(JSON.stringify({ uri: m.uri })), {
    uri: { scheme: 'sip', user: 'bob', host: 'biloxi.example.com', params: {}, headers: {} },
  });
  // A message copied with spread keeps the same URI objects.
  const copy = { ...m };
  assert.equal((copy.to.uri as SipUri).host, 'b.example.com');
});

test('the checks a URI needs are made while parsing, not when its parts are read', () => {
  // Port over 65535 and repeated URI parameters, in each of the three places.
  parseFails(
    request('sip:bob@b.example.com:65536', '<sip:a@a.example.com>', '<sip:b@b.example.com>'),
    'SW_ERR_BAD_REQUEST_URI',
  );
  parseFails(
    request('sip:bob@b.example.com;lr;LR', '<sip:a@a.example.com>', '<sip:b@b.example.com>'),
    'SW_ERR_BAD_REQUEST_URI',
  );
  parseFails(
    request('sip:bob@b.example.com', '<sip:a@a.example.com:99999>', '<sip:b@b.example.com>'),
    'SW_ERR_BAD_NAME_ADDR',
  );
  parseFails(
    request('sip:bob@b.example.com', '<sip:a@a.example.com;x=1;y;x=2>', '<sip:b@b.example.com>'),
    'SW_ERR_BAD_NAME_ADDR',
  );
  parseFails(
    request('sip:bob@b.example.com', '<sip:a@a.example.com>', '<sip:b@b.example.com:070000>'),
    'SW_ERR_BAD_NAME_ADDR',
  );
});

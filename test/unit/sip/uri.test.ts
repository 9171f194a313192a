import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SipParseError } from '../../../src/sip/errors.ts';
import type { SipUri, TelUri } from '../../../src/sip/message.ts';
import { formatSipUri, formatUri, parseUri } from '../../../src/sip/uri.ts';

function sip(text: string): SipUri {
  const u = parseUri(text);
  assert.ok(!(u instanceof SipParseError), `refused ${text}: ${u instanceof SipParseError ? u.reason : ''}`);
  assert.ok(u.scheme === 'sip' || u.scheme === 'sips');
  return u as SipUri;
}

function refused(text: string, code = 'SW_ERR_BAD_URI'): void {
  const u = parseUri(text);
  assert.ok(u instanceof SipParseError, `accepted ${text}`);
  assert.equal(u.code, code);
}

test('parses user, password, host, port, parameters and headers of a SIP URI', () => {
  const u = sip('sip:alice:secret@example.com:5070;transport=tcp;lr?subject=hi&priority=urgent');
  assert.equal(u.scheme, 'sip');
  assert.equal(u.user, 'alice');
  assert.equal(u.password, 'secret');
  assert.equal(u.host, 'example.com');
  assert.equal(u.port, 5070);
  assert.deepEqual(
    [...u.params],
    [
      ['transport', 'tcp'],
      ['lr', null],
    ],
  );
  assert.deepEqual(
    [...u.headers],
    [
      ['subject', 'hi'],
      ['priority', 'urgent'],
    ],
  );
});

test('parses a SIPS URI without user part', () => {
  const u = sip('sips:proxy.example.com');
  assert.equal(u.scheme, 'sips');
  assert.equal(u.user, undefined);
  assert.equal(u.host, 'proxy.example.com');
  assert.equal(u.port, undefined);
});

test('lower-cases the scheme and parameter names but keeps values as written', () => {
  const u = sip('SIP:Bob@Example.COM;Transport=TCP');
  assert.equal(u.scheme, 'sip');
  assert.equal(u.host, 'Example.COM');
  assert.equal(u.params.get('transport'), 'TCP');
});

test('accepts an IPv6 reference host with and without port (RFC 5118 4.3, 4.4)', () => {
  assert.equal(sip('sip:[2001:db8::10:5070]').host, '[2001:db8::10:5070]');
  assert.equal(sip('sip:[2001:db8::10:5070]').port, undefined);
  const u = sip('sip:user@[2001:db8::10]:5070');
  assert.equal(u.host, '[2001:db8::10]');
  assert.equal(u.port, 5070);
  assert.equal(sip('sip:[::ffff:192.0.2.1]').host, '[::ffff:192.0.2.1]');
  assert.equal(sip('sip:[::1]').host, '[::1]');
});

test('refuses an IPv6 address without brackets (RFC 5118 4.2)', () => {
  refused('sip:2001:db8::10');
});

test('refuses the RFC 3261 ABNF three-colon IPv6 form (RFC 5118 4.10)', () => {
  refused('sip:user@[2001:db8:::192.0.2.1]');
});

test('refuses malformed IPv6 references', () => {
  for (const bad of [
    'sip:[1:2:3:4:5:6:7:8:9]',
    'sip:[12345::1]',
    'sip:[::1',
    'sip:[1:2:3:4:5:6:7]',
    'sip:[]',
  ]) {
    refused(bad);
  }
});

test('accepts IPv4 hosts and refuses octets above 255', () => {
  assert.equal(sip('sip:192.0.2.1:5060').host, '192.0.2.1');
  refused('sip:192.0.2.256');
  refused('sip:1.2.3');
});

test('refuses host names with empty labels, bad hyphens or bad characters', () => {
  for (const bad of ['sip:a..b', 'sip:-a.com', 'sip:a-.com', 'sip:a_b.com', 'sip:', 'sip:user@'])
    refused(bad);
  assert.equal(sip('sip:example.com.').host, 'example.com.');
});

test('validates %-escapes and accepts escaped NUL in the user part (RFC 4475 3.1.1.4)', () => {
  assert.equal(sip('sip:null-%00-null@example.com').user, 'null-%00-null');
  refused('sip:bad%zzescape@example.com');
  refused('sip:bad%4@example.com');
});

test('accepts a user part holding semicolons (RFC 4475 3.1.1.9)', () => {
  assert.equal(sip('sip:user;par=u%40example.net@example.com').user, 'user;par=u%40example.net');
});

test('refuses a repeated URI parameter (RFC 3261 19.1.1)', () => {
  refused('sip:a@example.com;lr;lr');
});

test('refuses ports beyond 65535 and empty ports', () => {
  refused('sip:a@example.com:65536');
  refused('sip:a@example.com:');
  assert.equal(sip('sip:a@example.com:65535').port, 65535);
});

test('refuses whitespace and angle brackets inside a URI', () => {
  refused('sip:a@example.com; lr');
  refused('<sip:a@example.com>');
});

test('parses a tel URI with parameters', () => {
  const u = parseUri('tel:+1-201-555-0123;phone-context=example.com') as TelUri;
  assert.equal(u.scheme, 'tel');
  assert.equal(u.number, '+1-201-555-0123');
  assert.equal(u.params.get('phone-context'), 'example.com');
});

test('keeps any other absolute URI as text', () => {
  const u = parseUri('http://www.example.com/a?b=c');
  assert.ok(!(u instanceof SipParseError));
  assert.deepEqual(u, { scheme: 'http', text: 'http://www.example.com/a?b=c' });
  refused('http://exa mple.com');
  refused('1http:x');
});

test('gives a token-too-long error for a component over the limit', () => {
  const u = parseUri(`sip:${'a'.repeat(40)}@example.com`, 32);
  assert.ok(u instanceof SipParseError);
  assert.equal(u.code, 'SW_ERR_TOKEN_TOO_LONG');
  assert.equal(u.limit, 'maxTokenBytes');
});

test('formats a SIP URI back to the text it was parsed from', () => {
  for (const text of [
    'sip:alice:secret@example.com:5070;transport=tcp;lr?subject=hi&priority=urgent',
    'sips:[2001:db8::1]:5061',
    'sip:+1555@example.com;user=phone',
  ]) {
    assert.equal(formatSipUri(sip(text)), text);
    assert.equal(formatUri(sip(text)), text);
  }
});

test('a URI without parameters shares an empty map that refuses changes', () => {
  const a = sip('sip:a@example.com');
  const b = sip('sip:b@example.com');
  assert.equal(a.params, b.params);
  assert.throws(() => (a.params as Map<string, string | null>).set('x', null), TypeError);
  assert.equal(b.params.size, 0);
  assert.equal(new Map(a.params).set('x', null).size, 1);
});

test('bounds the number of URI parameters and headers', () => {
  const params = Array.from({ length: 64 }, (_, k) => `;p${k}`).join('');
  assert.equal(sip(`sip:a@example.com${params}`).params.size, 64);
  refused(`sip:a@example.com${params};p64`);
  const headers = Array.from({ length: 65 }, (_, k) => `h${k}=v`).join('&');
  refused(`sip:a@example.com?${headers}`);
});

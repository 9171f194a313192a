import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SipParseError } from '../../../src/sip/errors.ts';
import { formatNameAddr, parseNameAddr, parseNameAddrList } from '../../../src/sip/headers/name-addr.ts';
import type { NameAddr } from '../../../src/sip/message.ts';
import { plain } from './helpers.ts';

function na(value: string): NameAddr {
  const r = parseNameAddr(value);
  assert.ok(!(r instanceof SipParseError), `refused ${value}: ${r instanceof SipParseError ? r.reason : ''}`);
  return r;
}

function refused(value: string, code = 'SW_ERR_BAD_NAME_ADDR'): void {
  const r = parseNameAddr(value);
  assert.ok(r instanceof SipParseError, `accepted ${value}`);
  assert.equal(r.code, code);
}

test('parses a quoted display name, the URI and header parameters', () => {
  const r = na('"Alice \\"A\\" Liddell" <sip:alice@example.com;transport=tcp>;tag=1928301774;x');
  assert.equal(r.displayName, 'Alice "A" Liddell');
  assert.equal(r.uriText, 'sip:alice@example.com;transport=tcp');
  assert.equal(r.params.get('tag'), '1928301774');
  assert.equal(r.params.get('x'), null);
  assert.equal(r.uri.scheme, 'sip');
});

test('parses a token display name touching the < (RFC 4475 3.1.1.6)', () => {
  const r = na('caller<sip:caller@example.com>;tag=323');
  assert.equal(r.displayName, 'caller');
  assert.equal(r.params.get('tag'), '323');
});

test('parses a display name of several tokens', () => {
  assert.equal(na('A. Bell <sip:a.g.bell@example.com>').displayName, 'A. Bell');
});

test('gives the parameters after an addr-spec to the header, not the URI (RFC 3261 20.10)', () => {
  const r = na('sip:+16505552222@ss1.example.net;user=phone;tag=1');
  assert.equal(r.uriText, 'sip:+16505552222@ss1.example.net');
  assert.equal(r.params.get('user'), 'phone');
  assert.equal(r.params.get('tag'), '1');
});

test('accepts whitespace around ; and = in header parameters', () => {
  assert.equal(na('<sip:a@example.com> ;   tag    = 1918181833n').params.get('tag'), '1918181833n');
});

test('accepts quoted-string and IPv6 parameter values', () => {
  const r = na('<sip:a@example.com>;p="a, b; c";q=[2001:db8::1]');
  assert.equal(r.params.get('p'), '"a, b; c"');
  assert.equal(r.params.get('q'), '[2001:db8::1]');
});

test('accepts any absolute URI (RFC 4475 3.3.4)', () => {
  assert.equal(na('<http://www.example.com>;tag=3234233').uri.scheme, 'http');
  assert.equal(na('isbn:2983792873').uri.scheme, 'isbn');
});

test('refuses an unterminated quoted display name (RFC 4475 3.1.2.6)', () => {
  refused('"Mr. J. User <sip:j.user@example.com>');
});

test('refuses whitespace inside <> (RFC 4475 3.1.2.14)', () => {
  refused('"Watson, Thomas" < sip:t.watson@example.org >');
});

test('refuses a display name that is not tokens or a quoted string (RFC 4475 3.1.2.15)', () => {
  refused('Bell, Alexander <sip:a.g.bell@example.com>;tag=43');
});

test('refuses an unbracketed URI holding ? (RFC 3261 20.10, RFC 4475 3.1.2.13)', () => {
  refused('sip:user@example.com?Route=%3Csip:sip.example.com%3E');
});

test('refuses empty parameters, a missing >, and trailing garbage', () => {
  refused('"Joe" <sip:joe@example.org>;;;;');
  refused('<sip:joe@example.org');
  refused('<sip:joe@example.org> junk');
  refused('<sip:a@example.com>;tag=1;tag=2');
  refused('');
});

test('parses a Contact list and the Contact star', () => {
  const r = parseNameAddrList(
    '<sip:a@example.com>;q=0.5, "B" <sip:b@example.com>;expires=60,sip:c@example.com',
  );
  assert.ok(Array.isArray(r));
  assert.deepEqual(
    r.map((v) => v.uriText),
    ['sip:a@example.com', 'sip:b@example.com', 'sip:c@example.com'],
  );
  assert.equal(parseNameAddrList(' * '), '*');
  assert.ok(parseNameAddrList('*, <sip:a@example.com>') instanceof SipParseError);
});

test('parses a Route list with commas inside quoted parameters', () => {
  const r = parseNameAddrList('<sip:p1.example.com;lr>;x="a,b", <sip:p2.example.com;lr>');
  assert.ok(Array.isArray(r));
  assert.equal(r.length, 2);
});

test('bounds the number of values in a list', () => {
  const value = Array.from({ length: 10 }, (_, k) => `<sip:h${k}.example.com>`).join(',');
  assert.ok(parseNameAddrList(value, 1024, 5) instanceof SipParseError);
  assert.equal((parseNameAddrList(value, 1024, 10) as NameAddr[]).length, 10);
});

test('formats a name-addr that parses back to the same value', () => {
  const r = na(
    '"Quoted string \\"\\"" <sip:jdrosen@example.com> ; newparam = newvalue ; secondparam ; q = 0.33',
  );
  const text = formatNameAddr(r);
  assert.equal(text, '"Quoted string \\"\\"" <sip:jdrosen@example.com>;newparam=newvalue;secondparam;q=0.33');
  assert.deepEqual(plain(na(text)), plain(r));
});

test('bounds the number of header parameters', () => {
  const params = Array.from({ length: 64 }, (_, k) => `;p${k}`).join('');
  assert.equal(na(`<sip:a@example.com>${params}`).params.size, 64);
  refused(`<sip:a@example.com>${params};p64`);
});

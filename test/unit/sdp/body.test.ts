import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { findSdpBodies, type MediaType, parseMediaType } from '../../../src/sdp/body.ts';

const conformance = join(import.meta.dirname, '..', '..', 'fixtures', 'conformance');
const SDP =
  'v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n';

function type(value: string): MediaType {
  const t = parseMediaType(value);
  assert.ok(t, `not a media type: ${value}`);
  return t;
}

function found(contentType: string, body: string): string[] {
  const r = findSdpBodies(type(contentType), Buffer.from(body, 'latin1'));
  assert.ok(r.ok, r.ok ? '' : r.error.toString());
  return r.sdp.map((b) => b.toString('latin1'));
}

function fails(contentType: string, body: string, code: string): void {
  const r = findSdpBodies(type(contentType), Buffer.from(body, 'latin1'));
  assert.equal(r.ok, false);
  if (!r.ok) assert.equal(r.error.code, code, r.error.reason);
}

test('parses a media type with lower-cased names and unquoted parameter values', () => {
  const t = type('Multipart/Mixed ; Boundary="a b\\"c" ;charset=utf-8');
  assert.equal(t.type, 'multipart');
  assert.equal(t.subtype, 'mixed');
  assert.equal(t.params.get('boundary'), 'a b"c');
  assert.equal(t.params.get('charset'), 'utf-8');
});

test('refuses what is not a media type', () => {
  for (const bad of [
    '',
    'application',
    'application/',
    '/sdp',
    'application/sdp;',
    'application/sdp;x',
    'a/b c',
  ]) {
    assert.equal(parseMediaType(bad), undefined, bad);
  }
  assert.equal(parseMediaType('text/plain;a=1;a=2'), undefined, 'a repeated parameter');
  assert.equal(parseMediaType('text/plain;a="open'), undefined, 'an unterminated quoted string');
});

test('an application/sdp body is the session description', () => {
  assert.deepEqual(found('application/sdp', SDP), [SDP]);
  assert.deepEqual(found('APPLICATION/SDP', SDP), [SDP]);
});

test('an empty application/sdp body holds no session description', () => {
  assert.deepEqual(found('application/sdp', ''), []);
});

test('other content types hold no session description', () => {
  assert.deepEqual(found('text/plain', SDP), []);
  assert.deepEqual(found('application/pidf+xml', '<presence/>'), []);
});

test('finds the application/sdp part of a multipart/mixed body', () => {
  const body =
    '--xyz\r\nContent-Type: application/sdp\r\n\r\n' +
    SDP +
    '\r\n--xyz\r\nContent-Type: application/resource-lists+xml\r\n\r\n<list/>\r\n--xyz--\r\n';
  assert.deepEqual(found('multipart/mixed;boundary=xyz', body), [SDP]);
});

test('finds an SDP part inside a nested multipart/alternative part', () => {
  const inner = '--in\r\nContent-Type: application/sdp\r\n\r\n' + SDP + '\r\n--in--';
  const body =
    'preamble\r\n--out\r\nContent-Type: multipart/alternative; boundary=in\r\n\r\n' +
    inner +
    '\r\n--out\r\nContent-Type: text/plain\r\n\r\nhi\r\n--out--';
  assert.deepEqual(found('multipart/mixed;boundary=out', body), [SDP]);
});

test('tolerates LF alone in a multipart body', () => {
  const body = '--b\nContent-Type: application/sdp\n\n' + SDP + '\n--b--\n';
  assert.deepEqual(found('multipart/mixed;boundary=b', body), [SDP]);
});

test('finds no SDP in the multipart body of RFC 4475 mpart01', () => {
  const message = readFileSync(join(conformance, 'rfc4475', 'valid', 'mpart01.dat'));
  const body = message.subarray(message.indexOf('\r\n\r\n') + 4);
  const r = findSdpBodies(type('multipart/mixed;boundary=7a9cbec02ceef655'), body);
  assert.ok(r.ok);
  assert.deepEqual(r.sdp, []);
});

test('refuses a multipart body without a boundary parameter', () => {
  fails('multipart/mixed', '--x\r\n\r\nhi\r\n--x--', 'SW_ERR_SDP_BAD_MULTIPART');
});

test('refuses a multipart body that never uses its boundary', () => {
  fails('multipart/mixed;boundary=x', 'no parts here', 'SW_ERR_SDP_BAD_MULTIPART');
});

test('refuses a multipart body without a closing boundary', () => {
  fails(
    'multipart/mixed;boundary=x',
    '--x\r\nContent-Type: application/sdp\r\n\r\n' + SDP,
    'SW_ERR_SDP_BAD_MULTIPART',
  );
});

test('refuses a part with a bad Content-Type', () => {
  fails(
    'multipart/mixed;boundary=x',
    '--x\r\nContent-Type: nonsense\r\n\r\nhi\r\n--x--',
    'SW_ERR_SDP_BAD_MULTIPART',
  );
});

test('refuses an SDP part in a transfer encoding other than 7bit, 8bit or binary', () => {
  const body =
    '--x\r\nContent-Type: application/sdp\r\nContent-Transfer-Encoding: base64\r\n\r\ndj0w\r\n--x--';
  fails('multipart/mixed;boundary=x', body, 'SW_ERR_SDP_UNSUPPORTED_ENCODING');
});

test('refuses multipart nested deeper than maxDepth', () => {
  const deepest = '--c\r\nContent-Type: application/sdp\r\n\r\n' + SDP + '\r\n--c--';
  const middle = '--b\r\nContent-Type: multipart/mixed;boundary=c\r\n\r\n' + deepest + '\r\n--b--';
  const body = '--a\r\nContent-Type: multipart/mixed;boundary=b\r\n\r\n' + middle + '\r\n--a--';
  fails('multipart/mixed;boundary=a', body, 'SW_ERR_SDP_BAD_MULTIPART');
});

test('refuses more parts than maxParts', () => {
  const body = '--x\r\n\r\nhi\r\n'.repeat(17) + '--x--';
  fails('multipart/mixed;boundary=x', body, 'SW_ERR_SDP_BAD_MULTIPART');
  assert.deepEqual(found('multipart/mixed;boundary=x', '--x\r\n\r\nhi\r\n'.repeat(16) + '--x--'), []);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  appendHeader,
  prependHeader,
  removeFirstValue,
  removeHeader,
  setHeader,
  withBody,
  withRequestUri,
} from '../../../src/sip/edit.ts';
import { serializeMessage } from '../../../src/sip/serialize.ts';
import { invite, parseOk, parseRequest } from './helpers.ts';

const names = (m: { headers: readonly { name: string }[] }): string[] => m.headers.map((h) => h.name);

test('prepends a Via at the top and updates the Via summary', () => {
  const m = parseOk(invite());
  const out = prependHeader(m, 'VIA', 'SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp1');
  assert.equal(out.headers[0]!.name, 'via');
  assert.equal(out.headers[0]!.raw, undefined);
  assert.deepEqual(
    out.via.map((v) => v.host),
    ['proxy.example.com', 'pc33.atlanta.example.com'],
  );
  assert.equal(m.via.length, 1, 'the original is not mutated');
  assert.equal(m.headers.length, out.headers.length - 1);
});

test('prepends Record-Route at the top and other headers before the first of their name', () => {
  const m = parseOk(invite('Route: <sip:p1.example.com;lr>\r\n'));
  assert.equal(prependHeader(m, 'Record-Route', '<sip:me.example.com;lr>').headers[0]!.name, 'record-route');
  const routed = prependHeader(m, 'route', '<sip:p0.example.com;lr>');
  const i = names(routed).indexOf('route');
  assert.equal(routed.headers[i]!.value, '<sip:p0.example.com;lr>');
  assert.equal(routed.headers[i + 1]!.value, '<sip:p1.example.com;lr>');
});

test('appends a header after every other', () => {
  const out = appendHeader(parseOk(invite()), 'X-Tag', '1');
  assert.deepEqual(out.headers.at(-1), { name: 'x-tag', value: '1' });
});

test('removes the first value of a comma-separated header, then its line', () => {
  const m = parseOk(
    invite().replace(
      'Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds',
      'Via: SIP/2.0/UDP p1.example.com;branch=z9hG4bK1 , SIP/2.0/UDP p2.example.com;branch=z9hG4bK2',
    ),
  );
  const once = removeFirstValue(m, 'via');
  assert.equal(once.headers[0]!.value, 'SIP/2.0/UDP p2.example.com;branch=z9hG4bK2');
  assert.deepEqual(
    once.via.map((v) => v.host),
    ['p2.example.com'],
  );
  const twice = removeFirstValue(once, 'v');
  assert.equal(twice.via.length, 0);
  assert.ok(!names(twice).includes('via'));
});

test('removes the first Route value without splitting on commas inside quotes or <>', () => {
  const m = parseOk(invite('Route: <sip:p1.example.com;lr>;x="a,b", <sip:p2.example.com;lr>\r\n'));
  const out = removeFirstValue(m, 'Route');
  assert.equal(out.headers.find((h) => h.name === 'route')!.value, '<sip:p2.example.com;lr>');
});

test('sets Max-Forwards in place and updates the summary', () => {
  const m = parseOk(invite());
  const out = setHeader(m, 'max-forwards', '69');
  assert.equal(out.maxForwards, 69);
  assert.equal(names(out).indexOf('max-forwards'), names(m).indexOf('max-forwards'));
  assert.equal(m.maxForwards, 70);
});

test('removes every field of a name', () => {
  const m = parseOk(invite('X-A: 1\r\nX-A: 2\r\n'));
  assert.ok(!names(removeHeader(m, 'x-a')).includes('x-a'));
  assert.equal(removeHeader(m, 'max-forwards').maxForwards, undefined);
});

test('replaces the body with Content-Type and Content-Length', () => {
  const m = parseOk(invite());
  const out = withBody(m, Buffer.from('v=0\r\n'), 'application/sdp');
  assert.equal(out.contentLength, 5);
  const text = serializeMessage(out).toString('latin1');
  assert.match(text, /Content-Type: application\/sdp\r\n/);
  assert.match(text, /Content-Length: 5\r\n\r\nv=0\r\n$/);
  const reparsed = parseOk(text);
  assert.equal(reparsed.body.toString(), 'v=0\r\n');
});

test('an empty body without a type drops Content-Type', () => {
  const m = parseOk(invite('Content-Type: text/plain\r\n', 'hi'));
  const out = withBody(m, Buffer.alloc(0));
  assert.ok(!names(out).includes('content-type'));
  assert.equal(out.contentLength, 0);
});

test('replaces the Request-URI', () => {
  const out = withRequestUri(parseRequest(invite()), 'sip:bob@192.0.2.4:5070;transport=tcp');
  assert.equal(out.uriText, 'sip:bob@192.0.2.4:5070;transport=tcp');
  assert.ok(
    serializeMessage(out)
      .toString('latin1')
      .startsWith('INVITE sip:bob@192.0.2.4:5070;transport=tcp SIP/2.0\r\n'),
  );
});

test('throws a TypeError for a value the proxy built wrongly', () => {
  const m = parseOk(invite());
  assert.throws(() => prependHeader(m, 'Via', 'not a via'), TypeError);
  assert.throws(() => withRequestUri(parseRequest(invite()), 'sip:a b'), TypeError);
});

test('a new header is written as Canonical-Name: value', () => {
  const out = prependHeader(parseOk(invite()), 'record-route', '<sip:me.example.com;lr>');
  assert.match(serializeMessage(out).toString('latin1'), /\r\nRecord-Route: <sip:me.example.com;lr>\r\n/);
});

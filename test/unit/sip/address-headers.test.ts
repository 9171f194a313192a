import assert from 'node:assert/strict';
import { test } from 'node:test';
import { firstRouteUri } from '../../../src/core/route/routes.ts';
import { nameAddrsOf } from '../../../src/sip/address-headers.ts';
import { prependHeader, removeFirstValue, withRequestUri } from '../../../src/sip/edit.ts';
import { SipParseError } from '../../../src/sip/errors.ts';
import type { HeaderField, NameAddr, SipUri } from '../../../src/sip/message.ts';
import { validateMessage } from '../../../src/sip/validate.ts';
import { invite, parseRequest } from './helpers.ts';

const ROUTED = invite(
  'Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n' +
    'Route: <sip:p3.example.com;lr>\r\n' +
    'Record-Route: <sip:rr.example.com;lr>\r\n' +
    'Path: <sip:edge.example.com;lr>\r\n',
);

const field = (headers: readonly HeaderField[], name: string, nth = 0): HeaderField =>
  headers.filter((h) => h.name === name)[nth]!;
const hosts = (list: unknown): string[] => (list as NameAddr[]).map((v) => (v.uri as SipUri).host);

test('parses a Contact, Route, Record-Route or Path field into its values', () => {
  const { headers } = parseRequest(ROUTED);
  assert.deepEqual(hosts(nameAddrsOf(field(headers, 'contact'))), ['pc33.atlanta.example.com']);
  assert.deepEqual(hosts(nameAddrsOf(field(headers, 'route'))), ['p1.example.com', 'p2.example.com']);
  assert.deepEqual(hosts(nameAddrsOf(field(headers, 'route', 1))), ['p3.example.com']);
  assert.deepEqual(hosts(nameAddrsOf(field(headers, 'record-route'))), ['rr.example.com']);
  assert.deepEqual(hosts(nameAddrsOf(field(headers, 'path'))), ['edge.example.com']);
});

test('keeps Contact * and a field that does not parse as what they are', () => {
  const star = parseRequest(invite().replace('Contact: <sip:alice@pc33.atlanta.example.com>', 'Contact: *'));
  assert.equal(nameAddrsOf(field(star.headers, 'contact')), '*');
  const bad = parseRequest(invite('Route: <sip:p1.example.com;lr\r\n'));
  assert.ok(nameAddrsOf(field(bad.headers, 'route')) instanceof SipParseError);
});

test('parses a field once: validation, the core and later readers get the same values', () => {
  const request = parseRequest(ROUTED);
  assert.ok(validateMessage(request).ok);
  const route = nameAddrsOf(field(request.headers, 'route')) as NameAddr[];
  assert.equal(nameAddrsOf(field(request.headers, 'route')), route);
  assert.equal(firstRouteUri(request), route[0]!.uri);
  // An edit that leaves the field alone shares it, and its values.
  const retargeted = withRequestUri(request, 'sip:carol@chicago.example.com');
  assert.equal(firstRouteUri(retargeted), route[0]!.uri);
  const forwarded = prependHeader(request, 'Via', 'SIP/2.0/UDP proxy.example.com;branch=z9hG4bK1');
  assert.equal(firstRouteUri(forwarded), route[0]!.uri);
});

test('a field an edit changed is parsed afresh', () => {
  const request = parseRequest(ROUTED);
  assert.equal(firstRouteUri(request)?.host, 'p1.example.com');
  const next = removeFirstValue(request, 'route');
  assert.equal(firstRouteUri(next)?.host, 'p2.example.com');
  assert.equal(firstRouteUri(removeFirstValue(next, 'route'))?.host, 'p3.example.com');
});

test('a copy of a field spread with another value is parsed afresh, not read stale', () => {
  const route = field(parseRequest(ROUTED).headers, 'route');
  assert.deepEqual(hosts(nameAddrsOf(route)), ['p1.example.com', 'p2.example.com']);
  const copy: HeaderField = { ...route, value: '<sip:p9.example.com;lr>' };
  assert.deepEqual(hosts(nameAddrsOf(copy)), ['p9.example.com']);
  assert.deepEqual(hosts(nameAddrsOf(Object.freeze({ name: 'route', value: '<sip:p8.example.com>' }))), [
    'p8.example.com',
  ]);
});

test('a token longer than the default bound is parsed with the bound given, not kept', () => {
  const request = parseRequest(ROUTED);
  const route = field(request.headers, 'route');
  assert.ok(nameAddrsOf(route, 8) instanceof SipParseError);
  assert.ok(Array.isArray(nameAddrsOf(route)));
});

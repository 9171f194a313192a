import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dialogEndpoints } from '../../../src/core/dialog/dialog-endpoints.ts';
import type { SipUri } from '../../../src/sip/message.ts';
import { parseRequest, parseResponse } from '../security/stages/helpers.ts';

/** sipwarden is 192.0.2.5 (both its entries when it record-routes twice). */
const isOwn = (uri: SipUri) => uri.host === '192.0.2.5';

const INVITE = parseRequest(
  [
    'INVITE sip:200@pbx.example.com SIP/2.0',
    'Via: SIP/2.0/UDP 198.51.100.10:5060;branch=z9hG4bK1',
    'Max-Forwards: 70',
    'From: "Alice" <sip:100@pbx.example.com>;tag=a1',
    'To: <sip:200@pbx.example.com>',
    'Call-ID: c1',
    'CSeq: 7 INVITE',
    'Contact: <sip:100@198.51.100.10:5060;transport=udp>',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n'),
);

function ok(recordRoutes: string[]) {
  return parseResponse(
    [
      'SIP/2.0 200 OK',
      'Via: SIP/2.0/UDP 198.51.100.10:5060;branch=z9hG4bK1',
      ...recordRoutes.map((rr) => `Record-Route: ${rr}`),
      'From: "Alice" <sip:100@pbx.example.com>;tag=a1',
      'To: <sip:200@pbx.example.com>;tag=b1',
      'Call-ID: c1',
      'CSeq: 7 INVITE',
      'Contact: <sip:200@203.0.113.9:5070>',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
  );
}

test('the parties with their tags and Contacts; the route beyond our entry towards the callee, reversed as the caller would', () => {
  const ends = dialogEndpoints(
    INVITE,
    ok(['<sip:k2@pbx2;lr>, <sip:k1@pbx1;lr>', '<sip:tok@192.0.2.5:5060;lr>', '<sip:edge@10.0.0.1;lr>']),
    'client',
    isOwn,
  );
  assert.deepEqual(ends, {
    callerAddress: '"Alice" <sip:100@pbx.example.com>;tag=a1',
    calleeAddress: '<sip:200@pbx.example.com>;tag=b1',
    callerTarget: 'sip:100@198.51.100.10:5060;transport=udp',
    calleeTarget: 'sip:200@203.0.113.9:5070',
    routeToCallee: ['<sip:k1@pbx1;lr>', '<sip:k2@pbx2;lr>'],
    routeToCaller: ['<sip:edge@10.0.0.1;lr>'],
  });
});

test('both entries of a double record-route are ours; a spiral holds ours twice and each leg takes its own', () => {
  const spiral = [
    '<sip:in@192.0.2.5:5060;lr>',
    '<sip:in@192.0.2.5:5061;transport=tcp;lr>',
    '<sip:k@pbx;lr>',
    '<sip:out@192.0.2.5:5061;transport=tcp;lr>',
    '<sip:out@192.0.2.5:5060;lr>',
  ];
  const outer = dialogEndpoints(INVITE, ok(spiral), 'client', isOwn);
  assert.deepEqual(outer?.routeToCallee, [
    '<sip:k@pbx;lr>',
    '<sip:in@192.0.2.5:5061;transport=tcp;lr>',
    '<sip:in@192.0.2.5:5060;lr>',
  ]);
  assert.deepEqual(outer?.routeToCaller, []);
  const inner = dialogEndpoints(INVITE, ok(spiral), 'upstream', isOwn);
  assert.deepEqual(inner?.routeToCallee, []);
  assert.deepEqual(inner?.routeToCaller, [
    '<sip:k@pbx;lr>',
    '<sip:out@192.0.2.5:5061;transport=tcp;lr>',
    '<sip:out@192.0.2.5:5060;lr>',
  ]);
});

test('without Record-Route the parties are reached directly; without a Contact nothing can be built', () => {
  const ends = dialogEndpoints(INVITE, ok([]), 'client', isOwn);
  assert.deepEqual([ends?.routeToCallee, ends?.routeToCaller], [[], []]);
  const noContact = parseResponse(
    'SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 198.51.100.10:5060;branch=z9hG4bK1\r\nFrom: <sip:100@pbx.example.com>;tag=a1\r\nTo: <sip:200@pbx.example.com>;tag=b1\r\nCall-ID: c1\r\nCSeq: 7 INVITE\r\nContent-Length: 0\r\n\r\n',
  );
  assert.equal(dialogEndpoints(INVITE, noContact, 'client', isOwn), undefined);
});

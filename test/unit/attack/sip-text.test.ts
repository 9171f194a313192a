import assert from 'node:assert/strict';
import { test } from 'node:test';
import { requestText, sdpOffer, sipUri, splitList } from '../../../src/attack/sip-text.ts';
import { parseMessage } from '../../../src/sip/parse.ts';
import { validateMessage } from '../../../src/sip/validate.ts';

test('a built INVITE parses and validates with the project parser', () => {
  const text = requestText({
    method: 'INVITE',
    requestUri: sipUri('100', '127.0.0.1', 5060),
    via: { host: '127.1.0.7', port: 40000, branch: 'z9hG4bKrun-7' },
    from: sipUri('alice', '127.0.0.1'),
    fromTag: 'f1',
    to: sipUri('100', '127.0.0.1'),
    callId: 'c1@127.1.0.7',
    cseq: 1,
    contact: sipUri('alice', '127.1.0.7', 40000),
    userAgent: 'Zoiper rv2.10.19.6',
    body: sdpOffer('127.1.0.7', 10000, 1),
  });
  const parsed = parseMessage(Buffer.from(text, 'latin1'));
  assert.ok(parsed.ok);
  assert.deepEqual(validateMessage(parsed.message), { ok: true });
  assert.equal(parsed.message.via[0]?.branch, 'z9hG4bKrun-7');
  assert.equal(parsed.message.contentLength, parsed.message.body.length);
});

test('IPv6 hosts are bracketed in URIs and Via', () => {
  assert.equal(sipUri('100', '::1', 5060), 'sip:100@[::1]:5060');
  const text = requestText({
    method: 'OPTIONS',
    requestUri: sipUri(undefined, '::1', 5060),
    via: { host: '::1', port: 5000, branch: 'z9hG4bKx' },
    from: 'sip:a@[::1]',
    fromTag: 't',
    to: 'sip:a@[::1]',
    callId: 'c',
    cseq: 1,
  });
  assert.match(text, /^Via: SIP\/2\.0\/UDP \[::1\]:5000;branch=z9hG4bKx;rport\r$/m);
  assert.ok(parseMessage(Buffer.from(text, 'latin1')).ok);
});

test('header lists split at commas outside quotes and angle brackets', () => {
  assert.deepEqual(splitList('<sip:a;lr>, "x, y" <sip:b>,<sip:c?h=1,2>'), [
    '<sip:a;lr>',
    '"x, y" <sip:b>',
    '<sip:c?h=1,2>',
  ]);
});

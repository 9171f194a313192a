import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SipRequest } from '../../../src/sip/message.ts';
import { serializeMessage } from '../../../src/sip/serialize.ts';
import { bytes, invite, parseOk } from './helpers.ts';

test('writes a parsed, unmodified message back byte for byte', () => {
  const text = invite(
    'Subject: folded\r\n  value\r\nv: SIP/2.0/TCP x.example.com;branch=z9hG4bK2\r\n',
    'body!',
  );
  assert.deepEqual(serializeMessage(parseOk(text)), bytes(text));
});

test('writes headers without raw bytes in canonical capitalisation', () => {
  const m = parseOk(invite()) as SipRequest;
  const headers = [
    ...m.headers,
    { name: 'call-info', value: '<http://x>' },
    { name: 'www-authenticate', value: 'Digest' },
  ];
  const out = serializeMessage({ ...m, headers }).toString('latin1');
  assert.match(out, /\r\nCall-Info: <http:\/\/x>\r\nWWW-Authenticate: Digest\r\n\r\n$/);
});

test('rewrites Content-Length when the body length changed', () => {
  const m = parseOk(invite('Content-Type: text/plain\r\n', 'hello'));
  const out = serializeMessage({ ...m, body: Buffer.from('hello, world') }).toString('latin1');
  assert.match(out, /\r\nContent-Length: 12\r\n\r\nhello, world$/);
});

test('keeps a Content-Length with leading zeros that still matches the body', () => {
  const text = invite('Content-Type: text/plain\r\n', 'hello').replace(
    'Content-Length: 5',
    'Content-Length: 005',
  );
  assert.deepEqual(serializeMessage(parseOk(text)), bytes(text));
});

test('writes the SIP version upper-case', () => {
  const text = invite().replace('SIP/2.0\r\n', 'sip/2.0\r\n');
  assert.ok(
    serializeMessage(parseOk(text))
      .toString('latin1')
      .startsWith('INVITE sip:bob@biloxi.example.com SIP/2.0\r\n'),
  );
});

test('writes non-ASCII bytes of header values unchanged', () => {
  const text = invite(`Subject: ${Buffer.from('Grüße', 'utf8').toString('latin1')}\r\n`);
  const out = serializeMessage(parseOk(text));
  assert.ok(out.includes(Buffer.from('Subject: Grüße\r\n', 'utf8')));
});

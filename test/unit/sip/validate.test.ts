import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validateMessage } from '../../../src/sip/validate.ts';
import { invite, parseOk } from './helpers.ts';

function refusedWith(text: string, code: string, status: number): void {
  const v = validateMessage(parseOk(text));
  assert.equal(v.ok, false);
  if (v.ok) return;
  assert.equal(v.code, code);
  assert.equal(v.status, status);
}

test('accepts a well-formed request', () => {
  assert.deepEqual(validateMessage(parseOk(invite())), { ok: true });
});

test('refuses a CSeq method other than the request method (RFC 4475 3.1.2.17)', () => {
  refusedWith(
    invite().replace('CSeq: 314159 INVITE', 'CSeq: 314159 OPTIONS'),
    'SW_ERR_CSEQ_METHOD_MISMATCH',
    400,
  );
  refusedWith(invite().replace('INVITE sip', 'ACK sip'), 'SW_ERR_CSEQ_METHOD_MISMATCH', 400);
});

test('accepts Max-Forwards 0 and 255, refuses 256', () => {
  assert.ok(validateMessage(parseOk(invite().replace('Max-Forwards: 70', 'Max-Forwards: 0'))).ok);
  assert.ok(validateMessage(parseOk(invite().replace('Max-Forwards: 70', 'Max-Forwards: 255'))).ok);
  refusedWith(invite().replace('Max-Forwards: 70', 'Max-Forwards: 256'), 'SW_ERR_MAX_FORWARDS_RANGE', 400);
});

test('answers an unknown Request-URI scheme with 416 (RFC 3261 8.2.2.1)', () => {
  refusedWith(
    invite().replace('sip:bob@biloxi.example.com SIP', 'nobody:opaque SIP'),
    'SW_ERR_UNSUPPORTED_URI_SCHEME',
    416,
  );
  assert.ok(
    validateMessage(parseOk(invite().replace('sip:bob@biloxi.example.com SIP', 'tel:+15551234 SIP'))).ok,
  );
});

test('bounds Expires and Contact expires to 2^32-1 (RFC 3261 20.19)', () => {
  assert.ok(validateMessage(parseOk(invite('Expires: 4294967295\r\n'))).ok);
  refusedWith(invite('Expires: 4294967296\r\n'), 'SW_ERR_EXPIRES_RANGE', 400);
  refusedWith(
    invite().replace(
      'Contact: <sip:alice@pc33.atlanta.example.com>',
      'Contact: <sip:a@b.example.com>;expires=280297596632815',
    ),
    'SW_ERR_EXPIRES_RANGE',
    400,
  );
});

test('refuses malformed Contact, Route, Record-Route and Path values', () => {
  refusedWith(invite('Route: <sip:p1.example.com;lr>,\r\n'), 'SW_ERR_BAD_NAME_ADDR', 400);
  refusedWith(invite('Record-Route: sip:p1.example.com;lr junk\r\n'), 'SW_ERR_BAD_NAME_ADDR', 400);
  refusedWith(invite('Route: *\r\n'), 'SW_ERR_BAD_NAME_ADDR', 400);
  refusedWith(invite('Path: <sip:p1.example.com;lr;lr>\r\n'), 'SW_ERR_BAD_NAME_ADDR', 400);
  refusedWith(
    invite().replace(
      'Contact: <sip:alice@pc33.atlanta.example.com>',
      'Contact: "unterminated <sip:a@example.com>',
    ),
    'SW_ERR_BAD_NAME_ADDR',
    400,
  );
});

test('bounds the tokens of the headers it parses', () => {
  const v = validateMessage(parseOk(invite(`Route: <sip:${'p'.repeat(80)}.example.com;lr>\r\n`)), {
    maxTokenBytes: 64,
  });
  assert.ok(!v.ok && v.code === 'SW_ERR_TOKEN_TOO_LONG');
});

test('refuses a Contact q outside 0..1', () => {
  assert.ok(
    validateMessage(
      parseOk(
        invite().replace(
          'Contact: <sip:alice@pc33.atlanta.example.com>',
          'Contact: <sip:a@b.example.com>;q=0.33',
        ),
      ),
    ).ok,
  );
  refusedWith(
    invite().replace('Contact: <sip:alice@pc33.atlanta.example.com>', 'Contact: <sip:a@b.example.com>;q=1.5'),
    'SW_ERR_BAD_QVALUE',
    400,
  );
});

test('allows Contact * only alone in a REGISTER with Expires: 0 (RFC 3261 10.3)', () => {
  const register = invite()
    .replaceAll('INVITE', 'REGISTER')
    .replace('Contact: <sip:alice@pc33.atlanta.example.com>', 'Contact: *');
  assert.ok(
    validateMessage(parseOk(register.replace('Max-Forwards: 70', 'Max-Forwards: 70\r\nExpires: 0'))).ok,
  );
  refusedWith(register, 'SW_ERR_BAD_CONTACT_STAR', 400);
});

test('answers Proxy-Require with unsupported options with 420 and lists them (RFC 3261 16.3)', () => {
  const v = validateMessage(parseOk(invite('Proxy-Require: foo, bar\r\nRequire: baz\r\n')));
  assert.equal(v.ok, false);
  if (v.ok) return;
  assert.equal(v.status, 420);
  assert.deepEqual(v.unsupported, ['foo', 'bar']);
  assert.ok(
    validateMessage(parseOk(invite('Proxy-Require: foo\r\n')), { proxyExtensions: new Set(['foo']) }).ok,
  );
  assert.ok(validateMessage(parseOk(invite('Require: baz\r\n'))).ok, 'Require is for the UAS');
});

test('refuses a Content-Length that does not match an edited body', () => {
  const m = parseOk(invite('Content-Type: text/plain\r\n', 'hello'));
  const v = validateMessage({ ...m, body: Buffer.from('hi') });
  assert.equal(v.ok, false);
});

test('validates responses without request rules', () => {
  const text = invite().replace('INVITE sip:bob@biloxi.example.com SIP/2.0', 'SIP/2.0 200 OK');
  assert.ok(validateMessage(parseOk(text)).ok);
});

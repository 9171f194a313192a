import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createResponse, createResponseFromPartial, reasonPhrase } from '../../../src/sip/response.ts';
import { serializeMessage } from '../../../src/sip/serialize.ts';
import { bytes, invite, parseFails, parseOk, parseRequest } from './helpers.ts';

const twoVias = invite().replace(
  'Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds',
  'Via: SIP/2.0/UDP p1.example.com;branch=z9hG4bK1\r\nv:  SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds',
);

test('copies every Via (raw, in order), From, To, Call-ID and CSeq (RFC 3261 8.2.6.2)', () => {
  const res = createResponse(parseRequest(twoVias), 486);
  const text = serializeMessage(res).toString('latin1');
  assert.equal(
    text,
    'SIP/2.0 486 Busy Here\r\n' +
      'Via: SIP/2.0/UDP p1.example.com;branch=z9hG4bK1\r\n' +
      'v:  SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n' +
      'To: Bob <sip:bob@biloxi.example.com>\r\n' +
      'From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n' +
      'Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n' +
      'CSeq: 314159 INVITE\r\n' +
      'Content-Length: 0\r\n\r\n',
  );
  const reparsed = parseOk(text);
  assert.equal(reparsed.kind, 'response');
  assert.deepEqual(reparsed.via, res.via);
});

test('adds the To tag when asked, but never on 100', () => {
  const req = parseRequest(invite());
  const res = createResponse(req, 200, undefined, { toTag: 'as83kd' });
  assert.equal(res.to.params.get('tag'), 'as83kd');
  assert.match(
    serializeMessage(res).toString('latin1'),
    /\r\nTo: Bob <sip:bob@biloxi.example.com>;tag=as83kd\r\n/,
  );
  assert.equal(createResponse(req, 100, undefined, { toTag: 'as83kd' }).to.params.has('tag'), false);
});

test('keeps an existing To tag', () => {
  const req = parseRequest(
    invite().replace('To: Bob <sip:bob@biloxi.example.com>', 'To: <sip:bob@biloxi.example.com>;tag=x1'),
  );
  assert.equal(createResponse(req, 481, undefined, { toTag: 'other' }).to.params.get('tag'), 'x1');
});

test('writes extra headers, a body with its type and Content-Length', () => {
  const res = createResponse(parseRequest(invite()), 420, 'Bad Extension', {
    headers: [{ name: 'Unsupported', value: 'foo' }],
    body: Buffer.from('hi'),
    contentType: 'text/plain',
  });
  const text = serializeMessage(res).toString('latin1');
  assert.match(text, /\r\nUnsupported: foo\r\nContent-Type: text\/plain\r\nContent-Length: 2\r\n\r\nhi$/);
});

test('knows the RFC reason phrases and falls back by class', () => {
  assert.equal(reasonPhrase(100), 'Trying');
  assert.equal(reasonPhrase(483), 'Too Many Hops');
  assert.equal(reasonPhrase(513), 'Message Too Large');
  assert.equal(reasonPhrase(499), 'Client Error');
});

test('keeps a reason phrase ASCII without CR or LF', () => {
  const res = createResponse(parseRequest(invite()), 400, 'bad\r\nInjected: yes\u00e9');
  assert.equal(res.reason, 'bad??Injected: yes?');
});

test('answers an unparseable request from its readable fields', () => {
  const partial = parseFails(
    twoVias.replace('CSeq: 314159 INVITE', 'CSeq: 314159 INVITE\r\nMax-Forwards: 2'),
    'SW_ERR_DUPLICATE_HEADER',
  );
  assert.ok(partial !== undefined);
  const answer = createResponseFromPartial(partial, 400, 'repeated Max-Forwards header', { toTag: 'zz' });
  assert.ok(answer !== undefined);
  const text = answer.toString('latin1');
  assert.ok(
    text.startsWith(
      'SIP/2.0 400 repeated Max-Forwards header\r\nVia: SIP/2.0/UDP p1.example.com;branch=z9hG4bK1\r\nv:  SIP/2.0/UDP',
    ),
  );
  assert.match(text, /\r\nTo: Bob <sip:bob@biloxi.example.com>;tag=zz\r\n/);
  assert.ok(parseOk(answer).kind === 'response');
});

test('answers nothing when a field to copy is unreadable, for ACK, and for responses', () => {
  const badVia = parseFails(
    invite()
      .replace('branch=z9hG4bK776asdhds', 'branch=z9hG4bK776asdhds;;')
      .replace('CSeq: 314159', 'CSeq: x'),
    'SW_ERR_BAD_VIA',
  );
  assert.equal(createResponseFromPartial(badVia!, 400, 'x'), undefined);
  const noCallId = parseFails(
    invite().replace('Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n', ''),
    'SW_ERR_MISSING_HEADER',
  );
  assert.equal(createResponseFromPartial(noCallId!, 400, 'x'), undefined);
  const ack = parseFails(
    invite().replace('INVITE sip', 'ACK sip').replace('SIP/2.0\r\n', 'SIP/3.0\r\n'),
    'SW_ERR_BAD_VERSION',
  );
  assert.equal(createResponseFromPartial(ack!, 505, 'x'), undefined);
  const response = {
    kind: 'response' as const,
    headers: parseFails(
      bytes(invite().replace('Max-Forwards: 70', 'Max-Forwards: x')),
      'SW_ERR_BAD_MAX_FORWARDS',
    )!.headers,
  };
  assert.equal(createResponseFromPartial(response, 400, 'x'), undefined);
});

test('answers a request with two From, To or Call-ID headers from the first of each', () => {
  const doubled = invite()
    .replace('CSeq: 314159', 'From: Mallory <sip:m@evil.example.com>;tag=2\r\nCSeq: 314159')
    .replace('CSeq: 314159', 'To: Carol <sip:carol@elsewhere.example.com>\r\nCSeq: 314159')
    .replace('CSeq: 314159', 'Call-ID: second@elsewhere\r\nCSeq: 314159');
  const partial = parseFails(doubled, 'SW_ERR_DUPLICATE_HEADER');
  const answer = createResponseFromPartial(partial!, 400, 'repeated From header', { toTag: 't1' });
  assert.ok(answer !== undefined);
  const reply = parseOk(answer);
  assert.equal(reply.from.uriText, 'sip:alice@atlanta.example.com');
  assert.equal(reply.to.uriText, 'sip:bob@biloxi.example.com');
  assert.equal(reply.to.params.get('tag'), 't1');
  assert.equal(reply.callId, 'a84b4c76e66710@pc33.atlanta.example.com');
  assert.equal(reply.headers.filter((h) => h.name === 'from').length, 1);
});

test('copies a From, To, Call-ID or CSeq that does not parse as it came, and writes the extra headers', () => {
  const partial = parseFails(
    invite().replace(
      'From: Alice <sip:alice@atlanta.example.com>',
      'From: "Alice <sip:alice@atlanta.example.com>',
    ),
    'SW_ERR_BAD_NAME_ADDR',
  );
  const answer = createResponseFromPartial(partial!, 400, 'bad From header', {
    headers: [{ name: 'Warning', value: '399 sipwarden "bad From header"' }],
  });
  assert.ok(answer !== undefined);
  const text = answer.toString('latin1');
  assert.match(text, /\r\nFrom: "Alice <sip:alice@atlanta\.example\.com>;tag=1928301774\r\n/);
  assert.match(text, /\r\nWarning: 399 sipwarden "bad From header"\r\nContent-Length: 0\r\n\r\n$/);
});

test('answers nothing when a field to copy holds a control character, or its CSeq names ACK', () => {
  const nul = parseFails(
    invite().replace('Call-ID: a84b4c76e66710', 'Call-ID: a84b\u0000c76e66710'),
    'SW_ERR_BAD_CALL_ID',
  );
  assert.equal(createResponseFromPartial(nul!, 400, 'x'), undefined);
  const ackCSeq = parseFails(
    invite().replace('CSeq: 314159 INVITE', 'CSeq: 99999999999999 ACK'),
    'SW_ERR_BAD_CSEQ',
  );
  assert.equal(createResponseFromPartial(ackCSeq!, 400, 'x'), undefined);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_STREAM_LIMITS, DEFAULT_UDP_LIMITS, type ParserLimits } from '../../../src/sip/limits.ts';
import { parseMessage } from '../../../src/sip/parse.ts';
import { bytes, invite, parseFails, parseOk } from './helpers.ts';

const small: ParserLimits = {
  maxMessageBytes: 2000,
  maxHeaderLines: 20,
  maxTokenBytes: 64,
  maxBodyBytes: 100,
};

function tokenTooLong(text: string): void {
  const r = parseMessage(bytes(text), small);
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.equal(r.error.code, 'SW_ERR_TOKEN_TOO_LONG', r.error.reason);
  assert.equal(r.error.limit, 'maxTokenBytes');
  assert.equal(r.error.status, 400);
}

test('the default limits follow the field and are frozen', () => {
  assert.deepEqual(
    [DEFAULT_UDP_LIMITS.maxMessageBytes, DEFAULT_UDP_LIMITS.maxHeaderLines, DEFAULT_UDP_LIMITS.maxTokenBytes],
    [6048, 256, 1024],
  );
  assert.equal(DEFAULT_UDP_LIMITS.maxBodyBytes, 4000);
  // The same 6048 bytes on streams: TCP and TLS carry no larger message than UDP.
  assert.equal(DEFAULT_STREAM_LIMITS.maxMessageBytes, 6048);
  assert.ok(Object.isFrozen(DEFAULT_UDP_LIMITS));
  assert.ok(Object.isFrozen(DEFAULT_STREAM_LIMITS));
});

test('a message over maxMessageBytes fails with 513 and still yields its fields', () => {
  const text = invite(`X-Pad: ${'a '.repeat(1100)}\r\n`);
  const partial = parseFails(text, 'SW_ERR_MESSAGE_TOO_LARGE', small, 513);
  assert.ok(partial !== undefined && partial.headers.length >= 7);
  const r = parseMessage(bytes(text), small);
  assert.ok(!r.ok && r.error.limit === 'maxMessageBytes');
});

test('a message of exactly maxMessageBytes parses', () => {
  const base = invite('X-Pad: \r\n');
  const text = invite(`X-Pad: ${'a'.repeat(small.maxMessageBytes - base.length)}\r\n`);
  assert.equal(text.length, small.maxMessageBytes);
  const r = parseMessage(bytes(text), { ...small, maxTokenBytes: 2000 });
  assert.ok(r.ok);
});

test('more header lines than maxHeaderLines fail with SW_ERR_TOO_MANY_HEADERS', () => {
  const extra = Array.from({ length: 20 }, (_, k) => `X-H${k}: v\r\n`).join('');
  parseFails(invite(extra), 'SW_ERR_TOO_MANY_HEADERS', small, 513);
});

test('continuation lines count toward maxHeaderLines', () => {
  const folded = `Subject: a${'\r\n b'.repeat(20)}\r\n`;
  parseFails(invite(folded), 'SW_ERR_TOO_MANY_HEADERS', small);
  parseOk(invite(folded));
});

test('a body over maxBodyBytes fails with 413', () => {
  const r = parseMessage(bytes(invite('Content-Type: text/plain\r\n', 'x'.repeat(101))), small);
  assert.ok(!r.ok);
  assert.equal(r.error.code, 'SW_ERR_BODY_TOO_LARGE');
  assert.equal(r.error.status, 413);
  assert.equal(r.error.limit, 'maxBodyBytes');
});

test('a datagram body over maxBodyBytes without Content-Length fails with 413', () => {
  const text = invite().replace('Content-Length: 0\r\n', '') + 'x'.repeat(101);
  parseFails(text, 'SW_ERR_BODY_TOO_LARGE', small, 413);
});

test('every token over maxTokenBytes fails with SW_ERR_TOKEN_TOO_LONG', () => {
  const long = 'x'.repeat(65);
  tokenTooLong(invite(`${long}: v\r\n`));
  tokenTooLong(invite(`X-Long: ${long}\r\n`));
  tokenTooLong(invite().replace('branch=z9hG4bK776asdhds', `branch=z9hG4bK${long}`));
  tokenTooLong(invite().replace('sip:bob@biloxi.example.com SIP', `sip:${long}@biloxi.example.com SIP`));
  tokenTooLong(invite().replace('a84b4c76e66710@', `${long}@`));
  tokenTooLong(invite().replace('To: Bob', `To: "${long}"`));
  tokenTooLong(invite().replace('tag=1928301774', `tag=${long}`));
  tokenTooLong(invite().replace('INVITE sip', `${long} sip`));
  tokenTooLong(invite().replace('CSeq: 314159 INVITE', `CSeq: 314159 ${long}`));
  tokenTooLong(invite().replace('INVITE sip:bob@biloxi.example.com SIP/2.0', `SIP/2.0 200 ${long}`));
});

test('a long header value made of short tokens is within maxTokenBytes', () => {
  parseOk(invite(`X-Many: ${'abc, '.repeat(40)}end\r\n`), small);
});

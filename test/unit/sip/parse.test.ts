import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_STREAM_LIMITS } from '../../../src/sip/limits.ts';
import { parseMessage } from '../../../src/sip/parse.ts';
import {
  bytes,
  invite,
  parseFails,
  parseOk,
  parseRequest,
  parseResponse,
  plain as plainParts,
} from './helpers.ts';

test('parses the request line, the summaries and every header field in order', () => {
  const m = parseRequest(invite());
  assert.equal(m.method, 'INVITE');
  assert.equal(m.uriText, 'sip:bob@biloxi.example.com');
  assert.equal(m.uri.scheme, 'sip');
  assert.equal(m.callId, 'a84b4c76e66710@pc33.atlanta.example.com');
  assert.deepEqual(m.cseq, { seq: 314159, method: 'INVITE' });
  assert.equal(m.from.params.get('tag'), '1928301774');
  assert.equal(m.to.displayName, 'Bob');
  assert.equal(m.via.length, 1);
  assert.equal(m.via[0]!.branch, 'z9hG4bK776asdhds');
  assert.equal(m.maxForwards, 70);
  assert.equal(m.contentLength, 0);
  assert.deepEqual(
    m.headers.map((h) => h.name),
    ['via', 'max-forwards', 'to', 'from', 'call-id', 'cseq', 'contact', 'content-length'],
  );
  assert.equal(m.headers[0]!.raw, 'Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds');
});

test('parses a status line, an empty reason phrase included', () => {
  const text = invite().replace('INVITE sip:bob@biloxi.example.com SIP/2.0', 'SIP/2.0 180 Ringing');
  const m = parseResponse(text);
  assert.equal(m.status, 180);
  assert.equal(m.reason, 'Ringing');
  assert.equal(parseResponse(text.replace('180 Ringing', '100 ')).reason, '');
});

test('refuses a status line without SP after the code, or a code outside 100..699', () => {
  const text = invite().replace('INVITE sip:bob@biloxi.example.com SIP/2.0', 'SIP/2.0 180 Ringing');
  parseFails(text.replace('180 Ringing', '180'), 'SW_ERR_BAD_START_LINE');
  parseFails(text.replace('180 Ringing', '099 Low'), 'SW_ERR_BAD_STATUS_CODE');
  parseFails(text.replace('180 Ringing', '700 High'), 'SW_ERR_BAD_STATUS_CODE');
  parseFails(text.replace('180 Ringing', '4294967301 Big'), 'SW_ERR_BAD_STATUS_CODE');
});

test('refuses extra, missing or trailing SP in the request line (RFC 4475 3.1.2.8-10)', () => {
  const line = 'INVITE sip:bob@biloxi.example.com SIP/2.0';
  for (const bad of [
    'INVITE  sip:bob@biloxi.example.com SIP/2.0',
    'INVITE sip:bob@biloxi.example.com SIP/2.0 ',
    'INVITE sip:bob@biloxi.example.com; lr SIP/2.0',
    'INVITE sip:bob@biloxi.example.com',
    'INVITE\tsip:bob@biloxi.example.com SIP/2.0',
    ' INVITE sip:bob@biloxi.example.com SIP/2.0',
  ]) {
    const partial = parseFails(invite().replace(line, bad), 'SW_ERR_BAD_START_LINE', undefined, 400);
    assert.equal(partial, undefined);
  }
});

test('answers an unknown SIP version with 505 and keeps the fields for the answer', () => {
  const partial = parseFails(
    invite().replace('SIP/2.0\r\n', 'SIP/7.0\r\n'),
    'SW_ERR_BAD_VERSION',
    undefined,
    505,
  );
  assert.equal(partial?.kind, 'request');
  assert.equal(partial?.method, 'INVITE');
  assert.ok(partial?.headers.some((h) => h.name === 'call-id'));
});

test('refuses a malformed SIP version with 400', () => {
  parseFails(invite().replace('SIP/2.0\r\n', 'SIP/2\r\n'), 'SW_ERR_BAD_START_LINE');
  parseFails(invite().replace('SIP/2.0\r\n', 'HTTP/1.1\r\n'), 'SW_ERR_BAD_START_LINE');
});

test('refuses a Request-URI in <> or with headers (RFC 4475 3.1.2.7, 3.1.2.11)', () => {
  parseFails(
    invite().replace('sip:bob@biloxi.example.com SIP', '<sip:bob@biloxi.example.com> SIP'),
    'SW_ERR_BAD_REQUEST_URI',
  );
  parseFails(
    invite().replace('sip:bob@biloxi.example.com SIP', 'sip:bob@biloxi.example.com?Route=%3Csip:x%3E SIP'),
    'SW_ERR_REQUEST_URI_HEADERS',
  );
});

test('accepts a method token of unusual characters (RFC 4475 3.1.1.2)', () => {
  const text = invite().replace('INVITE sip', "!interesting-Method0123456789_*+`.%indeed'~ sip");
  assert.equal(parseRequest(text).method, "!interesting-Method0123456789_*+`.%indeed'~");
});

test('expands compact header names and matches names case-insensitively', () => {
  const text =
    'OPTIONS sip:a@example.com SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK1\r\nT: <sip:a@example.com>\r\n' +
    'f: <sip:b@example.com>;tag=1\r\ni: abc\r\nCSEQ: 1 OPTIONS\r\nL: 0\r\n\r\n';
  const m = parseOk(text);
  assert.deepEqual(
    m.headers.map((h) => h.name),
    ['via', 'to', 'from', 'call-id', 'cseq', 'content-length'],
  );
  assert.equal(m.callId, 'abc');
  assert.equal(m.headers[0]!.raw, 'v: SIP/2.0/UDP h;branch=z9hG4bK1');
});

test('unfolds continuation lines into one space and keeps the raw folded line', () => {
  const m = parseOk(invite('Subject: first\r\n  \t second\r\n third\r\n'));
  const subject = m.headers.find((h) => h.name === 'subject')!;
  assert.equal(subject.value, 'first second third');
  assert.equal(subject.raw, 'Subject: first\r\n  \t second\r\n third');
});

test('accepts whitespace before the colon and a value folded right after it', () => {
  const m = parseOk(invite().replace('CSeq: 314159 INVITE', 'CSeq   :\r\n 314159\r\n  INVITE'));
  assert.deepEqual(m.cseq, { seq: 314159, method: 'INVITE' });
});

test('accepts an empty header value on an unknown header', () => {
  const m = parseOk(invite('Subject:\r\nX-Empty:   \r\n'));
  assert.equal(m.headers.find((h) => h.name === 'x-empty')!.value, '');
});

test('collects Via values across fields and comma lists, top first', () => {
  const m = parseOk(
    invite().replace(
      'Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n',
      'Via: SIP/2.0/UDP p1.example.com;branch=z9hG4bK1, SIP/2.0/TCP p2.example.com;branch=z9hG4bK2\r\nv: SIP/2.0/UDP p3.example.com;branch=z9hG4bK3\r\n',
    ),
  );
  assert.deepEqual(
    m.via.map((v) => v.host),
    ['p1.example.com', 'p2.example.com', 'p3.example.com'],
  );
});

test('refuses a message missing any of Via, From, To, Call-ID, CSeq (RFC 4475 3.3.1)', () => {
  for (const line of [
    'Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n',
    'From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n',
    'To: Bob <sip:bob@biloxi.example.com>\r\n',
    'Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n',
    'CSeq: 314159 INVITE\r\n',
  ]) {
    parseFails(invite().replace(line, ''), 'SW_ERR_MISSING_HEADER');
  }
});

test('tolerates a missing Max-Forwards', () => {
  assert.equal(parseOk(invite().replace('Max-Forwards: 70\r\n', '')).maxForwards, undefined);
});

test('refuses a repeated single-valued header (RFC 4475 3.3.8)', () => {
  for (const line of [
    'From: <sip:x@example.com>;tag=2\r\n',
    'To: <sip:y@example.com>\r\n',
    'Call-ID: other\r\n',
    'CSeq: 1 INVITE\r\n',
    'Max-Forwards: 5\r\n',
    'Content-Length: 0\r\n',
    'Content-Type: text/plain\r\nContent-Type: text/plain\r\n',
    'Expires: 5\r\nExpires: 6\r\n',
  ]) {
    parseFails(invite(line), 'SW_ERR_DUPLICATE_HEADER');
  }
});

test('refuses a To with two values', () => {
  parseFails(
    invite().replace('To: Bob <sip:bob@biloxi.example.com>', 'To: <sip:a@example.com>, <sip:b@example.com>'),
    'SW_ERR_BAD_NAME_ADDR',
  );
});

test('refuses malformed Call-ID, Max-Forwards, Content-Length and Expires values', () => {
  parseFails(
    invite().replace('Call-ID: a84b4c76e66710@pc33.atlanta.example.com', 'Call-ID: a b'),
    'SW_ERR_BAD_CALL_ID',
  );
  parseFails(invite().replace('Max-Forwards: 70', 'Max-Forwards: seventy'), 'SW_ERR_BAD_MAX_FORWARDS');
  parseFails(invite().replace('Content-Length: 0', 'Content-Length: -999'), 'SW_ERR_BAD_CONTENT_LENGTH');
  parseFails(invite('Expires: soon\r\n'), 'SW_ERR_BAD_EXPIRES');
});

test('reads exactly Content-Length bytes of body', () => {
  const m = parseOk(invite('Content-Type: text/plain\r\n', 'hello'));
  assert.equal(m.body.toString(), 'hello');
  assert.equal(m.contentLength, 5);
});

test('reports octets after Content-Length bytes as trailing (RFC 3261 18.3)', () => {
  const r = parseMessage(bytes(`${invite()}garbage`));
  assert.ok(r.ok);
  assert.equal(r.trailingBytes, 7);
  assert.equal(r.message.body.length, 0);
});

test('refuses a body shorter than Content-Length (RFC 4475 3.1.2.2)', () => {
  parseFails(invite().replace('Content-Length: 0', 'Content-Length: 10'), 'SW_ERR_CONTENT_LENGTH');
});

test('takes the rest of a datagram as body when Content-Length is absent', () => {
  const m = parseOk(invite('', '').replace('Content-Length: 0\r\n', '') + 'v=0\r\n');
  assert.equal(m.body.toString(), 'v=0\r\n');
  assert.equal(m.contentLength, undefined);
});

test('requires Content-Length under stream limits (RFC 3261 18.3)', () => {
  parseFails(invite().replace('Content-Length: 0\r\n', ''), 'SW_ERR_MISSING_HEADER', DEFAULT_STREAM_LIMITS);
});

test('refuses a message without the empty line after the headers and keeps complete lines', () => {
  const partial = parseFails(invite().slice(0, -2), 'SW_ERR_NO_HEADER_END');
  assert.equal(partial?.headers.length, 8);
  const truncated = parseFails(invite().slice(0, 60), 'SW_ERR_NO_HEADER_END');
  assert.equal(truncated?.headers.length, 0);
});

test('refuses bare LF line endings', () => {
  parseFails(invite().replaceAll('\r\n', '\n'), 'SW_ERR_BAD_START_LINE');
  parseFails(invite().replace('Max-Forwards: 70\r\n', 'Max-Forwards: 70\nX-A: b\r\n'), 'SW_ERR_BAD_HEADER');
  parseFails(invite('X-Bare: a\nb\r\n'), 'SW_ERR_BAD_HEADER');
  parseFails(invite('X-Folded: a\r\n b\nc\r\n'), 'SW_ERR_BAD_HEADER');
  parseFails(invite('\n'), 'SW_ERR_BAD_HEADER');
  parseFails(invite('X-Bare: a\rb\r\n'), 'SW_ERR_BAD_HEADER');
});

test('refuses control characters in header values unless escaped in a quoted-pair', () => {
  parseFails(invite('X-Nul: a\x00b\r\n'), 'SW_ERR_BAD_HEADER');
  parseOk(invite('X-Quoted: "BEL:\\\x07 NUL:\\\x00"\r\n'));
  parseOk(invite().replace('To: Bob', 'To: "BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f"'));
});

test('refuses a header line without a name or colon', () => {
  parseFails(invite('NoColonHere\r\n'), 'SW_ERR_BAD_HEADER');
  parseFails(invite(': value\r\n'), 'SW_ERR_BAD_HEADER');
  parseFails(invite('Bad Name: value\r\n'), 'SW_ERR_BAD_HEADER');
  parseFails(
    invite().replace(
      'INVITE sip:bob@biloxi.example.com SIP/2.0\r\n',
      'INVITE sip:bob@biloxi.example.com SIP/2.0\r\n folded: x\r\n',
    ),
    'SW_ERR_BAD_HEADER',
  );
});

test('keeps UTF-8 in display names and reason phrases as latin1 text that round-trips', () => {
  const name = Buffer.from('Jöran Åström', 'utf8').toString('latin1');
  const m = parseOk(invite().replace('To: Bob', `To: "${name}"`));
  assert.equal(Buffer.from(m.to.displayName!, 'latin1').toString('utf8'), 'Jöran Åström');
});

test('ignores CRLFs before the start line (RFC 3261 7.5)', () => {
  assert.equal(parseRequest(`\r\n\r\n${invite()}`).method, 'INVITE');
});

test('reads the start line and every field the same after leading CRLFs (bytes and text agree)', () => {
  // The parser reads some checks from the bytes and the rest from the text after the CRLFs.
  const request = invite('Via: SIP/2.0/TCP example.com:5061;branch=z9hG4bK2;received=192.0.2.1\r\n');
  const plain = parseRequest(request);
  const shifted = parseRequest(`\r\n\r\n\r\n${request}`);
  assert.deepEqual(plainParts({ ...shifted, body: undefined }), plainParts({ ...plain, body: undefined }));
  const status = request.replace('INVITE sip:bob@biloxi.example.com SIP/2.0', 'SIP/2.0 180 Ringing');
  for (const version of ['SIP/2.0', 'sip/2.0', 'Sip/2.0', 'sIP/2.0']) {
    const text = status.replace('SIP/2.0 180', `${version} 180`);
    assert.equal(parseResponse(text).status, 180, version);
    assert.equal(parseResponse(`\r\n${text}`).status, 180, version);
  }
  parseFails(status.replace('SIP/2.0 180', 'SIQ/2.0 180'), 'SW_ERR_BAD_START_LINE');
});

test('returns the fields read before the error for an answer', () => {
  const partial = parseFails(invite().replace('CSeq: 314159 INVITE', 'CSeq: x INVITE'), 'SW_ERR_BAD_CSEQ');
  assert.equal(partial?.kind, 'request');
  assert.deepEqual(
    partial?.headers.map((h) => h.name),
    ['via', 'max-forwards', 'to', 'from', 'call-id', 'cseq', 'contact', 'content-length'],
  );
});

test('never throws on empty or tiny inputs', () => {
  for (const text of ['', '\r\n', '\r\n\r\n', 'S', 'SIP/', 'SIP/2.0 ', 'A B C', ':\r\n\r\n']) {
    const r = parseMessage(bytes(text));
    assert.equal(r.ok, false);
  }
});

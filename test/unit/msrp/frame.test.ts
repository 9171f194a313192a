import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  FrameReader,
  headerValue,
  type MsrpFrame,
  MsrpParseError,
  parseByteRange,
  parseFrame,
  serializeFrame,
} from '../../../src/msrp/frame.ts';

const crlf = (lines: string[]): Buffer => Buffer.from(lines.join('\r\n'), 'utf8');

// RFC 4975 section 4: Alice's first message to Bob and Bob's response. The RFC's Byte-Range
// says 25 bytes for a 23-byte body (a known erratum): the parser reports the range as written.
const RFC4975_S4_SEND = crlf([
  'MSRP a786hjs2 SEND',
  'To-Path: msrp://biloxi.example.com:12763/kjhd37s2s20w2a;tcp',
  'From-Path: msrp://atlanta.example.com:7654/jshA7weztas;tcp',
  'Message-ID: 87652491',
  'Byte-Range: 1-25/25',
  'Content-Type: text/plain',
  '',
  'Hey Bob, are you there?',
  '-------a786hjs2$',
  '',
]);
const RFC4975_S4_OK = crlf([
  'MSRP a786hjs2 200 OK',
  'To-Path: msrp://atlanta.example.com:7654/jshA7weztas;tcp',
  'From-Path: msrp://biloxi.example.com:12763/kjhd37s2s20w2a;tcp',
  '-------a786hjs2$',
  '',
]);
// RFC 4975 section 10.1 (basic IM session): the SEND, its 200 and Bob's success report.
const RFC4975_S10_SEND = crlf([
  'MSRP d93kswow SEND',
  'To-Path: msrp://bob.example.com:8888/9di4eae923wzd;tcp',
  'From-Path: msrp://alicepc.example.com:7777/iau39soe2843z;tcp',
  'Message-ID: 12339sdqwer',
  'Byte-Range: 1-16/16',
  'Content-Type: text/plain',
  '',
  "Hi, I'm Alice!",
  '-------d93kswow$',
  '',
]);
const RFC4975_S10_REPORT = crlf([
  'MSRP dkei38sd REPORT',
  'To-Path: msrp://alicepc.example.com:7777/iau39soe2843z;tcp',
  'From-Path: msrp://bob.example.com:8888/9di4eae923wzd;tcp',
  'Message-ID: 12339sdqwer',
  'Byte-Range: 1-16/16',
  'Status: 000 200 OK',
  '-------dkei38sd$',
  '',
]);

function parseAll(data: Buffer): MsrpFrame {
  const parsed = parseFrame(data);
  assert.ok(parsed, 'a whole frame');
  assert.equal(parsed.length, data.length, 'the frame takes every byte');
  return parsed.frame;
}

test('RFC 4975 section 4: the SEND parses into its fields and is written back byte for byte', () => {
  const frame = parseAll(RFC4975_S4_SEND);
  assert.equal(frame.kind, 'request');
  assert.equal(frame.transactionId, 'a786hjs2');
  assert.equal(frame.kind === 'request' && frame.method, 'SEND');
  assert.deepEqual(frame.toPath, ['msrp://biloxi.example.com:12763/kjhd37s2s20w2a;tcp']);
  assert.deepEqual(frame.fromPath, ['msrp://atlanta.example.com:7654/jshA7weztas;tcp']);
  assert.equal(headerValue(frame, 'message-id'), '87652491');
  assert.deepEqual(parseByteRange(headerValue(frame, 'Byte-Range')!), { start: 1, end: 25, total: 25 });
  assert.equal(frame.flag, '$');
  assert.equal(frame.kind === 'request' && frame.body?.toString(), 'Hey Bob, are you there?');
  assert.deepEqual(serializeFrame(frame), RFC4975_S4_SEND);
});

test('RFC 4975 section 4: the 200 response parses and is written back byte for byte', () => {
  const frame = parseAll(RFC4975_S4_OK);
  assert.equal(frame.kind, 'response');
  assert.equal(frame.kind === 'response' && frame.status, 200);
  assert.equal(frame.kind === 'response' && frame.comment, 'OK');
  assert.deepEqual(serializeFrame(frame), RFC4975_S4_OK);
});

test('RFC 4975 section 10.1: SEND and REPORT (with Status) round-trip', () => {
  const send = parseAll(RFC4975_S10_SEND);
  assert.equal(send.kind === 'request' && send.body?.toString(), "Hi, I'm Alice!");
  assert.deepEqual(serializeFrame(send), RFC4975_S10_SEND);
  const report = parseAll(RFC4975_S10_REPORT);
  assert.equal(report.kind === 'request' && report.method, 'REPORT');
  assert.equal(report.kind === 'request' && report.body, undefined);
  assert.equal(headerValue(report, 'status'), '000 200 OK');
  assert.deepEqual(serializeFrame(report), RFC4975_S10_REPORT);
});

test('a stream cut at every byte gives the same frames, in order', () => {
  const stream = Buffer.concat([RFC4975_S4_SEND, RFC4975_S4_OK, RFC4975_S10_SEND, RFC4975_S10_REPORT]);
  const reader = new FrameReader();
  const frames: MsrpFrame[] = [];
  for (let i = 0; i < stream.length; i++) frames.push(...reader.push(stream.subarray(i, i + 1)));
  assert.deepEqual(
    frames.map((f) => f.transactionId),
    ['a786hjs2', 'a786hjs2', 'd93kswow', 'dkei38sd'],
  );
  assert.equal(reader.buffered, 0);
  assert.deepEqual(Buffer.concat(frames.map(serializeFrame)), stream);
});

test('a body may hold dashes and other end lines; only its own transaction ends it', () => {
  const body = Buffer.from('x\r\n-------other1$\r\n-------a786hjs\r\n--', 'latin1');
  const frame: MsrpFrame = {
    kind: 'request',
    transactionId: 'a786hjs2',
    method: 'SEND',
    headers: [
      { name: 'To-Path', value: 'msrp://b.example.com:1/s1;tcp' },
      { name: 'From-Path', value: 'msrp://a.example.com:2/s2;tcp' },
      { name: 'Message-ID', value: 'm0001' },
      { name: 'Content-Type', value: 'application/octet-stream' },
    ],
    toPath: ['msrp://b.example.com:1/s1;tcp'],
    fromPath: ['msrp://a.example.com:2/s2;tcp'],
    flag: '+',
    body,
  };
  const parsed = parseAll(serializeFrame(frame));
  assert.deepEqual(parsed.kind === 'request' && parsed.body, body);
  assert.equal(parsed.flag, '+');
});

test('what is not of the grammar is refused', () => {
  const bad: Record<string, string[]> = {
    'no SP after the colon': [
      'MSRP a786hjs2 SEND',
      'To-Path:msrp://b.example.com/s;tcp',
      'From-Path: msrp://a.example.com/s;tcp',
      '-------a786hjs2$',
      '',
    ],
    'From-Path first': [
      'MSRP a786hjs2 SEND',
      'From-Path: msrp://a.example.com/s;tcp',
      'To-Path: msrp://b.example.com/s;tcp',
      '-------a786hjs2$',
      '',
    ],
    'short transaction id': [
      'MSRP abc SEND',
      'To-Path: msrp://b.example.com/s;tcp',
      'From-Path: msrp://a.example.com/s;tcp',
      '-------abc$',
      '',
    ],
    'lower-case method': [
      'MSRP a786hjs2 send',
      'To-Path: msrp://b.example.com/s;tcp',
      'From-Path: msrp://a.example.com/s;tcp',
      '-------a786hjs2$',
      '',
    ],
    'bad flag': [
      'MSRP a786hjs2 SEND',
      'To-Path: msrp://b.example.com/s;tcp',
      'From-Path: msrp://a.example.com/s;tcp',
      '-------a786hjs2!',
      '',
    ],
    'not MSRP URIs': [
      'MSRP a786hjs2 SEND',
      'To-Path: sip:b@example.com',
      'From-Path: msrp://a.example.com/s;tcp',
      '-------a786hjs2$',
      '',
    ],
    'a body without Content-Type': [
      'MSRP a786hjs2 SEND',
      'To-Path: msrp://b.example.com/s;tcp',
      'From-Path: msrp://a.example.com/s;tcp',
      'Message-ID: m0001',
      '',
      'hello',
      '-------a786hjs2$',
      '',
    ],
    'a response with a body': [
      'MSRP a786hjs2 200 OK',
      'To-Path: msrp://b.example.com/s;tcp',
      'From-Path: msrp://a.example.com/s;tcp',
      'Content-Type: text/plain',
      '',
      'x',
      '-------a786hjs2$',
      '',
    ],
    'not MSRP': ['GET / HTTP/1.1', 'Host: x', '', ''],
  };
  for (const [why, lines] of Object.entries(bad)) {
    assert.throws(() => parseFrame(crlf(lines)), MsrpParseError, why);
  }
});

test('bounds: an endless head or a frame over its size is an error, not a wait', () => {
  const limits = { maxHeadBytes: 256, maxFrameBytes: 1024, maxHeaders: 4 };
  const reader = new FrameReader(limits);
  assert.throws(() => reader.push(Buffer.alloc(300, 0x41)), MsrpParseError);
  const head = crlf([
    'MSRP a786hjs2 SEND',
    'To-Path: msrp://b.example.com/s;tcp',
    'From-Path: msrp://a.example.com/s;tcp',
    'Content-Type: text/plain',
    '',
    '',
  ]);
  const big = new FrameReader(limits);
  assert.deepEqual(big.push(head), []);
  assert.throws(() => big.push(Buffer.alloc(2000, 0x61)), MsrpParseError);
  const many = crlf([
    'MSRP a786hjs2 SEND',
    'To-Path: msrp://b.example.com/s;tcp',
    'From-Path: msrp://a.example.com/s;tcp',
    'A: 1',
    'B: 2',
    'C: 3',
    '-------a786hjs2$',
    '',
  ]);
  assert.throws(() => parseFrame(many, limits), MsrpParseError);
});

test('Byte-Range values of the grammar, and only those', () => {
  assert.deepEqual(parseByteRange('1-*/*'), { start: 1, end: '*', total: '*' });
  assert.deepEqual(parseByteRange('2049-4096/8191'), { start: 2049, end: 4096, total: 8191 });
  for (const bad of ['0-5/5', '5-1/9', '1-9/5', '1-5', '-1-5/5', '1-5/5 ', 'a-b/c']) {
    assert.equal(parseByteRange(bad), undefined, bad);
  }
});

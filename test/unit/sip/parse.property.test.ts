/**
 * Parser properties (fast-check): generated valid messages round-trip both ways, and no
 * input, random or mutated, makes the parser throw. Runs more cases when CI is set.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { ERROR_STATUS, SipParseError } from '../../../src/sip/errors.ts';
import type { HeaderField, SipMessage } from '../../../src/sip/message.ts';
import { parseMessage } from '../../../src/sip/parse.ts';
import { serializeMessage } from '../../../src/sip/serialize.ts';
import { validateMessage } from '../../../src/sip/validate.ts';
import { message } from './arbitraries.ts';
import { plain } from './helpers.ts';

const ci = process.env.CI !== undefined && process.env.CI !== '';
const runs = (n: number): number => (ci ? n * 5 : n);

const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');

function parsedOk(data: Buffer): SipMessage {
  const r = parseMessage(data);
  if (!r.ok) throw new Error(`refused: ${r.error.code} ${r.error.reason}\n${data.toString('latin1')}`);
  return r.message;
}

/** Every result is a message or a typed error with a known code. */
function assertTyped(data: Buffer): void {
  const r = parseMessage(data);
  if (r.ok) return;
  assert.ok(r.error instanceof SipParseError);
  assert.ok(r.error.code in ERROR_STATUS, r.error.code);
  assert.notEqual(r.error.code, 'SW_ERR_INTERNAL', 'the parser hit an unexpected exception');
  assert.match(r.error.reason, /^[\x20-\x7e]{1,200}$/);
}

test('a generated valid message parses with the generated summaries', () => {
  fc.assert(
    fc.property(message, (g) => {
      const m = parsedOk(bytes(g.text));
      assert.equal(m.kind, g.kind);
      if (m.kind === 'request') assert.equal(m.method, g.method);
      assert.equal(m.via.length, g.vias.length);
      assert.equal(m.callId, g.callId);
      assert.deepEqual(m.cseq, { seq: g.seq, method: g.method });
      assert.equal(m.body.toString('latin1'), g.body);
    }),
    { numRuns: runs(800) },
  );
});

test('serialize(parse(bytes)) gives the bytes back', () => {
  fc.assert(
    fc.property(message, (g) => {
      const data = bytes(g.text);
      assert.deepEqual(serializeMessage(parsedOk(data)), data);
    }),
    { numRuns: runs(800) },
  );
});

test('parse(serialize(m)) equals m for a message without raw lines', () => {
  const stripRaw = (headers: readonly HeaderField[]): HeaderField[] =>
    headers.map((h) => ({ name: h.name, value: h.value }));
  fc.assert(
    fc.property(message, (g) => {
      const parsed = parsedOk(bytes(g.text));
      const built = { ...parsed, headers: stripRaw(parsed.headers) } as SipMessage;
      const again = parsedOk(serializeMessage(built));
      assert.deepEqual(plain({ ...again, headers: stripRaw(again.headers) }), plain(built));
    }),
    { numRuns: runs(500) },
  );
});

test('validation of a generated message never throws', () => {
  fc.assert(
    fc.property(message, (g) => {
      const v = validateMessage(parsedOk(bytes(g.text)));
      assert.equal(typeof v.ok, 'boolean');
    }),
    { numRuns: runs(200) },
  );
});

test('arbitrary bytes give a message or a typed error, never an exception', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2000, size: 'large' }), (a) => assertTyped(Buffer.from(a))),
    { numRuns: runs(500) },
  );
});

test('arbitrary SIP-like text gives a message or a typed error, never an exception', () => {
  const piece = fc.constantFrom(
    'INVITE ',
    'SIP/2.0',
    ' ',
    '\r\n',
    '\r\n\r\n',
    ':',
    ';',
    ',',
    '<',
    '>',
    '"',
    '\\',
    '[',
    ']',
    '@',
    'sip:',
    'Via: ',
    'SIP/2.0/UDP ',
    'v: ',
    'From: ',
    'To: ',
    'Call-ID: ',
    'CSeq: ',
    'Content-Length: ',
    'tag=',
    'branch=',
    '%',
    '0',
    '65536',
    '::1',
    'a',
    '\t',
    '\x00',
  );
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 200, size: 'large' }), (ps) => assertTyped(bytes(ps.join('')))),
    { numRuns: runs(1000) },
  );
});

test('random bytes after a valid start line give a message or a typed error', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600, size: 'large' }), (a) =>
      assertTyped(Buffer.concat([bytes('OPTIONS sip:a@example.com SIP/2.0\r\nVia: '), Buffer.from(a)])),
    ),
    { numRuns: runs(500) },
  );
});

const corpus: Buffer[] = (() => {
  const out: Buffer[] = [];
  const conformance = join(import.meta.dirname, '..', '..', 'fixtures', 'conformance');
  for (const dir of ['rfc4475/valid', 'rfc4475/invalid', 'rfc5118/valid', 'rfc5118/invalid']) {
    for (const f of readdirSync(join(conformance, dir))) out.push(readFileSync(join(conformance, dir, f)));
  }
  return out;
})();

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat(7) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), byte: fc.nat(255) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 20 }) }),
  fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 200 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
);

interface Mutation {
  readonly kind: string;
  readonly at: number;
  readonly bit?: number;
  readonly byte?: number;
  readonly len?: number;
}

function mutate(data: Buffer, ms: readonly Mutation[]): Buffer {
  let b = Buffer.from(data);
  for (const m of ms) {
    const at = b.length === 0 ? 0 : m.at % b.length;
    if (m.kind === 'flip' && b.length > 0) b[at] = b[at]! ^ (1 << m.bit!);
    else if (m.kind === 'insert')
      b = Buffer.concat([b.subarray(0, at), Buffer.from([m.byte!]), b.subarray(at)]);
    else if (m.kind === 'delete') b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.len!)]);
    else if (m.kind === 'duplicate')
      b = Buffer.concat([b.subarray(0, at + m.len!), b.subarray(at, at + m.len!), b.subarray(at + m.len!)]);
    else if (m.kind === 'truncate') b = b.subarray(0, at);
  }
  return b;
}

test('mutated torture messages give a message or a typed error, and what parses round-trips', () => {
  fc.assert(
    fc.property(
      fc.nat(corpus.length - 1),
      fc.array(mutation, { minLength: 1, maxLength: 4 }),
      (index, ms) => {
        const data = mutate(corpus[index]!, ms);
        assertTyped(data);
        const r = parseMessage(data);
        if (!r.ok) return;
        let start = 0;
        while (data[start] === 0x0d && data[start + 1] === 0x0a) start += 2;
        const expected = data.subarray(start, data.length - r.trailingBytes);
        // The version is written upper-case: a mutated "SIP/2.0" in another case differs.
        const line = expected.toString('latin1', 0, expected.indexOf('\r\n'));
        if (!line.includes('SIP/2.0')) return;
        assert.deepEqual(serializeMessage(r.message), expected);
      },
    ),
    { numRuns: runs(1500) },
  );
});

test('hostile repetitions are refused or parsed in bounded work', () => {
  // The parser is linear by construction (indexOf and single forward scans, no backtracking
  // regular expressions); these inputs exercise the longest loops without timing them.
  const head =
    'INVITE sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n';
  const inputs = [
    `${head}X-Spaces: a${' '.repeat(5000)}b\r\n\r\n`,
    `${head}X-Semis: ${';'.repeat(5000)}\r\n\r\n`,
    `${head}Contact: ${'<sip:a@b>,'.repeat(500)}<sip:a@b>\r\n\r\n`,
    `${head}Route: ${'"'.repeat(5000)}\r\n\r\n`,
    `${head}Subject: x${'\r\n '.repeat(2000)}\r\n\r\n`,
    `${head}Via: ${'SIP/2.0/UDP h,'.repeat(400)}SIP/2.0/UDP h\r\n\r\n`,
    `${head}To: ${'a '.repeat(2500)}<sip:a@b>\r\n\r\n`,
    `${'\r\n'.repeat(3000)}${head}\r\n`,
    `INVITE sip:[${':'.repeat(5000)}] SIP/2.0\r\n\r\n`,
  ];
  for (const text of inputs) assertTyped(bytes(text));
});

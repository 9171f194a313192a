/**
 * SDP parser properties (fast-check): generated valid descriptions round-trip through the
 * serializer, and no input, random or mutated, makes the parser throw. More cases when CI is set.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { findSdpBodies, parseMediaType } from '../../../src/sdp/body.ts';
import { SDP_ERROR_CODES, SdpError } from '../../../src/sdp/errors.ts';
import { DEFAULT_SDP_LIMITS } from '../../../src/sdp/limits.ts';
import { checkSdp, parseSdp, parseSdpUnguarded } from '../../../src/sdp/parse.ts';
import { serializeSdp } from '../../../src/sdp/serialize.ts';
import { session } from './arbitraries.ts';

const ci = process.env.CI !== undefined && process.env.CI !== '';
const runs = (n: number): number => (ci ? n * 5 : n);
const roomy = { ...DEFAULT_SDP_LIMITS, maxBytes: 65535 };

/** Every result is a model or a typed error with a known code and a clean reason. */
function assertTyped(data: Buffer | string): void {
  const r = parseSdpUnguarded(data);
  if (r.ok) return;
  assert.ok(r.error instanceof SdpError);
  assert.ok(SDP_ERROR_CODES.includes(r.error.code), r.error.code);
  assert.match(r.error.reason, /^[\x20-\x7e]{1,100}$/);
}

test('a generated valid description parses back to its model', () => {
  fc.assert(
    fc.property(session, (model) => {
      const text = serializeSdp(model);
      const r = parseSdpUnguarded(text, roomy);
      assert.ok(r.ok, r.ok ? '' : `${r.error.toString()}\n${text}`);
      assert.deepStrictEqual(r.sdp, model);
    }),
    { numRuns: runs(600) },
  );
});

test('serialize(parse(text)) gives the text back for generated descriptions', () => {
  fc.assert(
    fc.property(session, (model) => {
      const text = serializeSdp(model);
      const r = parseSdpUnguarded(text, roomy);
      assert.ok(r.ok);
      assert.equal(serializeSdp(r.sdp), text);
    }),
    { numRuns: runs(300) },
  );
});

test('arbitrary bytes never make the parser throw', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 1200 }), (bytes) => assertTyped(Buffer.from(bytes))),
    { numRuns: runs(3000) },
  );
});

test('arbitrary lines of <type>=<value> never make the parser throw', () => {
  const line = fc
    .tuple(fc.constantFrom(...'vosiuepcbtrzkamx'), fc.string({ maxLength: 40 }))
    .map(([t, v]) => `${t}=${v}`);
  fc.assert(
    fc.property(fc.array(line, { maxLength: 40 }), fc.constantFrom('\r\n', '\n'), (lines, eol) =>
      assertTyped(Buffer.from(lines.join(eol), 'latin1')),
    ),
    { numRuns: runs(3000) },
  );
});

const fixtures = join(import.meta.dirname, 'fixtures');
const corpus = readdirSync(fixtures)
  .filter((f) => f.endsWith('.sdp'))
  .map((f) => readFileSync(join(fixtures, f)));

test('mutated realistic descriptions never make the parser throw', () => {
  const mutation = fc.record({
    at: fc.nat(),
    cut: fc.nat({ max: 8 }),
    insert: fc.uint8Array({ maxLength: 8 }),
  });
  fc.assert(
    fc.property(
      fc.constantFrom(...corpus),
      fc.array(mutation, { minLength: 1, maxLength: 4 }),
      (base, edits) => {
        let data = Buffer.from(base);
        for (const e of edits) {
          const at = e.at % (data.length + 1);
          data = Buffer.concat([data.subarray(0, at), Buffer.from(e.insert), data.subarray(at + e.cut)]);
        }
        assertTyped(data);
      },
    ),
    { numRuns: runs(3000) },
  );
});

test('checkSdp gives the verdict parseSdp gives, on mutated realistic descriptions', () => {
  const mutation = fc.record({
    at: fc.nat(),
    cut: fc.nat({ max: 8 }),
    insert: fc.uint8Array({ maxLength: 8 }),
  });
  fc.assert(
    fc.property(fc.constantFrom(...corpus), fc.array(mutation, { maxLength: 3 }), (base, edits) => {
      let data = Buffer.from(base);
      for (const e of edits) {
        const at = e.at % (data.length + 1);
        data = Buffer.concat([data.subarray(0, at), Buffer.from(e.insert), data.subarray(at + e.cut)]);
      }
      const parsed = parseSdp(data);
      const checked = checkSdp(data);
      if (parsed.ok) assert.equal(checked, undefined);
      else assert.deepEqual(checked, parsed.error);
    }),
    { numRuns: runs(2000) },
  );
});

test('arbitrary multipart bodies never make the SDP finder throw', () => {
  const type = parseMediaType('multipart/mixed;boundary=b0')!;
  const piece = fc.constantFrom(
    '--b0',
    '--b0--',
    '\r\n',
    '\n',
    'Content-Type: application/sdp',
    'Content-Type: multipart/mixed;boundary=b0',
    'Content-Transfer-Encoding: base64',
    'v=0',
    ' ',
  );
  fc.assert(
    fc.property(fc.array(fc.oneof(piece, fc.string({ maxLength: 6 })), { maxLength: 30 }), (pieces) => {
      const r = findSdpBodies(type, Buffer.from(pieces.join(''), 'latin1'));
      if (!r.ok) assert.ok(SDP_ERROR_CODES.includes(r.error.code));
    }),
    { numRuns: runs(3000) },
  );
});

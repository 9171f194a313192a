import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { BencodeError, decode, encode } from '../../../src/media/rtpengine/bencode.ts';

test('encodes a dictionary with sorted keys, strings by byte length, integers and lists', () => {
  const bytes = encode({ sdp: 'v=0\r\n', command: 'offer', flags: ['trust-address'], 'call-id': 'é', n: -3 });
  assert.equal(
    bytes.toString('utf8'),
    'd7:call-id2:é7:command5:offer5:flagsl13:trust-addresse1:ni-3e3:sdp5:v=0\r\ne',
  );
});

test('decodes what it encodes (latin1 strings, integers, lists, dictionaries)', () => {
  const text = fc.string({
    unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)),
    maxLength: 30,
  });
  const value = fc.letrec((tie) => ({
    node: fc.oneof(
      { depthSize: 'small' },
      text,
      fc.integer(),
      fc.array(tie('node'), { maxLength: 4 }),
      fc.dictionary(fc.string({ maxLength: 10 }), tie('node'), { maxKeys: 4 }),
    ),
  })).node;
  fc.assert(
    fc.property(value, (v) => {
      // Strings round-trip as latin1 text: encode them as latin1 bytes.
      const asBytes = (x: unknown): unknown =>
        typeof x === 'string'
          ? Buffer.from(x, 'latin1')
          : Array.isArray(x)
            ? x.map(asBytes)
            : typeof x === 'object' && x !== null
              ? Object.fromEntries(Object.entries(x).map(([k, y]) => [k, asBytes(y)]))
              : x;
      const decoded = decode(encode(asBytes(v) as Parameters<typeof encode>[0]));
      assert.deepEqual(JSON.parse(JSON.stringify(decoded)), JSON.parse(JSON.stringify(v)));
    }),
  );
});

test('refuses malformed, truncated, too deep and oversized replies with BencodeError', () => {
  const bad = [
    '',
    'i',
    'i12',
    'i-0e',
    'i01e',
    '5:abc',
    'l',
    'd3:key',
    'd1:ai1ee1',
    'x',
    'di1ei2ee',
    '01:a',
    `${'l'.repeat(40)}${'e'.repeat(40)}`,
  ];
  for (const text of bad)
    assert.throws(() => decode(Buffer.from(text, 'latin1')), BencodeError, JSON.stringify(text));
  assert.throws(() => decode(Buffer.alloc(2 << 20, 0x30)), BencodeError);
  assert.throws(() => decode(Buffer.from(`l${'i1e'.repeat(20_000)}e`)), BencodeError);
});

test('never throws anything but BencodeError on arbitrary bytes', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      try {
        decode(Buffer.from(bytes));
      } catch (error) {
        assert.ok(error instanceof BencodeError, String(error));
      }
    }),
    { numRuns: 3000 },
  );
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { cseqOfBytes, parseCSeq } from '../../../src/sip/headers/cseq.ts';
import { fastNameAddr, parseNameAddrWalk } from '../../../src/sip/headers/name-addr.ts';
import { lowerSlice, lowerSliceOfBytes } from '../../../src/sip/headers/params.ts';
import { digitsOfBytes, isCallId, isCallIdWalk, parseDigits } from '../../../src/sip/headers/scalar.ts';
import { fastVia, parseViaValuesWalk } from '../../../src/sip/headers/via.ts';
import { checkOpaqueValue, noControlBytes } from '../../../src/sip/parse.ts';
import { fastSipUri, parseUri, parseUriWalk } from '../../../src/sip/uri.ts';
import { nameAddr, sipUri, via } from './arbitraries.ts';
import { plain } from './helpers.ts';

const runs = (n: number): number => Number(process.env.FC_RUNS ?? n);

/** Characters that move a value across the grammar's edges. */
const EDGE = [
  ';',
  '=',
  ':',
  '@',
  '<',
  '>',
  '"',
  '\\',
  ' ',
  '\t',
  ',',
  '?',
  '&',
  '[',
  ']',
  '%',
  '-',
  '.',
  'A',
  '0',
  '\x00',
  '\x7f',
  '\xe9',
];

/** A value with a few characters inserted, deleted or replaced. */
function mutated(base: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc
    .tuple(
      base,
      fc.array(fc.tuple(fc.nat(), fc.constantFrom(...EDGE), fc.nat(2)), { minLength: 0, maxLength: 3 }),
    )
    .map(([s, edits]) => {
      let out = s;
      for (const [at, c, op] of edits) {
        const i = out.length === 0 ? 0 : at % out.length;
        out =
          op === 0
            ? out.slice(0, i) + c + out.slice(i)
            : op === 1
              ? out.slice(0, i) + out.slice(i + 1)
              : out.slice(0, i) + c + out.slice(i + 1);
      }
      return out;
    });
}

/**
 * A fast path may decline any input, but what it accepts the walk must accept with the same
 * result; and it must take the common spelling (else it would be dead code).
 */
function checkAgreement<T>(
  values: fc.Arbitrary<string>,
  fast: (v: string) => T | undefined,
  walk: (v: string) => unknown,
): number {
  let taken = 0;
  fc.assert(
    fc.property(values, (v) => {
      const f = fast(v);
      if (f === undefined) return;
      taken++;
      assert.deepEqual(plain(f), plain(walk(v)), v);
    }),
    { numRuns: runs(3000) },
  );
  return taken;
}

/**
 * A fast path run on the value alone and on the value with the message bytes behind it (as
 * the parser calls it: bytes[offset + i] is the code of value[i]); both must agree, and the
 * result of the first is returned for the comparison with the walk.
 */
function withBytes<T>(
  f: (v: string, bytes?: Uint8Array, offset?: number) => T | undefined,
): (v: string) => T | undefined {
  return (v) => {
    const alone = f(v);
    const bytes = Buffer.from(`X: ${v}\r\n`, 'latin1');
    assert.deepEqual(plain(f(v, bytes, 3)), plain(alone), `bytes: ${v}`);
    return alone;
  };
}

const uriFast = withBytes((v, bytes, offset) =>
  v.startsWith('sip:')
    ? fastSipUri(v, 4, 'sip', 1024, bytes, offset)
    : v.startsWith('sips:')
      ? fastSipUri(v, 5, 'sips', 1024, bytes, offset)
      : undefined,
);
const viaFast = withBytes((v, bytes, offset) => fastVia(v, 1024, bytes, offset));
const nameAddrFast = withBytes((v, bytes, offset) => fastNameAddr(v, 1024, bytes, offset));

test('the SIP URI fast path gives the walk result for every URI it takes', () => {
  assert.ok(checkAgreement(sipUri, uriFast, (v) => parseUriWalk(v)) > 0);
});

test('the SIP URI fast path takes no mutated URI the walk refuses, and agrees on the rest', () => {
  assert.ok(checkAgreement(mutated(sipUri), uriFast, (v) => parseUriWalk(v)) > 0);
});

test('parseUri gives the same result with the message bytes as without', () => {
  fc.assert(
    fc.property(fc.oneof(sipUri, mutated(sipUri)), (v) => {
      const bytes = Buffer.from(`INVITE ${v} SIP/2.0\r\n`, 'latin1');
      assert.deepEqual(plain(parseUri(v, 1024, bytes, 7)), plain(parseUri(v, 1024)), v);
    }),
    { numRuns: runs(3000) },
  );
});

test('the Via fast path gives the walk result for every Via it takes', () => {
  assert.ok(
    checkAgreement(via, viaFast, (v) => {
      const r = parseViaValuesWalk(v);
      return Array.isArray(r) ? r[0] : r;
    }) > 0,
  );
});

test('the Via fast path takes no mutated Via the walk refuses, and agrees on the rest', () => {
  checkAgreement(mutated(via), viaFast, (v) => {
    const r = parseViaValuesWalk(v);
    return Array.isArray(r) && r.length === 1 ? r[0] : r;
  });
});

test('the name-addr fast path gives the walk result for every name-addr it takes', () => {
  assert.ok(checkAgreement(nameAddr, nameAddrFast, (v) => parseNameAddrWalk(v)) > 0);
});

test('the name-addr fast path takes no mutated name-addr the walk refuses, and agrees on the rest', () => {
  assert.ok(checkAgreement(mutated(nameAddr), nameAddrFast, (v) => parseNameAddrWalk(v)) > 0);
});

test('the Call-ID expression accepts and refuses what the character walk does', () => {
  const word = fc.string({
    unit: fc.constantFrom(...'aZ09-.!%*_+`\'~()<>:\\"/[]?{}@ \t;,=&#$^|\x00\x7f\xe9'.split('')),
    maxLength: 24,
  });
  fc.assert(
    fc.property(word, (v) => {
      assert.equal(isCallId(v), isCallIdWalk(v), JSON.stringify(v));
    }),
    { numRuns: runs(5000) },
  );
  assert.equal(isCallId(`${'a'.repeat(20000)}@${'b'.repeat(20000)}@`), false);
  assert.equal(isCallId(`${'a@'.repeat(20000)}`), false);
});

test('parameter names read from the bytes are the names read from the string', () => {
  const common = ['q', 'lr', 'tag', 'user', 'rport', 'branch', 'expires', 'received', 'transport'];
  // Common names, their case variants and near misses, and random tokens.
  const name = fc.oneof(
    fc.constantFrom(...common),
    fc
      .tuple(fc.constantFrom(...common), fc.nat(), fc.constantFrom('A', 'a', 'T', '-', '', 'x'))
      .map(([n, at, c]) => {
        const i = at % n.length;
        return n.slice(0, i) + c + n.slice(i + 1);
      }),
    fc.string({ unit: fc.constantFrom(..."aAtTgGrRzZ09-.!%*_+`'~\xe9".split('')), maxLength: 12 }),
  );
  fc.assert(
    fc.property(name, fc.string({ maxLength: 4 }), (n, pre) => {
      const s = `${pre};${n}=v`;
      const bytes = Buffer.from(`X: ${s}\r\n`, 'latin1');
      const start = pre.length + 1;
      assert.equal(
        lowerSliceOfBytes(s, bytes, 3, start, start + n.length),
        lowerSlice(s, start, start + n.length),
        n,
      );
    }),
    { numRuns: runs(5000) },
  );
});

test('the CSeq read from the bytes is the one parseCSeq gives, or left to it', () => {
  const value = fc.oneof(
    fc
      .tuple(
        fc.nat(),
        fc.constantFrom(' ', '  ', '\t', ''),
        fc.constantFrom('INVITE', 'ACK', 'x.y', 'BYE', ''),
      )
      .map(([n, ws, m]) => `${n}${ws}${m}`),
    fc.constantFrom('4294967295 BYE', '4294967296 BYE', '0 A', '1 IN VITE', '1 INVITE ', '01 ACK', '1 A@B'),
    fc.string({ unit: fc.constantFrom(...'0189 \tAZaz-.!@;\x00'.split('')), maxLength: 14 }),
  );
  let taken = 0;
  fc.assert(
    fc.property(value, fc.integer({ min: 1, max: 12 }), (v, max) => {
      const bytes = Buffer.from(`CSeq: ${v}\r\n`, 'latin1');
      const fast = cseqOfBytes(bytes, 6, v, max);
      if (fast === undefined) return;
      taken++;
      assert.deepEqual(fast, parseCSeq(v, max), JSON.stringify(v));
    }),
    { numRuns: runs(5000) },
  );
  assert.ok(taken > 0);
});

test('digits read from the bytes are the ones parseDigits gives', () => {
  const value = fc.string({ unit: fc.constantFrom(...'0123456789 a\x00'.split('')), maxLength: 14 });
  fc.assert(
    fc.property(value, fc.integer({ min: 1, max: 12 }), (v, max) => {
      const bytes = Buffer.from(`X: ${v}\r\n`, 'latin1');
      assert.equal(digitsOfBytes(bytes, 3, v.length, max), parseDigits(v, max), JSON.stringify(v));
    }),
    { numRuns: runs(5000) },
  );
});

test('the byte check of an opaque header value passes only values the full check accepts', () => {
  const value = fc.string({
    unit: fc.constantFrom(...'aZ09 \t\\"\x00\x01\x08\x0a\x0b\x0d\x1f\x7f\x80\xe9\xff;,='.split('')),
    maxLength: 40,
  });
  let passed = 0;
  let refused = 0;
  fc.assert(
    fc.property(value, fc.integer({ min: 1, max: 48 }), (v, max) => {
      // As the parser reads it: the value's bytes inside a larger buffer.
      const b = Buffer.from(`X: ${v}\r\n`, 'latin1');
      if (v.length <= max && noControlBytes(b, 3, 3 + v.length)) {
        passed++;
        assert.equal(checkOpaqueValue(v, max), undefined, JSON.stringify(v));
      } else if (checkOpaqueValue(v, max) !== undefined) refused++;
    }),
    { numRuns: runs(5000) },
  );
  assert.ok(passed > 0 && refused > 0);
});

test('the fast paths agree with the walk on host, port and escape edge cases', () => {
  const hosts = [
    '1.2.3.4',
    '001.002.003.004',
    '255.255.255.255',
    '256.1.1.1',
    '1.2.3.256',
    '1.2.3',
    '1.2.3.4.5',
    '1.2.3.4.',
    '1.2.3.4.a',
    'a.1.2.3',
    '1a.b',
    'a.1b',
    'a-.b',
    '-a.b',
    'a.-b',
    'a--b.c',
    'a..b',
    '.a',
    'a.',
    'example.com.',
    'x',
    '9',
    '0x1.com',
    'a_b.com',
    '1.2.3.04',
    '1.2.3.0004',
  ];
  const ports = ['', ':0', ':5060', ':65535', ':65536', ':99999', ':000080', ':', ':1a'];
  const users = ['', 'a@', 'a:@', 'a:b@', '%41@', '%4@', '%zz@', 'a;b?c/d@', 'a:b:c@', '@', ':@'];
  const params = ['', ';lr', ';LR', ';a=b', ';a=', ';=b', ';a=b=c', ';a;A', ';a%41=%42', ';a=%4', ';[x]=:y'];
  let taken = 0;
  for (const h of hosts)
    for (const port of ports)
      for (const u of users)
        for (const ps of params) {
          const uri = `sip:${u}${h}${port}${ps}`;
          const fast = uriFast(uri);
          if (fast !== undefined) {
            taken++;
            assert.deepEqual(plain(fast), plain(parseUriWalk(uri)), uri);
          }
          const na = `"N" <${uri}>;tag=1`;
          const fna = nameAddrFast(na);
          if (fna !== undefined) assert.deepEqual(plain(fna), plain(parseNameAddrWalk(na)), na);
          const v = `SIP/2.0/UDP ${h}${port}${ps}`;
          const fv = viaFast(v);
          if (fv !== undefined) {
            const r = parseViaValuesWalk(v);
            assert.deepEqual(fv, Array.isArray(r) ? r[0] : r, v);
          }
        }
  assert.ok(taken > 1000);
});

test('the Via fast path agrees with the walk on the values of the parameters RFC 3261 defines', () => {
  const values = [
    ';ttl=0',
    ';ttl=255',
    ';ttl=256',
    ';ttl=0255',
    ';ttl',
    ';ttl=a',
    ';received=1.2.3.4',
    ';received=1.2.3.256',
    ';received=a.b',
    ';received',
    ';rport',
    ';rport=0',
    ';rport=65535',
    ';rport=65536',
    ';rport=x',
    ';maddr=a.b',
    ';maddr=a-.b',
    ';maddr=1.2.3.4',
    ';maddr',
    ';branch',
    ';branch=z9hG4bK.x~',
    ';BRANCH=a',
    ';branch=a;Branch=b',
    ';x-y=%z',
  ];
  for (const a of values)
    for (const b of ['', ...values]) {
      const v = `SIP/2.0/TLS example.com:5061${a}${b}`;
      const fv = viaFast(v);
      if (fv === undefined) continue;
      const r = parseViaValuesWalk(v);
      assert.deepEqual(fv, Array.isArray(r) ? r[0] : r, v);
    }
});

test('the fast paths decline values longer than the token limit, leaving the error to the walk', () => {
  const long = `sip:${'a'.repeat(40)}@example.com`;
  assert.equal(fastSipUri(long, 4, 'sip', 32), undefined);
  assert.equal(fastVia('SIP/2.0/UDP h;branch=z9hG4bK1', 8), undefined);
  assert.equal(fastNameAddr('<sip:a@example.com>', 8), undefined);
});

test('the fast paths decline repeated parameters and bad Via values, leaving the error to the walk', () => {
  assert.equal(fastSipUri('sip:a@h;lr;LR', 4, 'sip', 1024), undefined);
  assert.equal(fastVia('SIP/2.0/UDP h;branch=a;branch=b', 1024), undefined);
  assert.equal(fastVia('SIP/2.0/UDP h;ttl=256', 1024), undefined);
  assert.equal(fastVia('SIP/2.0/UDP h;received=example.com', 1024), undefined);
  assert.equal(fastVia('SIP/2.0/UDP h:65536', 1024), undefined);
  assert.equal(fastNameAddr('<sip:a@h>;tag=1;tag=2', 1024), undefined);
});

test('the fast-path expressions finish on long adversarial values (no catastrophic backtracking)', () => {
  // Each input drives one repetition to its end and then fails, the worst case for a
  // backtracking engine; a nested ambiguous quantifier would not return. No timing: a
  // regression shows as a hung test.
  const n = 20000;
  const big = 1 << 30;
  const uris = [
    `sip:${'a.'.repeat(n)}-`,
    `sip:${'a-'.repeat(n)}`,
    `sip:${'1.'.repeat(n)}1`,
    `sip:${'a;'.repeat(n)}`,
    `sip:${'a;'.repeat(n)}@`,
    `sip:${'%41'.repeat(n)}%4`,
    `sip:u@h${';a=b'.repeat(n)};`,
    `sip:u@h${';a'.repeat(n)}=`,
    `sip:${'a:'.repeat(n)}@h`,
    `sip:u:${'a'.repeat(n)}:@h`,
  ];
  for (const u of uris) {
    assert.equal(fastSipUri(u, 4, 'sip', big), undefined, u.slice(0, 40));
  }
  const vias = [
    `SIP/2.0/UDP ${'a.'.repeat(n)}-`,
    `SIP/2.0/UDP ${'a-a'.repeat(n)}-`,
    `SIP/2.0/UDP h${';a=b'.repeat(n)};`,
    `SIP/2.0/UDP h${';a'.repeat(n)}==`,
    `SIP/2.0/${'U'.repeat(n)}`,
    `SIP/2.0/UDP ${'1.1.1.1.'.repeat(n)}`,
  ];
  for (const v of vias) assert.equal(fastVia(v, big), undefined, v.slice(0, 40));
  const names = [
    `${'a '.repeat(n)}`,
    `${'a \t'.repeat(n)}<`,
    `"${'a'.repeat(n)}`,
    `<sip:${'a;'.repeat(n)}>`,
    `<sip:u@h>${';t=x'.repeat(n)};`,
    `${'a'.repeat(n)} <sip:${'b.'.repeat(n)}>`,
  ];
  for (const v of names) assert.equal(fastNameAddr(v, big), undefined, v.slice(0, 40));
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { CHAR, TOKEN } from '../../../src/sip/chars.ts';
import {
  canonicalName,
  compactName,
  knownNameAt,
  knownNameInWords,
  knownNameLength,
  knownNameLong,
  longName,
  NO_KNOWN_NAME,
} from '../../../src/sip/header-names.ts';

test('expands compact forms of any case to lower-case long names', () => {
  const pairs: [string, string][] = [
    ['v', 'via'],
    ['V', 'via'],
    ['i', 'call-id'],
    ['m', 'contact'],
    ['e', 'content-encoding'],
    ['l', 'content-length'],
    ['f', 'from'],
    ['s', 'subject'],
    ['k', 'supported'],
    ['t', 'to'],
    ['c', 'content-type'],
    ['o', 'event'],
    ['r', 'refer-to'],
    ['u', 'allow-events'],
    ['x', 'session-expires'],
    ['y', 'identity'],
    ['b', 'referred-by'],
    ['a', 'accept-contact'],
    ['j', 'reject-contact'],
    ['d', 'request-disposition'],
  ];
  for (const [compact, long] of pairs) assert.equal(longName(compact), long);
});

test('lower-cases long names of any case', () => {
  assert.equal(longName('MaX-fOrWaRdS'), 'max-forwards');
  assert.equal(longName('Call-ID'), 'call-id');
  assert.equal(longName('q'), 'q');
});

test('writes the canonical capitalisation of names', () => {
  assert.equal(canonicalName('call-id'), 'Call-ID');
  assert.equal(canonicalName('cseq'), 'CSeq');
  assert.equal(canonicalName('www-authenticate'), 'WWW-Authenticate');
  assert.equal(canonicalName('max-forwards'), 'Max-Forwards');
  assert.equal(canonicalName('record-route'), 'Record-Route');
  assert.equal(canonicalName('x-custom-thing'), 'X-Custom-Thing');
});

test('treats names that are Object prototype keys as plain names', () => {
  assert.equal(canonicalName('constructor'), 'Constructor');
  assert.equal(longName('__proto__'), '__proto__');
});

test('gives the compact form of a long name when one exists', () => {
  assert.equal(compactName('via'), 'v');
  assert.equal(compactName('max-forwards'), undefined);
});

/** Both byte matchers on `line`, from offset 1 to the line's end; they must agree. */
function knownAt(line: Buffer): number {
  const bytes = knownNameAt(line, 1, line.length);
  // The word matcher reads up to 3 bytes past the end: a copy with room, as the scan's.
  const copy = new Uint8Array(line.length + 8);
  copy.set(line, 4);
  const words = knownNameInWords(new DataView(copy.buffer), 5, 4 + line.length);
  assert.equal(words, bytes, `the two matchers differ on ${JSON.stringify(line.toString('latin1'))}`);
  return bytes;
}

/** What the parser's walk makes of the name at line[1..]: the token run, lower-cased and expanded. */
function walkedName(line: Buffer): string | undefined {
  let end = 1;
  while (end < line.length && (CHAR[line[end]!]! & TOKEN) !== 0) end++;
  return end === 1 ? undefined : longName(line.toString('latin1', 1, end));
}

test('recognises common names on their bytes in any case and nothing else', () => {
  const at = (name: string): string | undefined => {
    const entry = knownAt(Buffer.from(`X${name}: 1`, 'latin1'));
    if (entry === NO_KNOWN_NAME) return undefined;
    assert.equal(knownNameLength(entry), name.length);
    return knownNameLong(entry);
  };
  assert.equal(at('Via'), 'via');
  assert.equal(at('vIA'), 'via');
  assert.equal(at('v'), 'via');
  assert.equal(at('Call-ID'), 'call-id');
  assert.equal(at('CONTENT-LENGTH'), 'content-length');
  assert.equal(at('i'), 'call-id');
  for (const near of ['Vias', 'Vi', 'Xia', 'Via-', 'Call_ID', 'Content-Lengthx', 'q', 'X-Via']) {
    assert.equal(at(near), undefined, near);
  }
  // CR | 0x20 is "-": a CR where a name has "-" is not that name.
  assert.equal(at('Call\rID'), undefined);
  assert.equal(at('Max\rForwards'), undefined);
  // A name that fills the line to its end is left to the walk (it has no colon).
  assert.equal(knownAt(Buffer.from('XVia', 'latin1')), NO_KNOWN_NAME);
});

test('a name the matchers recognise is the one the walk reads, in any case and before any byte', () => {
  const known = fc.constantFrom(
    'via',
    'from',
    'to',
    'call-id',
    'cseq',
    'contact',
    'content-length',
    'content-type',
    'max-forwards',
    'record-route',
    'route',
    'allow',
    'allow-events',
    'supported',
    'user-agent',
    'proxy-authorization',
    'p-asserted-identity',
    'v',
    'f',
    't',
    'i',
    'l',
    'm',
    'c',
    'k',
    'x',
  );
  const recase = (name: string, flips: boolean[]): string =>
    [...name].map((ch, i) => (flips[i % flips.length] ? ch.toUpperCase() : ch)).join('');
  const name = fc.oneof(
    fc.tuple(known, fc.array(fc.boolean(), { minLength: 1, maxLength: 8 })).map(([n, f]) => recase(n, f)),
    fc.string({ unit: fc.constantFrom(...'aceilmnoprstvCLVT-_.\r\n:'), maxLength: 24 }),
  );
  const after = fc.string({ unit: fc.constantFrom(...' \t:-aZ;\r\n\x00\xff'), maxLength: 4 });
  fc.assert(
    fc.property(name, after, (n, rest) => {
      const line = Buffer.from(`X${n}${rest}`, 'latin1');
      const entry = knownAt(line);
      if (entry === NO_KNOWN_NAME) return;
      // A match ends where the walk ends and means what the walk's name means.
      assert.equal(knownNameLong(entry), walkedName(line));
      assert.equal(CHAR[line[1 + knownNameLength(entry)]!]! & TOKEN, 0);
    }),
    { numRuns: 3000 },
  );
  // Every known name in every case is found: the matchers miss none the walk would expand.
  for (const n of ['Via', 'VIA', 'cseq', 'CSeq', 'Content-Type', 'l', 'M', 'Proxy-Authorization']) {
    const line = Buffer.from(`X${n}: x`, 'latin1');
    const entry = knownAt(line);
    assert.notEqual(entry, NO_KNOWN_NAME, n);
    assert.equal(knownNameLong(entry), walkedName(line));
  }
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inspect } from 'node:util';
import fc from 'fast-check';
import { formatCryptoAttribute, parseCryptoAttribute } from '../../../src/media/srtp/crypto-attribute.ts';
import { MasterKey } from '../../../src/media/srtp/master-key.ts';
import { SRTP_SUITES, srtpSuite } from '../../../src/media/srtp/suites.ts';

// RFC 4568 section 4: the example offer's crypto attribute (its key, then with and without its MKI).
const RFC_KEY = 'PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR';

test('parses the RFC 4568 example attribute with a lifetime', () => {
  const parsed = parseCryptoAttribute(`1 AES_CM_128_HMAC_SHA1_80 inline:${RFC_KEY}|2^20`);
  assert.ok(parsed.ok);
  assert.equal(parsed.attribute.tag, 1);
  assert.equal(parsed.attribute.suite.name, 'AES_CM_128_HMAC_SHA1_80');
  assert.equal(parsed.attribute.lifetime, 2 ** 20);
  assert.equal(parsed.attribute.key.toInline(), RFC_KEY);
});

test('refuses the RFC 4568 example attribute with an MKI: MKIs are not supported', () => {
  assert.deepEqual(parseCryptoAttribute(`1 AES_CM_128_HMAC_SHA1_80 inline:${RFC_KEY}|2^20|1:32`), {
    ok: false,
    error: 'mki',
  });
});

test('parses each suite with a key of its length and refuses one of another length', () => {
  for (const suite of SRTP_SUITES.values()) {
    const key = MasterKey.generate(suite);
    const parsed = parseCryptoAttribute(`7 ${suite.name} inline:${key.toInline()}`);
    assert.ok(parsed.ok, suite.name);
    assert.ok(parsed.attribute.key.equals(key));
    const other = MasterKey.generate(
      srtpSuite(suite.keyLength === 16 ? 'AES_256_CM_HMAC_SHA1_80' : 'AES_CM_128_HMAC_SHA1_80')!,
    );
    assert.deepEqual(parseCryptoAttribute(`7 ${suite.name} inline:${other.toInline()}`), {
      ok: false,
      error: 'key-length',
    });
  }
});

test('format then parse gives the same tag, suite, key and lifetime', () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...SRTP_SUITES.values()),
      fc.integer({ min: 0, max: 999_999_999 }),
      fc.option(fc.integer({ min: 1, max: 48 }), { nil: undefined }),
      (suite, tag, exponent) => {
        const key = MasterKey.generate(suite);
        const lifetime = exponent === undefined ? undefined : 2 ** exponent;
        const text = formatCryptoAttribute({
          tag,
          suite,
          key,
          ...(lifetime === undefined ? {} : { lifetime }),
        });
        const parsed = parseCryptoAttribute(text);
        assert.ok(parsed.ok, text);
        assert.equal(parsed.attribute.tag, tag);
        assert.equal(parsed.attribute.suite, suite);
        assert.ok(parsed.attribute.key.equals(key));
        assert.equal(parsed.attribute.lifetime, lifetime);
      },
    ),
  );
});

test('refuses what weakens or is not implemented, with a reason', () => {
  const key = MasterKey.generate(srtpSuite('AES_CM_128_HMAC_SHA1_80')!).toInline();
  const base = `1 AES_CM_128_HMAC_SHA1_80 inline:${key}`;
  const cases: [string, string][] = [
    [`${base} UNENCRYPTED_SRTP`, 'weakening-parameter'],
    [`${base} UNENCRYPTED_SRTCP`, 'weakening-parameter'],
    [`${base} UNAUTHENTICATED_SRTP`, 'weakening-parameter'],
    [`${base} KDR=4`, 'kdr'],
    [`${base} FEC_ORDER=FEC_SRTP`, 'unsupported-parameter'],
    [`${base} SOMETHING_NEW`, 'unsupported-parameter'],
    [`${base};inline:${key}`, 'several-keys'],
    [`1 F8_128_HMAC_SHA1_80 inline:${key}`, 'unknown-suite'],
    [`1 AES_CM_128_HMAC_SHA1_80 inline:${key}|2^49`, 'lifetime'],
    [`1 AES_CM_128_HMAC_SHA1_80 inline:${key}|0`, 'lifetime'],
  ];
  for (const [text, error] of cases) assert.deepEqual(parseCryptoAttribute(text), { ok: false, error }, text);
  assert.ok(parseCryptoAttribute(`${base} KDR=0 WSH=128`).ok);
});

test('refuses malformed attributes as syntax errors', () => {
  const key = MasterKey.generate(srtpSuite('AES_CM_128_HMAC_SHA1_80')!).toInline();
  const bad = [
    '',
    '1',
    '1 AES_CM_128_HMAC_SHA1_80',
    `x AES_CM_128_HMAC_SHA1_80 inline:${key}`,
    `1234567890 AES_CM_128_HMAC_SHA1_80 inline:${key}`,
    `1 AES_CM_128_HMAC_SHA1_80 uri:${key}`,
    `1 AES_CM_128_HMAC_SHA1_80 inline:${key.slice(0, -1)}!`,
    `1 AES_CM_128_HMAC_SHA1_80 inline:${key.slice(0, -2)}`,
    `1 AES_CM_128_HMAC_SHA1_80 inline:${key}|2^x`,
    `1 AES_CM_128_HMAC_SHA1_80 inline:${key}|2^20|2^20`,
    `1 AES_CM_128_HMAC_SHA1_80 inline:${key} WSH=32`,
    `1 AES-CM inline:${key}`,
    `1 AES_CM_128_HMAC_SHA1_80 inline:${key} ${'x'.repeat(2000)}`,
  ];
  for (const text of bad) assert.deepEqual(parseCryptoAttribute(text), { ok: false, error: 'syntax' }, text);
});

test('never throws on arbitrary text', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 200 }), (text) => {
      const result = parseCryptoAttribute(text);
      assert.equal(typeof result.ok, 'boolean');
    }),
    { numRuns: 2000 },
  );
});

test('a parsed attribute shows no key bytes when inspected or serialized', () => {
  const parsed = parseCryptoAttribute(`1 AES_CM_128_HMAC_SHA1_80 inline:${RFC_KEY}`);
  assert.ok(parsed.ok);
  for (const text of [inspect(parsed, { depth: 5 }), JSON.stringify(parsed)]) {
    assert.ok(!text.includes(RFC_KEY), text);
    assert.match(text, /redacted/);
  }
});

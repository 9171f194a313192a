import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StateError } from '../../../src/state/errors.ts';
import { createMemoryTrustTable, DEFAULT_TRUST_TTL_MS } from '../../../src/state/memory-trust-table.ts';

const t0 = 1_700_000_000_000;

test('a success makes the address trusted and known for that user only', () => {
  const trust = createMemoryTrustTable();
  trust.succeed('198.51.100.7', 'alice', t0);
  assert.equal(trust.isTrusted('198.51.100.7', t0 + 1), true);
  assert.equal(trust.isKnownFor('198.51.100.7', 'alice', t0 + 1), true);
  assert.equal(trust.isKnownFor('198.51.100.7', 'bob', t0 + 1), false);
  assert.equal(trust.isKnownFor('198.51.100.8', 'alice', t0 + 1), false);
  assert.equal(trust.isTrusted('198.51.100.8', t0 + 1), false);
});

test('user names are compared without regard to case', () => {
  const trust = createMemoryTrustTable();
  trust.succeed('198.51.100.7', 'Alice', t0);
  assert.equal(trust.isKnownFor('198.51.100.7', 'ALICE', t0), true);
});

test('a success without a user trusts the address and knows no user', () => {
  const trust = createMemoryTrustTable();
  trust.succeed('198.51.100.7', undefined, t0);
  assert.equal(trust.isTrusted('198.51.100.7', t0), true);
  assert.equal(trust.isKnownFor('198.51.100.7', '', t0), false);
  assert.equal(trust.stats().entries, 1);
});

test('trust lasts 24 hours after the last success by default', () => {
  const trust = createMemoryTrustTable();
  trust.succeed('198.51.100.7', 'alice', t0);
  assert.equal(trust.isTrusted('198.51.100.7', t0 + DEFAULT_TRUST_TTL_MS - 1), true);
  assert.equal(trust.isTrusted('198.51.100.7', t0 + DEFAULT_TRUST_TTL_MS), false);
  assert.equal(trust.isKnownFor('198.51.100.7', 'alice', t0 + DEFAULT_TRUST_TTL_MS), false);
});

test('a new success extends trust; a lookup does not', () => {
  const trust = createMemoryTrustTable({ ttlMs: 10_000 });
  trust.succeed('198.51.100.7', 'alice', t0);
  assert.equal(trust.isTrusted('198.51.100.7', t0 + 9000), true);
  trust.succeed('198.51.100.7', 'alice', t0 + 9000);
  assert.equal(trust.isTrusted('198.51.100.7', t0 + 18_000), true);
  assert.equal(trust.isTrusted('198.51.100.7', t0 + 19_000), false);
});

test('expired entries are removed when met', () => {
  const trust = createMemoryTrustTable({ ttlMs: 1000 });
  trust.succeed('198.51.100.7', 'alice', t0);
  assert.equal(trust.stats().entries, 2);
  trust.isTrusted('198.51.100.7', t0 + 1000);
  trust.isKnownFor('198.51.100.7', 'alice', t0 + 1000);
  assert.equal(trust.stats().entries, 0);
});

test('stays within its bound, the least recently succeeded entries giving way', () => {
  const trust = createMemoryTrustTable({ maxEntries: 100 });
  for (let i = 0; i < 1000; i++) trust.succeed(`10.0.${i >> 8}.${i & 255}`, `u${i}`, t0 + i);
  assert.deepEqual(trust.stats(), { entries: 100, maxEntries: 100 });
  // The 50 newest successes (address and pair each) are kept.
  assert.equal(trust.isKnownFor('10.0.3.231', 'u999', t0 + 1000), true);
  assert.equal(trust.isTrusted('10.0.3.206', t0 + 1000), true);
  assert.equal(trust.isTrusted('10.0.0.0', t0 + 1000), false);
});

test('an address that succeeds again is kept over others that did not', () => {
  const trust = createMemoryTrustTable({ maxEntries: 10 });
  trust.succeed('198.51.100.1', undefined, t0);
  for (let i = 0; i < 100; i++) {
    trust.succeed(`10.0.0.${i}`, undefined, t0 + i);
    if (i % 5 === 0) trust.succeed('198.51.100.1', undefined, t0 + i);
  }
  assert.equal(trust.isTrusted('198.51.100.1', t0 + 100), true);
  assert.equal(trust.stats().entries, 10);
});

test('refuses options out of range with a coded error', () => {
  for (const options of [{ maxEntries: 1 }, { maxEntries: 2.5 }, { ttlMs: 10 }, { ttlMs: Number.NaN }]) {
    assert.throws(
      () => createMemoryTrustTable(options),
      (e: unknown) => e instanceof StateError && e.code === 'SW_ERR_STATE_OPTION',
      JSON.stringify(options),
    );
  }
});

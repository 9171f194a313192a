import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NONCE_LENGTH, NonceIssuer } from '../../../../src/identity/digest/nonce.ts';
import { NonceCounts } from '../../../../src/identity/digest/nonce-counts.ts';

const T0 = 1_700_000_000_000;
const SECRET = 'a server secret of at least thirty-two characters';

test('a nonce verifies for the source it was issued to while its lifetime lasts', () => {
  const issuer = new NonceIssuer({ secret: SECRET, lifetimeMs: 60_000 });
  const nonce = issuer.issue('192.0.2.7', T0);
  assert.equal(nonce.length, NONCE_LENGTH);
  assert.deepEqual(issuer.check(nonce, '192.0.2.7', T0 + 60_000), { status: 'valid', issuedAt: T0 });
  assert.notEqual(issuer.issue('192.0.2.7', T0), nonce, 'two nonces issued at once differ');
});

test('past its lifetime a correctly signed nonce is stale, not invalid', () => {
  const issuer = new NonceIssuer({ secret: SECRET, lifetimeMs: 60_000 });
  const nonce = issuer.issue('192.0.2.7', T0);
  assert.deepEqual(issuer.check(nonce, '192.0.2.7', T0 + 60_001), { status: 'stale', issuedAt: T0 });
});

test('a nonce presented from another source address is invalid', () => {
  const issuer = new NonceIssuer({ secret: SECRET, lifetimeMs: 60_000 });
  const nonce = issuer.issue('192.0.2.7', T0);
  assert.equal(issuer.check(nonce, '192.0.2.8', T0).status, 'invalid');
});

test('a nonce with its issue time or signature altered is invalid', () => {
  const issuer = new NonceIssuer({ secret: SECRET, lifetimeMs: 60_000 });
  const nonce = issuer.issue('192.0.2.7', T0);
  const bytes = Buffer.from(nonce, 'base64url');
  // Pushed into the future to live longer: the signature covers the time.
  const later = Buffer.from(bytes);
  later.writeBigUInt64BE(BigInt(T0 + 3_600_000), 0);
  assert.equal(issuer.check(later.toString('base64url'), '192.0.2.7', T0 + 3_600_000).status, 'invalid');
  const forged = Buffer.from(bytes);
  forged[forged.length - 1] = forged[forged.length - 1]! ^ 1;
  assert.equal(issuer.check(forged.toString('base64url'), '192.0.2.7', T0).status, 'invalid');
  assert.equal(issuer.check('not-a-nonce', '192.0.2.7', T0).status, 'invalid');
  assert.equal(issuer.check(`${nonce.slice(0, -1)}=`, '192.0.2.7', T0).status, 'invalid');
});

test("another server secret's nonces are invalid; the same configured secret verifies across instances", () => {
  const a = new NonceIssuer({ secret: SECRET, lifetimeMs: 60_000 });
  const b = new NonceIssuer({ secret: SECRET, lifetimeMs: 60_000 });
  const other = new NonceIssuer({ lifetimeMs: 60_000 });
  const nonce = a.issue('192.0.2.7', T0);
  assert.equal(b.check(nonce, '192.0.2.7', T0).status, 'valid');
  assert.equal(other.check(nonce, '192.0.2.7', T0).status, 'invalid');
});

test('a nonce issued in the future beyond the clock skew allowed is invalid', () => {
  const issuer = new NonceIssuer({ secret: SECRET, lifetimeMs: 60_000 });
  const nonce = issuer.issue('192.0.2.7', T0 + 10_000);
  assert.equal(issuer.check(nonce, '192.0.2.7', T0).status, 'invalid');
});

test('a short configured secret is refused', () => {
  assert.throws(() => new NonceIssuer({ secret: 'short', lifetimeMs: 1000 }), /at least 32/);
});

test('a nonce count is accepted only when above the last one seen for that nonce', () => {
  const counts = new NonceCounts(10);
  assert.equal(counts.count('n1', 1, T0, T0 + 60_000, T0), 'counted');
  assert.equal(counts.count('n1', 1, T0, T0 + 60_000, T0), 'replayed');
  assert.equal(counts.count('n1', 3, T0, T0 + 60_000, T0), 'counted');
  assert.equal(counts.count('n1', 2, T0, T0 + 60_000, T0), 'replayed');
  assert.equal(counts.count('n2', 1, T0, T0 + 60_000, T0), 'counted', 'counts are per nonce');
});

test('the count table stays within its bound and never forgets a count into a replay', () => {
  const counts = new NonceCounts(4);
  for (let i = 0; i < 10; i++)
    assert.equal(counts.count(`n${i}`, 1, T0 + i, T0 + 60_000 + i, T0 + i), 'counted');
  assert.equal(counts.size, 4);
  // n0..n5 were forgotten for room: a replay of any of them is refused (as stale), not counted.
  for (let i = 0; i < 6; i++)
    assert.equal(counts.count(`n${i}`, 1, T0 + i, T0 + 60_000 + i, T0 + 20), 'forgotten');
  // Held ones still count up.
  assert.equal(counts.count('n9', 1, T0 + 9, T0 + 60_009, T0 + 20), 'replayed');
  assert.equal(counts.count('n9', 2, T0 + 9, T0 + 60_009, T0 + 20), 'counted');
  // A nonce issued after the newest forgotten one is counted as new.
  assert.equal(counts.count('fresh', 1, T0 + 30, T0 + 60_030, T0 + 30), 'counted');
  assert.equal(counts.size, 4);
});

test('expired counts make room without raising the floor', () => {
  const counts = new NonceCounts(2);
  counts.count('old1', 1, T0, T0 + 1000, T0);
  counts.count('old2', 1, T0 + 1, T0 + 1001, T0 + 1);
  // Both expired: swept, not forgotten early.
  assert.equal(counts.count('new', 1, T0 + 5000, T0 + 6000, T0 + 5000), 'counted');
  assert.equal(
    counts.count('late', 1, T0 + 2, T0 + 1002, T0 + 5000),
    'counted',
    'no floor was set by expiry',
  );
});

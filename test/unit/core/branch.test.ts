import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  computeLoopHash,
  loopHashOf,
  MAGIC_COOKIE,
  newBranch,
} from '../../../src/core/transaction/branch.ts';

const fields = ['sip:bob@example.com', 'a73kszlfl', '', 'f81d4fae@host', '1', '', '', ''];

test('the loop hash is the same for the same fields', () => {
  assert.equal(computeLoopHash(fields), computeLoopHash([...fields]));
});

test('the loop hash changes when any field changes (a spiral is not a loop)', () => {
  const base = computeLoopHash(fields);
  for (let i = 0; i < fields.length; i++) {
    const changed = [...fields];
    changed[i] = `${changed[i]}x`;
    assert.notEqual(computeLoopHash(changed), base, `field ${i}`);
  }
});

test('moving text from one field to the next changes the loop hash', () => {
  assert.notEqual(computeLoopHash(['ab', 'c']), computeLoopHash(['a', 'bc']));
});

test('10,000 distinct Request-URIs give 10,000 distinct loop hashes', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 10_000; i++) seen.add(computeLoopHash([`sip:${i}@example.com`, ...fields.slice(1)]));
  assert.equal(seen.size, 10_000);
});

test('a new branch carries the magic cookie and gives its loop hash back', () => {
  const hash = computeLoopHash(fields);
  const branch = newBranch(hash);
  assert.ok(branch.startsWith(MAGIC_COOKIE));
  assert.equal(loopHashOf(branch), hash);
  assert.notEqual(newBranch(hash), branch);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seqFromBranch, Tally } from '../../../src/attack/tally.ts';

function sendAll(tally: Tally, n: number): void {
  for (let i = 0; i < n; i++) tally.sentOne(i);
}

test('each request counts once by its final status, retransmissions and provisionals aside', () => {
  const tally = new Tally(4, 0);
  sendAll(tally, 4);
  tally.answer(0, 100, 1);
  tally.answer(0, 200, 2);
  tally.answer(0, 200, 3);
  tally.answer(1, 180, 4);
  tally.answer(2, 404, 5);
  const summary = tally.summary();
  assert.deepEqual(summary.byStatus, { 200: 1, 404: 1 });
  assert.equal(summary.answered, 3);
  assert.equal(summary.provisionalOnly, 1);
  assert.equal(summary.silent, 1);
  assert.equal(summary.responses, 5);
});

test('answered then silent to the end is a block after the last answered request', () => {
  const tally = new Tally(100, 0);
  sendAll(tally, 100);
  for (let i = 0; i < 30; i++) tally.answer(i, 200, 1000 + i);
  const summary = tally.summary();
  assert.deepEqual(summary.blockedAfter, { messages: 30, seconds: 1.03 });
});

test('a few late requests without answers are not a block', () => {
  const tally = new Tally(100, 0);
  sendAll(tally, 100);
  for (let i = 0; i < 98; i++) tally.answer(i, 200, 10);
  assert.equal(tally.summary().blockedAfter, undefined);
});

test('no answer at all is silence, not a block', () => {
  const tally = new Tally(10, 0);
  sendAll(tally, 10);
  const summary = tally.summary();
  assert.equal(summary.blockedAfter, undefined);
  assert.equal(summary.silent, 10);
});

test('answers to requests never sent, or not ours, count as unmatched', () => {
  const tally = new Tally(2, 0);
  tally.sentOne(0);
  tally.answer(5, 200);
  tally.answer(undefined, 200);
  tally.unreadable();
  const summary = tally.summary();
  assert.equal(summary.unmatched, 3);
  assert.equal(summary.answered, 0);
});

test('the request number is read back from our branch, and only from ours', () => {
  assert.equal(seqFromBranch('z9hG4bKabc-17', 'z9hG4bKabc-'), 17);
  assert.equal(seqFromBranch('z9hG4bKabc-17x', 'z9hG4bKabc-'), undefined);
  assert.equal(seqFromBranch('z9hG4bKother-1', 'z9hG4bKabc-'), undefined);
  assert.equal(seqFromBranch(undefined, 'z9hG4bKabc-'), undefined);
});

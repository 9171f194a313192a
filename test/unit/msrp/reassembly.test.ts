import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ByteBudget, Reassembler } from '../../../src/msrp/reassembly.ts';

const limits = { maxMessageBytes: 20, maxIncompleteMessages: 2 };

test('chunks in order make the message; each message apart', () => {
  const r = new Reassembler(limits);
  assert.equal(r.add('m1', { start: 1, end: 5, total: 10 }, Buffer.from('hello'), '+').kind, 'partial');
  assert.equal(r.add('m2', { start: 1, end: '*', total: '*' }, Buffer.from('ab'), '+').kind, 'partial');
  const done = r.add('m1', { start: 6, end: 10, total: 10 }, Buffer.from('world'), '$');
  assert.equal(done.kind, 'complete');
  assert.equal(done.kind === 'complete' && done.content.toString(), 'helloworld');
  assert.equal(done.kind === 'complete' && done.chunks, 2);
  const other = r.add('m2', { start: 3, end: '*', total: '*' }, Buffer.from('cd'), '$');
  assert.equal(other.kind === 'complete' && other.content.toString(), 'abcd');
  assert.equal(r.incomplete, 0);
});

test('an interrupted chunk resumes where it stopped (RFC 4975 5.1)', () => {
  const r = new Reassembler(limits);
  // Declared 1-10 but interrupted after 4 bytes: the next chunk starts at 5.
  r.add('m1', { start: 1, end: 10, total: 10 }, Buffer.from('abcd'), '+');
  const done = r.add('m1', { start: 5, end: 10, total: 10 }, Buffer.from('efghij'), '$');
  assert.equal(done.kind === 'complete' && done.content.toString(), 'abcdefghij');
});

test('a message over the bound is refused with 413, declared or grown', () => {
  const r = new Reassembler(limits);
  const declared = r.add('m1', { start: 1, end: 5, total: 21 }, Buffer.from('hello'), '+');
  assert.deepEqual(declared.kind === 'refused' && declared.status, 413);
  r.add('m2', { start: 1, end: '*', total: '*' }, Buffer.alloc(15), '+');
  const grown = r.add('m2', { start: 16, end: '*', total: '*' }, Buffer.alloc(6), '+');
  assert.equal(grown.kind === 'refused' && grown.status, 413);
  assert.equal(r.incomplete, 0, 'what was held is dropped');
});

test('at most maxIncompleteMessages open at once', () => {
  const r = new Reassembler(limits);
  r.add('m1', { start: 1, end: 1, total: 5 }, Buffer.from('a'), '+');
  r.add('m2', { start: 1, end: 1, total: 5 }, Buffer.from('a'), '+');
  const third = r.add('m3', { start: 1, end: 1, total: 5 }, Buffer.from('a'), '+');
  assert.equal(third.kind === 'refused' && third.status, 413);
  // A single-chunk message needs no slot.
  assert.equal(r.add('m4', { start: 1, end: 1, total: 1 }, Buffer.from('a'), '$').kind, 'complete');
});

test('gaps, overlaps, a short end and a total overrun are refused; # abandons', () => {
  const r = new Reassembler(limits);
  assert.equal(r.add('m1', { start: 2, end: 3, total: 5 }, Buffer.from('ab'), '+').kind, 'refused');
  r.add('m2', { start: 1, end: 3, total: 5 }, Buffer.from('abc'), '+');
  assert.equal(r.add('m2', { start: 3, end: 5, total: 5 }, Buffer.from('cde'), '$').kind, 'refused');
  assert.equal(r.add('m3', { start: 1, end: 3, total: 5 }, Buffer.from('abc'), '$').kind, 'refused');
  assert.equal(r.add('m4', { start: 1, end: 3, total: 2 }, Buffer.from('abc'), '+').kind, 'refused');
  r.add('m5', { start: 1, end: 3, total: 5 }, Buffer.from('abc'), '+');
  assert.equal(r.add('m5', { start: 4, end: 5, total: 5 }, Buffer.from('de'), '#').kind, 'aborted');
  assert.equal(r.incomplete, 0);
});

test('a budget shared by reassemblers bounds what all of them hold, and is given back', () => {
  const budget = new ByteBudget(10);
  const a = new Reassembler(limits, budget);
  const b = new Reassembler(limits, budget);
  a.add('m1', { start: 1, end: 6, total: 12 }, Buffer.alloc(6), '+');
  const over = b.add('m1', { start: 1, end: 6, total: 12 }, Buffer.alloc(6), '+');
  assert.equal(over.kind === 'refused' && over.status, 413);
  assert.equal(budget.used, 6);
  // Completing gives the bytes back; so do an abort and a clear.
  assert.equal(a.add('m1', { start: 7, end: 12, total: 12 }, Buffer.alloc(6), '$').kind, 'complete');
  assert.equal(budget.used, 0);
  b.add('m2', { start: 1, end: 4, total: 8 }, Buffer.alloc(4), '+');
  b.add('m2', { start: 5, end: 8, total: 8 }, Buffer.alloc(4), '#');
  a.add('m3', { start: 1, end: 4, total: 8 }, Buffer.alloc(4), '+');
  a.clear();
  assert.equal(budget.used, 0);
});

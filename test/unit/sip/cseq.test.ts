import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SipParseError } from '../../../src/sip/errors.ts';
import { formatCSeq, parseCSeq } from '../../../src/sip/headers/cseq.ts';
import { isCallId, parseDigits } from '../../../src/sip/headers/scalar.ts';

test('parses a CSeq number and method', () => {
  assert.deepEqual(parseCSeq('4711 INVITE'), { seq: 4711, method: 'INVITE' });
  assert.deepEqual(parseCSeq('0009   INVITE'), { seq: 9, method: 'INVITE' });
});

test('accepts the largest 32-bit CSeq and refuses one beyond (RFC 3261 8.1.1.5)', () => {
  assert.deepEqual(parseCSeq('4294967295 ACK'), { seq: 4294967295, method: 'ACK' });
  const r = parseCSeq('4294967296 ACK');
  assert.ok(r instanceof SipParseError);
  assert.equal(r.code, 'SW_ERR_BAD_CSEQ');
});

test('refuses a CSeq without number, method or space between them', () => {
  for (const bad of ['INVITE', '1', '1INVITE', '-1 INVITE', '1 INVITE extra', '1 INV,ITE', '']) {
    const r = parseCSeq(bad);
    assert.ok(r instanceof SipParseError, bad);
    assert.equal(r.code, 'SW_ERR_BAD_CSEQ');
  }
});

test('formats a CSeq', () => {
  assert.equal(formatCSeq({ seq: 2, method: 'BYE' }), '2 BYE');
});

test('reads 1*DIGIT values, leading zeros included, and flags too many digits', () => {
  assert.equal(parseDigits('0068', 10), 68);
  assert.equal(parseDigits('', 10), -1);
  assert.equal(parseDigits('-999', 10), -1);
  assert.equal(parseDigits('12a', 10), -1);
  assert.equal(parseDigits('1'.repeat(40), 10), -2);
  assert.equal(parseDigits(`${'0'.repeat(30)}7`, 10), 7);
});

test('accepts Call-IDs of word characters with at most one @', () => {
  assert.ok(isCallId('a84b4c76e66710@pc33.atlanta.com'));
  assert.ok(isCallId('intmeth.word%ZK-!.*_+\'@word`~)(><:\\/"][?}{'));
  for (const bad of ['', 'a@b@c', '@a', 'a@', 'a b', 'a;b', 'a,b']) assert.equal(isCallId(bad), false, bad);
});

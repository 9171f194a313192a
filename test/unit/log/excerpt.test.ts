import assert from 'node:assert/strict';
import { test } from 'node:test';
import { excerpt } from '../../../src/log/excerpt.ts';

test('keeps printable ASCII as it is', () => {
  assert.equal(excerpt('OPTIONS sip:a@b SIP/2.0'), 'OPTIONS sip:a@b SIP/2.0');
});

test('writes CR, LF and TAB as escapes so one excerpt stays on one line', () => {
  assert.equal(excerpt(Buffer.from('Via: x\r\n\ty')), 'Via: x\\r\\n\\ty');
});

test('writes every other control or non-ASCII byte as \\xNN', () => {
  assert.equal(excerpt(Buffer.from([0x00, 0x1b, 0x7f, 0x80, 0xff])), '\\x00\\x1b\\x7f\\x80\\xff');
});

test('doubles a backslash so escapes cannot be forged', () => {
  assert.equal(excerpt('a\\x00'), 'a\\\\x00');
});

test('escapes characters above 0xff in strings as \\uNNNN', () => {
  assert.equal(excerpt('é€'), '\\xe9\\u20ac');
});

test('shows at most max bytes and counts the rest', () => {
  assert.equal(excerpt(Buffer.alloc(1000, 0x41), 4), 'AAAA...(996 more)');
  assert.equal(excerpt('x'.repeat(200)).length, 120 + '...(80 more)'.length);
});

test('an input of exactly max bytes is shown whole', () => {
  assert.equal(excerpt('abcd', 4), 'abcd');
  assert.equal(excerpt('', 4), '');
});

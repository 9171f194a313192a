import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseMessage } from '../../../src/sip/parse.ts';
import { warningHeader } from '../../../src/sip/warning.ts';

test('writes 399 sipwarden and the text as a quoted-string (RFC 3261 20.43)', () => {
  assert.deepEqual(warningHeader('repeated From header'), {
    name: 'Warning',
    value: '399 sipwarden "repeated From header"',
  });
});

test('escapes quotes and backslashes as quoted-pairs and replaces what is not printable ASCII', () => {
  assert.equal(warningHeader('bad "x" \\ y').value, '399 sipwarden "bad \\"x\\" \\\\ y"');
  assert.equal(warningHeader('a\r\nInjected: 1\u0000é').value, '399 sipwarden "a??Injected: 1??"');
});

test('bounds the text and keeps the header parseable whatever it holds', () => {
  const value = warningHeader(`${'"\\'.repeat(300)}\r\n`).value;
  assert.ok(value.length < 450);
  const message = `SIP/2.0 400 Bad Request\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nWarning: ${value}\r\nContent-Length: 0\r\n\r\n`;
  const parsed = parseMessage(Buffer.from(message, 'latin1'));
  assert.ok(parsed.ok);
  assert.equal(parsed.message.headers.find((h) => h.name === 'warning')?.value, value);
});

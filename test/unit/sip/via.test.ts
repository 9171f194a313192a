import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SipParseError } from '../../../src/sip/errors.ts';
import { formatVia, parseViaValues } from '../../../src/sip/headers/via.ts';
import type { Via } from '../../../src/sip/message.ts';

function vias(value: string): Via[] {
  const r = parseViaValues(value);
  assert.ok(!(r instanceof SipParseError), `refused ${value}: ${r instanceof SipParseError ? r.reason : ''}`);
  return r;
}

function refused(value: string, code = 'SW_ERR_BAD_VIA'): void {
  const r = parseViaValues(value);
  assert.ok(r instanceof SipParseError, `accepted ${value}`);
  assert.equal(r.code, code);
}

test('parses transport, sent-by and parameters of a Via value', () => {
  const [v] = vias('SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds;rport;received=192.0.2.9');
  assert.equal(v!.transport, 'UDP');
  assert.equal(v!.host, '192.0.2.1');
  assert.equal(v!.port, 5060);
  assert.equal(v!.branch, 'z9hG4bK776asdhds');
  assert.equal(v!.params.get('rport'), null);
  assert.equal(v!.params.get('received'), '192.0.2.9');
});

test('parses comma-separated Via values with whitespace around separators (RFC 4475 3.1.1.1)', () => {
  const r = vias(
    'SIP  / 2.0  / TCP     spindle.example.com   ;  branch  =   z9hG4bK9ikj8  , SIP  /    2.0   / UDP  192.168.255.111   ; branch= z9hG4bK30239',
  );
  assert.equal(r.length, 2);
  assert.equal(r[0]!.host, 'spindle.example.com');
  assert.equal(r[0]!.branch, 'z9hG4bK9ikj8');
  assert.equal(r[1]!.transport, 'UDP');
  assert.equal(r[1]!.branch, 'z9hG4bK30239');
});

test('upper-cases the transport and accepts unknown transports (RFC 4475 3.1.1.10)', () => {
  assert.equal(vias('SIP/2.0/ws example.com')[0]!.transport, 'WS');
  assert.equal(vias('SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en')[0]!.transport, 'UNKNOWN');
});

test('accepts IPv6 sent-by and received with or without brackets (RFC 5118 4.5)', () => {
  const [a] = vias('SIP/2.0/UDP [2001:db8::9:1]:6050;received=[2001:db8::9:255];branch=z9hG4bKas3');
  assert.equal(a!.host, '[2001:db8::9:1]');
  assert.equal(a!.port, 6050);
  assert.equal(a!.params.get('received'), '[2001:db8::9:255]');
  const [b] = vias('SIP/2.0/UDP [2001:db8::9:1];received=2001:db8::9:255;branch=z9hG4bKas3');
  assert.equal(b!.params.get('received'), '2001:db8::9:255');
});

test('refuses empty parameters and stray separators (RFC 4475 3.1.2.1)', () => {
  refused('SIP/2.0/UDP 192.0.2.15;;,;,,');
  refused('SIP/2.0/UDP 192.0.2.15,');
});

test('refuses a protocol other than SIP/2.0', () => {
  refused('SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw');
  refused('HTTP/2.0/UDP c.example.com');
});

test('refuses a missing or malformed sent-by', () => {
  refused('SIP/2.0/UDP');
  refused('SIP/2.0/UDP ;branch=x');
  refused('SIP/2.0/UDP host:99999');
  refused('SIP/2.0/UDPhost');
});

test('refuses bad values of the parameters RFC 3261 defines', () => {
  refused('SIP/2.0/UDP h;ttl=256');
  refused('SIP/2.0/UDP h;received=example.com');
  refused('SIP/2.0/UDP h;branch');
  refused('SIP/2.0/UDP h;maddr=a..b');
  refused('SIP/2.0/UDP h;rport=70000');
});

test('refuses a repeated Via parameter', () => {
  refused('SIP/2.0/UDP h;branch=z9hG4bK1;branch=z9hG4bK2');
});

test('refuses a Via parameter longer than the token limit', () => {
  const r = parseViaValues(`SIP/2.0/UDP h;branch=z9hG4bK${'x'.repeat(100)}`, 64);
  assert.ok(r instanceof SipParseError);
  assert.equal(r.code, 'SW_ERR_TOKEN_TOO_LONG');
});

test('formats a Via value that parses back to the same value', () => {
  const [v] = vias('SIP/2.0/TLS [2001:db8::1]:5061;branch=z9hG4bKabc;rport=5061;received=192.0.2.1');
  const text = formatVia(v!);
  assert.equal(text, 'SIP/2.0/TLS [2001:db8::1]:5061;branch=z9hG4bKabc;rport=5061;received=192.0.2.1');
  assert.deepEqual(vias(text)[0], v);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withOwnVia } from '../../../src/core/route/own-via.ts';
import { prependHeader } from '../../../src/sip/edit.ts';
import type { SipRequest } from '../../../src/sip/message.ts';
import { parseMessage } from '../../../src/sip/parse.ts';
import { serializeMessage } from '../../../src/sip/serialize.ts';

const INVITE = Buffer.from(
  'INVITE sip:bob@example.com SIP/2.0\r\n' +
    'Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKabc;rport\r\n' +
    'Max-Forwards: 70\r\n' +
    'From: <sip:alice@example.com>;tag=1\r\n' +
    'To: <sip:bob@example.com>\r\n' +
    'Call-ID: c1@example.com\r\n' +
    'CSeq: 1 INVITE\r\n' +
    'Content-Length: 0\r\n\r\n',
);

function invite(): SipRequest {
  const parsed = parseMessage(INVITE);
  if (!parsed.ok || parsed.message.kind !== 'request') throw new Error('fixture does not parse');
  return parsed.message;
}

for (const address of [
  { transport: 'udp' as const, host: '127.0.0.1', port: 5060 },
  { transport: 'tcp' as const, host: 'sbc.example.com', port: 5070 },
  { transport: 'tls' as const, host: '2001:db8::1', port: 5061 },
]) {
  test(`our Via over ${address.transport} to ${address.host} is what writing and parsing it would give`, () => {
    const branch = 'z9hG4bKswABC.def';
    const built = withOwnVia(invite(), address, branch);
    const host = address.host.includes(':') ? `[${address.host}]` : address.host;
    const written = prependHeader(
      invite(),
      'Via',
      `SIP/2.0/${address.transport.toUpperCase()} ${host}:${address.port};branch=${branch};rport`,
    );
    assert.deepEqual(built.via, written.via);
    assert.deepEqual(built.headers, written.headers);
    assert.equal(serializeMessage(built).toString('latin1'), serializeMessage(written).toString('latin1'));
  });
}

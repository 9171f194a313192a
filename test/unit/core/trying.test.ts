import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { RFC3261_TIMERS } from '../../../src/core/transaction/timers.ts';
import { startCoreGateway } from '../../support/core-gateway.ts';
import { answer, header, startLine, UdpPeer } from '../../support/udp-peer.ts';

let upstream: UdpPeer;
let client: UdpPeer;
let seq = 0;

function gatewayWithTryingDelay(trying: number) {
  return startCoreGateway(upstream.port, { gateway: { timers: { ...RFC3261_TIMERS, trying } } });
}

function invite(): { text: string; callId: string } {
  seq++;
  const callId = `trying-${seq}@client.example`;
  const text = [
    'INVITE sip:alice@pbx.example.com SIP/2.0',
    `Via: SIP/2.0/UDP 127.0.0.1:${client.port};branch=z9hG4bK-trying-${seq};rport`,
    'Max-Forwards: 70',
    'From: <sip:bob@client.example>;tag=from-1',
    'To: <sip:alice@pbx.example.com>',
    `Call-ID: ${callId}`,
    'CSeq: 1 INVITE',
    `Contact: <sip:bob@127.0.0.1:${client.port}>`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  return { text, callId };
}

const sameCall = (callId: string) => (text: string) => header(text, 'call-id') === callId;
const isTrying = (text: string) => startLine(text) === 'SIP/2.0 100 Trying';

describe('100 (Trying) goes back only when nothing else has (RFC 3261 17.2.1)', () => {
  before(async () => {
    upstream = await UdpPeer.bind();
    client = await UdpPeer.bind();
  });
  after(() => {
    upstream.close();
    client.close();
  });

  test('an INVITE the upstream does not answer gets 100 Trying once the delay is over', async () => {
    const { gateway, port } = await gatewayWithTryingDelay(1);
    try {
      const { text, callId } = invite();
      client.send(text, port);
      await upstream.next(sameCall(callId));
      const trying = await client.next(sameCall(callId));
      assert.ok(isTrying(trying), startLine(trying));
    } finally {
      await gateway.close();
    }
  });

  test('an INVITE the upstream answers before the delay gets its answer and no 100 Trying', async () => {
    // A delay no test run reaches: whether the 100 goes cannot depend on the machine's speed.
    const { gateway, port } = await gatewayWithTryingDelay(60_000);
    try {
      const { text, callId } = invite();
      client.send(text, port);
      const forwarded = await upstream.next(sameCall(callId));
      upstream.send(answer(forwarded, 180, 'Ringing'), port);
      const ringing = await client.next(sameCall(callId));
      assert.equal(startLine(ringing), 'SIP/2.0 180 Ringing');
      assert.equal(await client.count((t) => sameCall(callId)(t) && isTrying(t)), 0);
    } finally {
      await gateway.close();
    }
  });

  test('a retransmitted INVITE gets its 100 Trying at once, and is not forwarded again', async () => {
    const { gateway, port } = await gatewayWithTryingDelay(60_000);
    try {
      const { text, callId } = invite();
      client.send(text, port);
      await upstream.next(sameCall(callId));
      client.send(text, port);
      const trying = await client.next(sameCall(callId));
      assert.ok(isTrying(trying), startLine(trying));
      assert.equal(await upstream.count(sameCall(callId)), 0);
    } finally {
      await gateway.close();
    }
  });
});

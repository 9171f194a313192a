import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Gateway } from '../../../src/gateway.ts';
import { startCoreGateway } from '../../support/core-gateway.ts';
import { answer, header, headers, startLine, UdpPeer } from '../../support/udp-peer.ts';

// RFC timers (T1 500 ms): a finished transaction lingers 32 s, far longer than these tests.
let gateway: Gateway;
let upstream: UdpPeer;
let client: UdpPeer;
let third: UdpPeer;
let port: number;
let seq = 0;

function request(method: string, branch: string, callId: string, extra: string[] = []): string {
  return [
    `${method} sip:alice@pbx.example.com SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${client.port};branch=${branch};rport`,
    'Max-Forwards: 70',
    'From: <sip:bob@client.example>;tag=from-1',
    'To: <sip:alice@pbx.example.com>',
    `Call-ID: ${callId}`,
    `CSeq: 1 ${method}`,
    `Contact: <sip:bob@127.0.0.1:${client.port}>`,
    ...extra,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

const sameCall = (callId: string) => (text: string) => header(text, 'call-id') === callId;
const isStatus = (status: number) => (text: string) => startLine(text).startsWith(`SIP/2.0 ${status} `);
const isMethod = (method: string) => (text: string) => startLine(text).startsWith(`${method} `);

/** One request through the proxy, answered by the upstream; returns what was forwarded and the answer as sent. */
async function complete(method: string, status = 200, reason = 'OK') {
  seq++;
  const callId = `finished-${seq}@client.example`;
  const sent = request(method, `z9hG4bK-finished-${seq}`, callId);
  client.send(sent, port);
  const forwarded = await upstream.next((t) => sameCall(callId)(t) && isMethod(method)(t));
  const final = answer(forwarded, status, reason, [`Contact: <sip:alice@127.0.0.1:${upstream.port}>`]);
  upstream.send(final, port);
  await client.next((t) => sameCall(callId)(t) && isStatus(status)(t));
  client.received.length = 0;
  return { sent, callId, forwarded, final };
}

describe('finished transactions absorb retransmissions while they linger', () => {
  before(async () => {
    upstream = await UdpPeer.bind();
    client = await UdpPeer.bind();
    third = await UdpPeer.bind();
    ({ gateway, port } = await startCoreGateway(upstream.port));
  });

  after(async () => {
    await gateway.close();
    upstream.close();
    client.close();
    third.close();
  });

  test('a retransmitted non-INVITE gets its final response again and is not forwarded twice', async () => {
    const { sent, callId } = await complete('OPTIONS');
    const lingeringBefore = gateway.proxy.lingeringCount;
    assert.ok(lingeringBefore >= 1);
    client.send(sent, port);
    const repeated = await client.next(sameCall(callId));
    assert.equal(startLine(repeated), 'SIP/2.0 200 OK');
    assert.equal(await upstream.count((t) => sameCall(callId)(t) && isMethod('OPTIONS')(t)), 0);
  });

  test('a retransmitted INVITE after its 2xx is absorbed: not forwarded, not answered (RFC 6026)', async () => {
    const { sent, callId } = await complete('INVITE');
    client.send(sent, port);
    assert.equal(await upstream.count((t) => sameCall(callId)(t) && isMethod('INVITE')(t)), 0);
    assert.equal(await client.count((t) => sameCall(callId)(t) && !isStatus(100)(t)), 0);
  });

  test("the upstream's 2xx retransmission still reaches the caller after the INVITE finished", async () => {
    const { callId, final } = await complete('INVITE');
    upstream.send(final, port);
    const again = await client.next(sameCall(callId));
    assert.equal(startLine(again), 'SIP/2.0 200 OK');
    assert.equal(headers(again, 'via').length, 1, 'our Via is removed');
  });

  test('a 2xx retransmission from a third address is refused, not forwarded', async () => {
    const { callId, final } = await complete('INVITE');
    third.send(final, port);
    assert.equal(await client.count(sameCall(callId)), 0);
  });

  test('a CANCEL for an INVITE already answered 2xx gets 200 and cancels nothing', async () => {
    const { sent, callId } = await complete('INVITE');
    const branch = /branch=([^;\r\n]+)/.exec(sent)![1]!;
    client.send(request('CANCEL', branch, callId), port);
    const reply = await client.next((t) => sameCall(callId)(t) && header(t, 'cseq') === '1 CANCEL');
    assert.equal(startLine(reply), 'SIP/2.0 200 OK');
    assert.equal(await upstream.count((t) => sameCall(callId)(t) && isMethod('CANCEL')(t)), 0);
  });
});

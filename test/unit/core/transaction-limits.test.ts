import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Gateway } from '../../../src/gateway.ts';
import { startCoreGateway } from '../../support/core-gateway.ts';
import { answer, header, startLine, UdpPeer } from '../../support/udp-peer.ts';

// RFC timers (T1 500 ms): a finished transaction lingers 32 s, far longer than this test.
const MAX_IN_PROGRESS = 2;
const MAX_LINGERING = 3;

let gateway: Gateway;
let upstream: UdpPeer;
let client: UdpPeer;
let port: number;
let seq = 0;

function register(): string {
  seq++;
  return [
    `REGISTER sip:pbx.example.com SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${client.port};branch=z9hG4bK-limits-${seq};rport`,
    'Max-Forwards: 70',
    `From: <sip:10${seq}@pbx.example.com>;tag=f${seq}`,
    `To: <sip:10${seq}@pbx.example.com>`,
    `Call-ID: limits-${seq}@client.example`,
    'CSeq: 1 REGISTER',
    `Contact: <sip:10${seq}@127.0.0.1:${client.port}>`,
    'Expires: 60',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

const sameCall = (sent: string) => (text: string) => header(text, 'call-id') === header(sent, 'call-id');

/** One REGISTER through the proxy, answered 200 by the upstream; resolves with what the client got. */
async function completeOne(): Promise<string> {
  const sent = register();
  client.send(sent, port);
  const forwarded = await upstream.next(sameCall(sent));
  upstream.send(answer(forwarded, 200, 'OK'), port);
  return client.next(sameCall(sent));
}

describe('transaction limits count transactions in progress, not finished ones', () => {
  before(async () => {
    upstream = await UdpPeer.bind();
    client = await UdpPeer.bind();
    ({ gateway, port } = await startCoreGateway(upstream.port, {
      proxy: { maxTransactions: MAX_IN_PROGRESS, maxLingeringTransactions: MAX_LINGERING },
    }));
  });

  after(async () => {
    await gateway.close();
    upstream.close();
    client.close();
  });

  test('requests keep being forwarded after more transactions finished than maxTransactions', async () => {
    for (let i = 0; i < MAX_IN_PROGRESS + 2; i++) {
      const reply = await completeOne();
      assert.equal(startLine(reply), 'SIP/2.0 200 OK', `request ${i + 1}`);
    }
    assert.ok(gateway.proxy.lingeringCount > MAX_IN_PROGRESS);
  });

  test('finished transactions beyond maxLingeringTransactions end early, oldest first', async () => {
    for (let i = 0; i < MAX_LINGERING + 3; i++) await completeOne();
    assert.equal(gateway.proxy.lingeringCount, MAX_LINGERING);
    assert.equal(gateway.proxy.transactionCount, MAX_LINGERING);
  });

  test('a request beyond maxTransactions in progress still gets 503', async () => {
    const pending = [register(), register()];
    for (const r of pending) client.send(r, port);
    for (const r of pending) await upstream.next(sameCall(r));
    const third = register();
    client.send(third, port);
    const reply = await client.next(sameCall(third));
    assert.equal(startLine(reply), 'SIP/2.0 503 Service Unavailable');
  });
});

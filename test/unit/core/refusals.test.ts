/**
 * Refusals answered as documented: a request the core refuses before any stage (it does not
 * parse, frame or validate, or it is over the size limit) gets its status with a Warning
 * saying why, built from the fields that can be read, on the flow it came over; only what
 * no answer can be built for is dropped. A real gateway on loopback, UDP and TCP.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, beforeEach, describe, test } from 'node:test';
import { type Gateway, startGateway } from '../../../src/gateway.ts';
import { silentLogger } from '../../../src/log/logger.ts';
import { coreConfig } from '../../support/core-gateway.ts';
import { answer, header, headers, startLine, UdpPeer } from '../../support/udp-peer.ts';

const TEST_TIMERS = { T1: 20, T2: 80, T4: 100, timerC: 5000 };

let gateway: Gateway;
let upstream: UdpPeer;
let client: UdpPeer;
let udpPort: number;
let tcpPort: number;
let seq = 0;

const config = (upstreamPort: number) => coreConfig(upstreamPort, ['udp', 'tcp']);

/** A request whose header lines are `lines` (Via, From, To, Call-ID, CSeq, Max-Forwards by default). */
function request(
  options: { transport?: 'UDP' | 'TCP'; lines?: (defaults: string[]) => string[]; body?: string } = {},
) {
  seq++;
  const defaults = [
    `Via: SIP/2.0/${options.transport ?? 'UDP'} 127.0.0.1:${client.port};branch=z9hG4bK-refusal-${seq}`,
    'Max-Forwards: 70',
    `From: <sip:bob@client.example>;tag=from-${seq}`,
    'To: <sip:alice@pbx.example.com>',
    `Call-ID: refusal-${seq}@client.example`,
    'CSeq: 1 MESSAGE',
  ];
  const body = options.body ?? '';
  return [
    'MESSAGE sip:alice@pbx.example.com SIP/2.0',
    ...(options.lines ? options.lines(defaults) : defaults),
    `Content-Length: ${Buffer.byteLength(body, 'latin1')}`,
    '',
    body,
  ].join('\r\n');
}

const sameCall = (sent: string) => (text: string) => header(text, 'call-id') === header(sent, 'call-id');
const anyFrom = (sent: string) => (text: string) => sameCall(sent)(text) || headers(text, 'via').length > 0;

/** A TCP connection to the gateway that collects what comes back and when it closes. */
async function tcpClient(): Promise<{ socket: Socket; text: () => string; closed: Promise<void> }> {
  const socket = connect(tcpPort, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let received = '';
  socket.on('data', (chunk: Buffer) => {
    received += chunk.toString('latin1');
  });
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { socket, text: () => received, closed };
}

async function waitFor(check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('refusals answered as documented', () => {
  before(async () => {
    upstream = await UdpPeer.bind();
    client = await UdpPeer.bind();
    gateway = await startGateway(config(upstream.port), silentLogger, { timers: TEST_TIMERS });
    udpPort = gateway.listening().find((l) => l.transport === 'udp')!.port;
    tcpPort = gateway.listening().find((l) => l.transport === 'tcp')!.port;
  });

  after(async () => {
    await gateway.close();
    upstream.close();
    client.close();
  });

  beforeEach(() => {
    upstream.received.length = 0;
    client.received.length = 0;
  });

  for (const [name, extra] of [
    ['From', 'From: <sip:mallory@elsewhere.example>;tag=second'],
    ['To', 'To: <sip:someone@elsewhere.example>'],
    ['Call-ID', 'Call-ID: second-call-id@elsewhere.example'],
  ] as const) {
    test(`a request with two ${name} headers gets 400 with a Warning, built from the first values`, async () => {
      const sent = request({ lines: (d) => [...d, extra] });
      client.send(sent, udpPort);
      const reply = await client.next(sameCall(sent));
      assert.equal(startLine(reply), `SIP/2.0 400 repeated ${name} header`);
      assert.deepEqual(headers(reply, 'warning'), [`399 sipwarden "repeated ${name} header"`]);
      // One value of each, the first one the request carried.
      assert.deepEqual(headers(reply, 'from'), [header(sent, 'from')]);
      assert.deepEqual(headers(reply, 'to'), [header(sent, 'to')]);
      assert.deepEqual(headers(reply, 'call-id'), [header(sent, 'call-id')]);
      assert.deepEqual(headers(reply, 'via'), headers(sent, 'via'));
      assert.equal(await upstream.count(() => true, 100), 0);
    });
  }

  test('a request whose From does not parse gets 400 with a Warning, the From copied as it came', async () => {
    const sent = request({
      lines: (d) =>
        d.map((l) => (l.startsWith('From:') ? 'From: "unbalanced <sip:bob@client.example>;tag=x' : l)),
    });
    client.send(sent, udpPort);
    const reply = await client.next(sameCall(sent));
    assert.match(startLine(reply), /^SIP\/2\.0 400 bad From header/);
    assert.match(header(reply, 'warning') ?? '', /^399 sipwarden "bad From header: [^"]+"$/);
    assert.equal(header(reply, 'from'), '"unbalanced <sip:bob@client.example>;tag=x');
  });

  test('every parse-level 400 carries a Warning saying what was wrong', async () => {
    const sent = request({
      lines: (d) => d.map((l) => (l.startsWith('Max-Forwards') ? 'Max-Forwards: seventy' : l)),
    });
    client.send(sent, udpPort);
    const reply = await client.next(sameCall(sent));
    assert.equal(startLine(reply), 'SIP/2.0 400 malformed Max-Forwards');
    assert.deepEqual(headers(reply, 'warning'), ['399 sipwarden "malformed Max-Forwards"']);
  });

  test('a request whose Via does not parse is dropped: no answer can be matched to it', async () => {
    const sent = request({
      lines: (d) => d.map((l) => (l.startsWith('Via') ? 'Via: SIP/2.0/UDP 192.0.2.15;;,;,,' : l)),
    });
    client.send(sent, udpPort);
    assert.equal(await client.count(anyFrom(sent), 200), 0);
    assert.equal(await upstream.count(() => true, 0), 0);
  });

  test('a UDP datagram over the message limit gets 513 Message Too Large with a Warning, and is not forwarded', async () => {
    const sent = request({ lines: (d) => [...d, 'Content-Type: text/plain'], body: 'x'.repeat(7000) });
    assert.ok(Buffer.byteLength(sent) > 6048);
    client.send(sent, udpPort);
    const reply = await client.next(sameCall(sent));
    assert.match(startLine(reply), /^SIP\/2\.0 513 /);
    assert.match(header(reply, 'warning') ?? '', /^399 sipwarden "message too large/);
    assert.equal(await upstream.count(() => true, 100), 0);
  });

  test('a 10 KB INVITE over TCP gets 513 on its connection, which then closes; nothing is forwarded', async () => {
    const tcp = await tcpClient();
    const body = `v=0\r\n${'a=x-padding:0123456789abcdef\r\n'.repeat(340)}`;
    const sent = request({
      transport: 'TCP',
      lines: (d) => [...d.map((l) => l.replace('1 MESSAGE', '1 INVITE')), 'Content-Type: application/sdp'],
      body,
    }).replace(/^MESSAGE/, 'INVITE');
    assert.ok(Buffer.byteLength(sent) > 10_000);
    tcp.socket.write(sent);
    await tcp.closed;
    const reply = tcp.text();
    assert.match(startLine(reply), /^SIP\/2\.0 513 /);
    assert.equal(header(reply, 'call-id'), header(sent, 'call-id'));
    // The Warning names the limit passed.
    assert.match(header(reply, 'warning') ?? '', /^399 sipwarden "[^"]*\b6048 bytes\b[^"]*"$/);
    assert.equal(await upstream.count(() => true, 100), 0);
  });

  test('a TCP message whose Content-Length is no number gets 400 with a Warning, then the connection closes', async () => {
    const tcp = await tcpClient();
    const sent = request({ transport: 'TCP' }).replace(/Content-Length: 0/, 'Content-Length: zero');
    tcp.socket.write(sent);
    await tcp.closed;
    const reply = tcp.text();
    assert.match(startLine(reply), /^SIP\/2\.0 400 /);
    assert.equal(header(reply, 'call-id'), header(sent, 'call-id'));
    assert.match(header(reply, 'warning') ?? '', /^399 sipwarden "Content-Length/);
  });

  test('a request over TCP with the Via of an earlier one over UDP is answered over TCP (RFC 3261 18.2.2)', async () => {
    // The same bytes, first as a datagram: its transaction must not swallow the TCP copy.
    const sent = request();
    client.send(sent, udpPort);
    const first = await upstream.next(sameCall(sent));
    upstream.send(answer(first, 200, 'OK'), udpPort);
    await client.next(sameCall(sent));
    const tcp = await tcpClient();
    tcp.socket.write(sent);
    const second = await upstream.next(sameCall(sent));
    upstream.send(answer(second, 202, 'Accepted'), udpPort);
    await waitFor(() => tcp.text().includes('SIP/2.0 202 Accepted'));
    tcp.socket.destroy();
    // And the datagram's client heard nothing more.
    assert.equal(await client.count(sameCall(sent), 100), 0);
  });
});

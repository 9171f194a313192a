/**
 * NAT traversal through the proxy, in process, with real sockets on loopback: a phone over
 * UDP and one over TCP register through sipwarden to a registrar stand-in (a UDP peer that
 * answers as a registrar does). The UDP phone gets OPTIONS keepalives over its flow; when it
 * stops answering them, and when the TCP phone's connection closes, the flow is dead: the
 * registrar gets a REGISTER with Expires: 0 for the Contact with the phone's Path, an INVITE
 * the registrar sends along that Path gets 430 Flow Failed at once, and `nat` events say so.
 * The CRLF keepalive of RFC 5626 over the TCP flow gets its single CRLF back.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { SipwardenConfig } from '../../../src/config/schema.ts';
import type { SecurityEvent } from '../../../src/events/types.ts';
import { type Gateway, startGateway } from '../../../src/gateway.ts';
import { silentLogger } from '../../../src/log/logger.ts';
import { coreConfig } from '../../support/core-gateway.ts';
import { registrarOk } from '../../support/registrar-ok.ts';
import { header, headers, startLine, UdpPeer } from '../../support/udp-peer.ts';

let registrar: UdpPeer;
let phone: UdpPeer;
let gateway: Gateway;
let port: number;

before(async () => {
  registrar = await UdpPeer.bind();
  phone = await UdpPeer.bind();
  const base = coreConfig(registrar.port, ['udp', 'tcp']);
  const config: SipwardenConfig = {
    ...base,
    // Pings every second, dead after two unanswered.
    nat: { ...base.nat, keepalive: { enabled: true, intervalS: 1, maxMisses: 2 } },
  };
  gateway = await startGateway(config, silentLogger);
  port = gateway.listening().find((l) => l.transport === 'udp')!.port;
  gateway.management.bus.subscribe({
    write: (events) => {
      for (const event of events) if (event.type === 'nat' && event.final !== true) seen.push(event);
    },
  });
});

after(async () => {
  await gateway?.close();
  registrar?.close();
  phone?.close();
});

function registerText(user: string, transport: 'UDP' | 'TCP', local: number): string {
  const contact = `<sip:${user}@10.0.0.2:5062${transport === 'TCP' ? ';transport=tcp' : ''}>`;
  return [
    `REGISTER sip:example.com SIP/2.0`,
    `Via: SIP/2.0/${transport} 10.0.0.2:5062;branch=z9hG4bK-reg-${user};rport`,
    'Max-Forwards: 70',
    `From: <sip:${user}@example.com>;tag=r-${user}`,
    `To: <sip:${user}@example.com>`,
    `Call-ID: reg-${user}-${local}`,
    'CSeq: 1 REGISTER',
    `Contact: ${contact}`,
    'Expires: 300',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

/** An INVITE from the registrar to the phone, along the Path it stored. */
function inviteAlong(path: string, user: string, callId = `inv-${user}`): string {
  return [
    `INVITE sip:${user}@10.0.0.2:5062 SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${registrar.port};branch=z9hG4bK-${callId}`,
    `Route: ${path}`,
    'Max-Forwards: 70',
    `From: <sip:carol@example.com>;tag=c-${user}`,
    `To: <sip:${user}@example.com>`,
    `Call-ID: ${callId}`,
    'CSeq: 1 INVITE',
    `Contact: <sip:carol@127.0.0.1:${registrar.port}>`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

/** `nat` aggregates opened with this rule so far (each reported once when it opens). */
function natEvents(rule: string): number {
  gateway.management.bus.flush(Date.now());
  return seen.filter((e) => e.rule === rule).length;
}
const seen: SecurityEvent[] = [];

describe('NAT traversal through the proxy', () => {
  test('UDP: keepalives over the flow; unanswered, the flow dies, is unregistered, and an INVITE for it gets 430', async () => {
    phone.send(registerText('alice', 'UDP', phone.port), port);
    const forwarded = await registrar.next((t) => t.startsWith('REGISTER'));
    const path = header(forwarded, 'path')!;
    assert.match(path, /;ob>$/);
    registrar.send(registrarOk(forwarded), port);
    assert.match(startLine(await phone.next((t) => t.startsWith('SIP/2.0'))), /^SIP\/2\.0 200/);

    // The keepalive comes over the flow, to the registered Contact; the phone answers it.
    const ping = await phone.next((t) => t.startsWith('OPTIONS '), 5000);
    assert.match(startLine(ping), /^OPTIONS sip:alice@10\.0\.0\.2:5062 SIP\/2\.0$/);
    phone.send(
      [
        'SIP/2.0 200 OK',
        ...headers(ping, 'via').map((v) => `Via: ${v}`),
        `From: ${header(ping, 'from')}`,
        `To: ${header(ping, 'to')};tag=p`,
        `Call-ID: ${header(ping, 'call-id')}`,
        `CSeq: ${header(ping, 'cseq')}`,
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
      port,
    );
    // While the flow lives, the registrar's INVITE reaches the phone.
    registrar.send(inviteAlong(path, 'alice'), port);
    const invite = await phone.next((t) => t.startsWith('INVITE '), 5000);
    assert.ok(invite);
    const answeredPings = gateway.proxy.nat!.keepalive!.answers;
    assert.equal(answeredPings, 1);

    // The phone goes silent: two pings unanswered and the registrar is told.
    const unregister = await registrar.next(
      (t) => t.startsWith('REGISTER') && header(t, 'expires') === '0',
      10_000,
    );
    assert.match(header(unregister, 'contact')!, /^<sip:alice@10\.0\.0\.2:5062>;expires=0$/);
    assert.equal(header(unregister, 'path'), path, "the phone's Path");
    assert.equal(header(unregister, 'to'), '<sip:alice@example.com>');
    registrar.send(registrarOk(unregister), port);

    registrar.send(inviteAlong(path, 'alice', 'inv-alice-2'), port);
    const refused = await registrar.next(
      (t) => t.startsWith('SIP/2.0') && header(t, 'call-id') === 'inv-alice-2',
    );
    assert.equal(startLine(refused), 'SIP/2.0 430 Flow Failed');
    assert.equal(
      await phone.count((t) => header(t, 'call-id') === 'inv-alice-2'),
      0,
      'nothing sent to the dead flow',
    );
    assert.equal(natEvents('flow-dead'), 1);
    assert.equal(natEvents('flow-failed'), 1);
    assert.ok(gateway.proxy.nat!.stats.unregistersAccepted >= 1);
  });

  test('TCP: a CRLF ping gets a CRLF; the connection closes, the flow dies, an INVITE for it gets 430', async () => {
    const tcpPort = gateway.listening().find((l) => l.transport === 'tcp')!.port;
    const socket: Socket = connect({ host: '127.0.0.1', port: tcpPort });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    let received = '';
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
    });
    socket.write(registerText('bob', 'TCP', socket.localPort!));
    const forwarded = await registrar.next((t) => t.startsWith('REGISTER') && t.includes('sip:bob@'));
    const path = header(forwarded, 'path')!;
    registrar.send(registrarOk(forwarded), port);
    await until(() => received.includes('SIP/2.0 200 OK'));
    received = '';
    // RFC 5626 section 3.5.1: double CRLF, single CRLF back.
    socket.write('\r\n\r\n');
    await until(() => received.length >= 2);
    assert.equal(received, '\r\n');

    socket.destroy();
    const unregister = await registrar.next(
      (t) => t.startsWith('REGISTER') && t.includes('sip:bob@') && header(t, 'expires') === '0',
      5000,
    );
    assert.match(header(unregister, 'contact')!, /transport=tcp>;expires=0$/);
    registrar.send(registrarOk(unregister), port);
    registrar.send(inviteAlong(path, 'bob'), port);
    const refused = await registrar.next(
      (t) => t.startsWith('SIP/2.0') && header(t, 'call-id') === 'inv-bob',
    );
    assert.equal(startLine(refused), 'SIP/2.0 430 Flow Failed');
    assert.ok(natEvents('flow-dead') >= 2);
  });
});

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

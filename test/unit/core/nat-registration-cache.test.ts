/**
 * NAT traversal and registration caching together: once a phone's UDP flow is found dead and
 * its binding removed at the registrar, the phone's next re-REGISTER on that flow goes to the
 * registrar again (which has no binding any more) instead of getting the cached 200.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { SipwardenConfig } from '../../../src/config/schema.ts';
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
  const base = coreConfig(registrar.port, ['udp']);
  const config: SipwardenConfig = {
    ...base,
    nat: { ...base.nat, keepalive: { enabled: true, intervalS: 1, maxMisses: 2 } },
    registrationCache: { enabled: true, maxEntries: 100, refreshBelowPercent: 50 },
  };
  gateway = await startGateway(config, silentLogger);
  port = gateway.listening().find((l) => l.transport === 'udp')!.port;
});

after(async () => {
  await gateway?.close();
  registrar?.close();
  phone?.close();
});

function register(cseq: number): string {
  return [
    'REGISTER sip:example.com SIP/2.0',
    `Via: SIP/2.0/UDP 10.0.0.2:5062;branch=z9hG4bK-reg-${cseq};rport`,
    'Max-Forwards: 70',
    '<sip:dora@example.com>;tag=r-dora'.replace(/^/, 'From: '),
    'To: <sip:dora@example.com>',
    'Call-ID: reg-dora',
    `CSeq: ${cseq} REGISTER`,
    'Contact: <sip:dora@10.0.0.2:5062>',
    'Expires: 300',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

const phoneRegisters = (t: string) => t.startsWith('REGISTER') && header(t, 'call-id') === 'reg-dora';

test('a re-REGISTER over a flow found dead goes to the registrar, not to the cache', async () => {
  phone.send(register(1), port);
  registrar.send(registrarOk(await registrar.next(phoneRegisters)), port);
  assert.match(startLine(await phone.next((t) => t.startsWith('SIP/2.0 200'))), /^SIP\/2\.0 200/);

  // While the flow lives, a refresh is answered from the cache: the registrar sees nothing.
  phone.send(register(2), port);
  await phone.next((t) => t.startsWith('SIP/2.0 200') && header(t, 'cseq') === '2 REGISTER');
  assert.equal(await registrar.count(phoneRegisters), 0, 'the refresh did not reach the registrar');

  // The phone answers one keepalive, then goes silent: its flow dies and is unregistered.
  const ping = await phone.next((t) => t.startsWith('OPTIONS '), 5000);
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
  const unregister = await registrar.next(
    (t) => t.startsWith('REGISTER') && header(t, 'expires') === '0',
    10_000,
  );
  registrar.send(registrarOk(unregister), port);

  // The phone comes back on the same flow: the registrar must hear it, and its 2xx makes the flow live.
  phone.send(register(3), port);
  const forwarded = await registrar.next(
    (t) => phoneRegisters(t) && header(t, 'cseq') === '3 REGISTER',
    5000,
  );
  registrar.send(registrarOk(forwarded), port);
  await phone.next((t) => t.startsWith('SIP/2.0 200') && header(t, 'cseq') === '3 REGISTER');
  assert.equal(
    gateway.proxy.nat!.isDead({
      transport: 'udp',
      localAddress: '127.0.0.1',
      localPort: port,
      remoteAddress: '127.0.0.1',
      remotePort: phone.port,
    }),
    false,
  );
});

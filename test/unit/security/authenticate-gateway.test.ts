/**
 * sipwarden's own Digest authentication in a running gateway: real sockets on loopback, the
 * default stages with `authenticate` in local mode, users in the gateway's SQLite store. What the caller, the upstream and the
 * core see of a challenge, its ACK and the retry with credentials.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { authorizationValue, parseChallenge } from '../../../src/attack/digest.ts';
import { defaultConfig } from '../../../src/config/load-config.ts';
import type { SipwardenConfig } from '../../../src/config/schema.ts';
import { type Gateway, startGateway } from '../../../src/gateway.ts';
import { SqliteUserStore } from '../../../src/identity/users/user-store.ts';
import { silentLogger } from '../../../src/log/logger.ts';
import { storedUser } from '../../support/memory-users.ts';
import { header, headers, startLine, UdpPeer } from '../../support/udp-peer.ts';

const DOMAIN = 'pbx.example.com';
let seq = 0;

function config(upstreamPort: number): SipwardenConfig {
  const base = defaultConfig();
  return {
    ...base,
    listen: [{ host: '127.0.0.1', port: 0, transports: ['udp'] }],
    upstream: { host: '127.0.0.1', port: upstreamPort, transport: 'udp' },
    management: { ...base.management, enabled: false },
    events: { ...base.events, database: ':memory:' },
    security: { ...base.security, settings: { authenticate: { mode: 'local' } } },
  };
}

function invite(from: UdpPeer, callId: string, cseq: number, branch: string, extra: string[] = []): string {
  return [
    `INVITE sip:200@${DOMAIN} SIP/2.0`,
    `Via: SIP/2.0/UDP ${from.address}:${from.port};branch=${branch};rport`,
    'Max-Forwards: 70',
    `From: <sip:alice@${DOMAIN}>;tag=alice-${seq}`,
    `To: <sip:200@${DOMAIN}>`,
    `Call-ID: ${callId}`,
    `CSeq: ${cseq} INVITE`,
    `Contact: <sip:alice@${from.address}:${from.port}>`,
    'P-Asserted-Identity: <sip:ceo@pbx.example.com>',
    ...extra,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

/** The ACK for a non-2xx final answer: the INVITE's branch and CSeq number, the answer's To (RFC 3261 17.1.1.3). */
function ackFor(sentInvite: string, response: string): string {
  return [
    `ACK sip:200@${DOMAIN} SIP/2.0`,
    `Via: ${headers(sentInvite, 'via')[0]}`,
    'Max-Forwards: 70',
    `From: ${header(sentInvite, 'from')}`,
    `To: ${header(response, 'to')}`,
    `Call-ID: ${header(sentInvite, 'call-id')}`,
    `CSeq: ${header(sentInvite, 'cseq')!.split(' ')[0]} ACK`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

describe('local Digest authentication in the gateway', () => {
  let gateway: Gateway;
  let upstream: UdpPeer;
  let phone: UdpPeer;
  let port: number;

  before(async () => {
    upstream = await UdpPeer.bind();
    phone = await UdpPeer.bind();
    gateway = await startGateway(config(upstream.port), silentLogger);
    // The gateway's own user store (in its in-memory events database).
    assert.ok(gateway.users instanceof SqliteUserStore);
    gateway.users.add(storedUser({ user: 'alice', domain: DOMAIN, password: 'correct horse' }));
    port = gateway.listening().find((l) => l.transport === 'udp')!.port;
  });

  after(async () => {
    await gateway.close();
    upstream.close();
    phone.close();
  });

  test('challenged with 407, the ACK absorbed, the retry forwarded with P-Asserted-Identity and no credentials', async () => {
    seq++;
    const callId = `auth-${seq}@phone`;
    const first = invite(phone, callId, 1, `z9hG4bK-auth-${seq}-1`);
    phone.send(first, port);
    const challenge = await phone.next((t) => startLine(t).startsWith('SIP/2.0 407'));
    const values = headers(challenge, 'proxy-authenticate');
    assert.equal(values.length, 2);
    assert.match(values[0]!, /algorithm=SHA-256/);
    assert.match(values[1]!, /algorithm=MD5/);

    // The ACK of the 407 ends the INVITE transaction here: nothing reaches the upstream, and
    // it is no request for an unknown dialog.
    phone.send(ackFor(first, challenge), port);

    const md5 = parseChallenge(values[1]!)!;
    const credentials = authorizationValue(md5, {
      username: 'alice',
      password: 'correct horse',
      method: 'INVITE',
      uri: `sip:200@${DOMAIN}`,
      cnonce: 'abc123',
      nc: 1,
    });
    phone.send(
      invite(phone, callId, 2, `z9hG4bK-auth-${seq}-2`, [`Proxy-Authorization: ${credentials}`]),
      port,
    );
    const forwarded = await upstream.next((t) => startLine(t).startsWith('INVITE '));
    assert.equal(
      header(forwarded, 'cseq'),
      '2 INVITE',
      'the first thing the upstream sees is the authenticated INVITE',
    );
    assert.equal(header(forwarded, 'proxy-authorization'), undefined);
    assert.deepEqual(headers(forwarded, 'p-asserted-identity'), [`<sip:alice@${DOMAIN}>`]);
    assert.equal(await upstream.count((t) => startLine(t).startsWith('ACK ')), 0);
    assert.equal(gateway.proxy.stats.dialogRefusals, 0);
  });
});

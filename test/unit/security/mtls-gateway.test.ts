/**
 * Mutual TLS in a running gateway: `tls.requestClientCert` with a CA, `authenticate` in local
 * mode. A phone whose certificate the CA signed and names a user of the store is that user
 * without a challenge; one whose certificate the CA did not sign is challenged as any other.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect, type TLSSocket } from 'node:tls';
import { defaultConfig } from '../../../src/config/load-config.ts';
import { type Gateway, startGateway } from '../../../src/gateway.ts';
import { SqliteUserStore } from '../../../src/identity/users/user-store.ts';
import { silentLogger } from '../../../src/log/logger.ts';
import { generateSelfSignedCertificate } from '../../../src/transport/tls-cert.ts';
import { storedUser } from '../../support/memory-users.ts';
import { header, headers, startLine, UdpPeer } from '../../support/udp-peer.ts';

const DOMAIN = 'pbx.example.com';

type Pair = { cert: string; key: string };

function invite(callId: string, branch: string): string {
  return [
    `INVITE sip:200@${DOMAIN} SIP/2.0`,
    `Via: SIP/2.0/TLS 127.0.0.1:5061;branch=${branch}`,
    'Max-Forwards: 70',
    `From: <sip:alice@${DOMAIN}>;tag=${callId}`,
    `To: <sip:200@${DOMAIN}>`,
    `Call-ID: ${callId}`,
    'CSeq: 1 INVITE',
    `Contact: <sip:alice@127.0.0.1:5061;transport=tls>`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

/** The first SIP message the phone reads back over its connection. */
async function reply(socket: TLSSocket): Promise<string> {
  let text = '';
  for await (const chunk of socket) {
    text += (chunk as Buffer).toString('latin1');
    if (text.includes('\r\n\r\n')) return text;
  }
  return text;
}

describe('mutual TLS identities in the gateway', () => {
  let gateway: Gateway;
  let upstream: UdpPeer;
  let tlsPort: number;
  let server: Pair;
  let alice: Pair;
  let stranger: Pair;
  let dir: string;
  const sockets: TLSSocket[] = [];

  before(async () => {
    [server, alice, stranger] = await Promise.all([
      generateSelfSignedCertificate({ commonName: 'localhost', altNames: ['127.0.0.1'] }),
      generateSelfSignedCertificate({ commonName: `alice@${DOMAIN}` }),
      generateSelfSignedCertificate({ commonName: `alice@${DOMAIN}` }),
    ]);
    dir = mkdtempSync(join(tmpdir(), 'sipwarden-mtls-'));
    writeFileSync(join(dir, 'cert.pem'), server.cert);
    writeFileSync(join(dir, 'key.pem'), server.key);
    // The CA that signs the phones' certificates: here alice's own (self-signed) certificate.
    writeFileSync(join(dir, 'ca.pem'), alice.cert);
    upstream = await UdpPeer.bind();
    const base = defaultConfig();
    gateway = await startGateway(
      {
        ...base,
        // UDP too: the upstream is reached over UDP.
        listen: [{ host: '127.0.0.1', port: 0, transports: ['udp', 'tls'] }],
        upstream: { host: '127.0.0.1', port: upstream.port, transport: 'udp' },
        tls: {
          ...base.tls,
          cert: join(dir, 'cert.pem'),
          key: join(dir, 'key.pem'),
          ca: join(dir, 'ca.pem'),
          minVersion: 'TLSv1.2',
          verifyUpstream: true,
          requestClientCert: true,
        },
        management: { ...base.management, enabled: false },
        events: { ...base.events, database: ':memory:' },
        security: { ...base.security, settings: { authenticate: { mode: 'local' } } },
      },
      silentLogger,
    );
    assert.ok(gateway.users instanceof SqliteUserStore);
    gateway.users.add(storedUser({ user: 'alice', domain: DOMAIN, password: 'unused here' }));
    tlsPort = gateway.listening().find((l) => l.transport === 'tls')!.port;
  });

  after(async () => {
    for (const socket of sockets) socket.destroy();
    await gateway.close();
    upstream.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function phone(identity: Pair): Promise<TLSSocket> {
    const socket = connect({ host: '127.0.0.1', port: tlsPort, ca: server.cert, ...identity });
    sockets.push(socket);
    await once(socket, 'secureConnect');
    return socket;
  }

  test('a certificate the CA signed, naming a user, is that user: no challenge, P-Asserted-Identity to the PBX', async () => {
    const socket = await phone(alice);
    socket.write(invite('mtls-1', 'z9hG4bK-mtls-1'));
    const forwarded = await upstream.next((t) => startLine(t).startsWith('INVITE '));
    assert.equal(header(forwarded, 'call-id'), 'mtls-1');
    assert.deepEqual(headers(forwarded, 'p-asserted-identity'), [`<sip:alice@${DOMAIN}>`]);
  });

  test('a certificate the CA did not sign proves nothing: the INVITE is challenged', async () => {
    const socket = await phone(stranger);
    socket.write(invite('mtls-2', 'z9hG4bK-mtls-2'));
    assert.match(startLine(await reply(socket)), /^SIP\/2\.0 407 /);
    assert.equal(await upstream.count((t) => header(t, 'call-id') === 'mtls-2'), 0);
  });
});

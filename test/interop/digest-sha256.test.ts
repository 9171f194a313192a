/**
 * SHA-256 Digest (RFC 8760) checked against an implementation that is not sipwarden's:
 * Kamailio's auth + auth_db challenging with `algorithm=SHA-256` accepts the credentials
 * that sipwarden's Digest client (src/attack/digest.ts) computes, and sipwarden's own
 * authenticate stage, offering SHA-256 only, accepts the same client's answer to its
 * challenge: the client and the stage were written apart (src/identity/digest is the
 * stage's), so each side is checked against Kamailio's arithmetic through the client. A
 * wrong password is refused by both. sipp 3.6 has no SHA-256, hence a client of our own.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { authorizationValue, parseChallenge } from '../../src/attack/digest.ts';
import { defaultConfig } from '../../src/config/load-config.ts';
import { type Gateway, startGateway } from '../../src/gateway.ts';
import { SqliteUserStore } from '../../src/identity/users/user-store.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { storedUser } from '../support/memory-users.ts';
import { header, headers, startLine, UdpPeer } from '../support/udp-peer.ts';
import { type Kamailio, startKamailio } from './harness/kamailio.ts';
import { freePort } from './harness/ports.ts';
import { tempDir } from './harness/workdir.ts';

const REALM = 'sha.example.com';
const USER = 'carol';
const PASSWORD = 'a strong one';
let seq = 0;

function register(phone: UdpPeer, callId: string, extra: string[] = []): string {
  seq++;
  return [
    `REGISTER sip:${REALM} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${phone.port};branch=z9hG4bK-sha-${seq};rport`,
    'Max-Forwards: 70',
    `From: <sip:${USER}@${REALM}>;tag=sha-${seq}`,
    `To: <sip:${USER}@${REALM}>`,
    `Call-ID: ${callId}`,
    `CSeq: ${seq} REGISTER`,
    `Contact: <sip:${USER}@127.0.0.1:${phone.port}>`,
    'Expires: 300',
    ...extra,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

/**
 * REGISTER, the 401's SHA-256 challenge answered with `password` by sipwarden's client;
 * the status of the answer to the second REGISTER, or 'forwarded' when it reached the upstream.
 */
async function registerWith(
  phone: UdpPeer,
  upstream: UdpPeer,
  port: number,
  password: string,
): Promise<string> {
  // One Call-ID for the REGISTER and its retry: answers and forwards are told apart by it.
  const callId = `sha-${port}-${seq}@phone`;
  const ours = (t: string) => header(t, 'call-id') === callId;
  phone.send(register(phone, callId), port);
  const challenge = await phone.next((t) => ours(t) && startLine(t).startsWith('SIP/2.0 401'));
  const offered = headers(challenge, 'www-authenticate').map((v) => parseChallenge(v));
  const sha = offered.find((c) => c?.algorithm === 'SHA-256');
  assert.ok(sha, `a SHA-256 challenge: ${headers(challenge, 'www-authenticate').join(' | ')}`);
  const credentials = authorizationValue(sha, {
    username: USER,
    password,
    method: 'REGISTER',
    uri: `sip:${REALM}`,
    nc: 1,
  });
  phone.send(register(phone, callId, [`Authorization: ${credentials}`]), port);
  // Accepted: the REGISTER goes on to the upstream (which never answers). Refused: the
  // phone gets an answer. One wait after the other, so that no waiter outlives its call.
  try {
    await upstream.next((t) => ours(t) && startLine(t).startsWith('REGISTER '), 2000);
    return 'forwarded';
  } catch {
    return startLine(await phone.next((t) => ours(t) && /^SIP\/2\.0 [2-6]\d\d/.test(startLine(t))));
  }
}

describe('SHA-256 Digest against Kamailio and sipwarden', () => {
  let kamailio: Kamailio;
  let gateway: Gateway;
  let kamailioUpstream: UdpPeer;
  let gatewayUpstream: UdpPeer;
  let phone: UdpPeer;

  before(async () => {
    const dir = tempDir('digest-sha256');
    const db = join(dir, 'db');
    mkdirSync(db);
    const ha1 = createHash('sha256').update(`${USER}:${REALM}:${PASSWORD}`).digest('hex');
    writeFileSync(join(db, 'version'), 'table_name(string) table_version(int)\nsubscriber:7\n');
    writeFileSync(
      join(db, 'subscriber'),
      `id(int,auto) username(string) domain(string) password(string,null) ha1(string) ha1b(string,null)\n1:${USER}:${REALM}::${ha1}:\n`,
    );
    kamailioUpstream = await UdpPeer.bind();
    gatewayUpstream = await UdpPeer.bind();
    phone = await UdpPeer.bind();
    kamailio = await startKamailio({
      variant: 'proxy-auth',
      port: await freePort(),
      upstream: { host: '127.0.0.1', port: kamailioUpstream.port },
      defines: { DB_URL: `text://${db}`, REALM, ALGORITHM: 'SHA-256' },
    });
    const base = defaultConfig();
    gateway = await startGateway(
      {
        ...base,
        listen: [{ host: '127.0.0.1', port: 0, transports: ['udp'] }],
        upstream: { host: '127.0.0.1', port: gatewayUpstream.port, transport: 'udp' },
        management: { ...base.management, enabled: false },
        events: { ...base.events, database: ':memory:' },
        security: {
          ...base.security,
          settings: { authenticate: { mode: 'local', algorithms: ['SHA-256'] } },
        },
      },
      silentLogger,
    );
    assert.ok(gateway.users instanceof SqliteUserStore);
    gateway.users.add(storedUser({ user: USER, domain: REALM, password: PASSWORD }));
  });

  after(async () => {
    await gateway?.close();
    await kamailio?.stop();
    for (const peer of [phone, kamailioUpstream, gatewayUpstream]) peer?.close();
  });

  test("Kamailio accepts the SHA-256 credentials sipwarden's client computes, and refuses a wrong password", async () => {
    assert.equal(await registerWith(phone, kamailioUpstream, kamailio.port, PASSWORD), 'forwarded');
    assert.match(await registerWith(phone, kamailioUpstream, kamailio.port, 'wrong'), /^SIP\/2\.0 (401|403)/);
  });

  test('sipwarden, offering SHA-256 only, accepts the same client and refuses a wrong password', async () => {
    const port = gateway.listening().find((l) => l.transport === 'udp')!.port;
    assert.equal(await registerWith(phone, gatewayUpstream, port, PASSWORD), 'forwarded');
    assert.match(await registerWith(phone, gatewayUpstream, port, 'wrong'), /^SIP\/2\.0 401/);
  });
});

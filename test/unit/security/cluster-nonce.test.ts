/**
 * Digest nonces across the nodes of a cluster: two gateways with the same `state.secretFile`
 * accept each other's nonces (a phone challenged by one node can answer through the other),
 * two with secrets of their own do not (the answer is challenged again). Real sockets on
 * loopback, `authenticate` in local mode, the users in each gateway's own store.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { authorizationValue, parseChallenge } from '../../../src/attack/digest.ts';
import { defaultConfig } from '../../../src/config/load-config.ts';
import type { SipwardenConfig } from '../../../src/config/schema.ts';
import { type Gateway, startGateway } from '../../../src/gateway.ts';
import { SqliteUserStore } from '../../../src/identity/users/user-store.ts';
import { silentLogger } from '../../../src/log/logger.ts';
import { storedUser } from '../../support/memory-users.ts';
import { headers, startLine, UdpPeer } from '../../support/udp-peer.ts';

const DOMAIN = 'pbx.example.com';
const secretFile = join(mkdtempSync(join(tmpdir(), 'sw-nonce-')), 'cluster.secret');
writeFileSync(secretFile, `${'n'.repeat(48)}\n`, { mode: 0o600 });
const opened: { close(): unknown }[] = [];
after(async () => {
  for (const item of opened) await item.close();
});
let seq = 0;

function config(upstreamPort: number, shared: boolean): SipwardenConfig {
  const base = defaultConfig();
  return {
    ...base,
    listen: [{ host: '127.0.0.1', port: 0, transports: ['udp'] }],
    upstream: { host: '127.0.0.1', port: upstreamPort, transport: 'udp' },
    management: { ...base.management, enabled: false },
    events: { ...base.events, database: ':memory:' },
    security: { ...base.security, settings: { authenticate: { mode: 'local' } } },
    state: shared ? { ...base.state, secretFile } : base.state,
  };
}

function register(from: UdpPeer, callId: string, cseq: number, extra: string[] = []): string {
  return [
    `REGISTER sip:${DOMAIN} SIP/2.0`,
    `Via: SIP/2.0/UDP ${from.address}:${from.port};branch=z9hG4bK-nonce-${++seq};rport`,
    'Max-Forwards: 70',
    `From: <sip:alice@${DOMAIN}>;tag=alice-${seq}`,
    `To: <sip:alice@${DOMAIN}>`,
    `Call-ID: ${callId}`,
    `CSeq: ${cseq} REGISTER`,
    `Contact: <sip:alice@${from.address}:${from.port}>`,
    'Expires: 60',
    ...extra,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

async function node(upstream: UdpPeer, shared: boolean): Promise<number> {
  const gateway: Gateway = await startGateway(config(upstream.port, shared), silentLogger);
  opened.push(gateway);
  assert.ok(gateway.users instanceof SqliteUserStore);
  gateway.users.add(storedUser({ user: 'alice', domain: DOMAIN, password: 'correct horse' }));
  return gateway.listening().find((l) => l.transport === 'udp')!.port;
}

/** Challenged by `first`, answers through `second`: forwarded (true) or challenged again (false). */
async function answeredElsewhere(shared: boolean): Promise<boolean> {
  const upstream = await UdpPeer.bind();
  const phone = await UdpPeer.bind();
  opened.push(upstream, phone);
  const first = await node(upstream, shared);
  const second = await node(upstream, shared);
  const callId = `nonce-${shared}-${process.pid}@phone`;
  phone.send(register(phone, callId, 1), first);
  const challenge = await phone.next((t) => /^SIP\/2\.0 40[17]/.test(startLine(t)));
  const value = [...headers(challenge, 'www-authenticate'), ...headers(challenge, 'proxy-authenticate')].find(
    (v) => /algorithm=MD5/.test(v),
  );
  assert.ok(value, 'an MD5 challenge');
  const credentials = authorizationValue(parseChallenge(value)!, {
    username: 'alice',
    password: 'correct horse',
    method: 'REGISTER',
    uri: `sip:${DOMAIN}`,
    cnonce: 'c0ffee',
    nc: 1,
  });
  const name = /^SIP\/2\.0 401/.test(startLine(challenge)) ? 'Authorization' : 'Proxy-Authorization';
  phone.send(register(phone, callId, 2, [`${name}: ${credentials}`]), second);
  const outcome = await Promise.race([
    upstream.next((t) => startLine(t).startsWith('REGISTER ')).then(() => true),
    phone.next((t) => /^SIP\/2\.0 40[17]/.test(startLine(t)) && t.includes('CSeq: 2')).then(() => false),
  ]);
  return outcome;
}

test('a nonce issued by one node verifies on another with the same secret file', async () => {
  assert.equal(await answeredElsewhere(true), true);
});

test('the control: nodes with secrets of their own challenge each other’s answers again', async () => {
  assert.equal(await answeredElsewhere(false), false);
});

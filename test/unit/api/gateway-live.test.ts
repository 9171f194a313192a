/**
 * The gateway feeds the console's live stream with its own counters: messages received,
 * forwarded upstream and refused by sipwarden itself show as rates in the next `stats`.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { test } from 'node:test';
import type { LiveStats } from '../../../src/api/live-route.ts';
import { startGateway } from '../../../src/gateway.ts';
import { silentLogger } from '../../../src/log/logger.ts';
import { coreConfig } from '../../support/core-gateway.ts';
import { startLine, UdpPeer } from '../../support/udp-peer.ts';

function message(method: string, peer: UdpPeer, n: number, maxForwards: number): string {
  return [
    `${method} sip:200@pbx.example.com SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${peer.port};branch=z9hG4bK-live-${method}-${n};rport`,
    `Max-Forwards: ${maxForwards}`,
    `From: <sip:100@pbx.example.com>;tag=t${n}`,
    'To: <sip:200@pbx.example.com>',
    `Call-ID: live-${method}-${n}`,
    `CSeq: 1 ${method}`,
    `Contact: <sip:100@127.0.0.1:${peer.port}>`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

test('GET /api/live rates follow what the gateway receives, forwards and refuses', async (t) => {
  const upstream = await UdpPeer.bind();
  const phone = await UdpPeer.bind();
  const base = coreConfig(upstream.port);
  const gateway = await startGateway(
    { ...base, management: { ...base.management, enabled: true, host: '127.0.0.1', port: 0 } },
    silentLogger,
  );
  t.after(async () => {
    await gateway.close();
    upstream.close();
    phone.close();
  });
  const sipPort = gateway.listening().find((l) => l.transport === 'udp')!.port;
  const { port } = gateway.managementAddress!;
  const token = gateway.management.access.store.createToken({
    name: 'live',
    role: 'viewer',
    createdBy: 'test',
  }).token;

  const seen = await new Promise<LiveStats[]>((resolve, reject) => {
    const stats: LiveStats[] = [];
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`no moving figures in 10 s: ${JSON.stringify(stats)}`));
    }, 10_000);
    const req = request(
      { host: '127.0.0.1', port, path: '/api/live', headers: { authorization: `Bearer ${token}` } },
      (res) => {
        assert.equal(res.statusCode, 200);
        let buffered = '';
        let sent = false;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffered += chunk;
          for (let end = buffered.indexOf('\n\n'); end !== -1; end = buffered.indexOf('\n\n')) {
            const block = buffered.slice(0, end);
            buffered = buffered.slice(end + 2);
            const data = /^event: stats\ndata: (.*)$/m.exec(block)?.[1];
            if (data !== undefined) stats.push(JSON.parse(data) as LiveStats);
          }
          if (!sent && stats.length > 0) {
            sent = true;
            // Three forwarded upstream, two refused by the core itself (483, RFC 3261 16.3).
            for (let n = 1; n <= 3; n++) phone.send(message('OPTIONS', phone, n, 70), sipPort);
            for (let n = 1; n <= 2; n++) phone.send(message('INVITE', phone, n, 0), sipPort);
          }
          const last = stats[stats.length - 1];
          if (last !== undefined && (last.messagesPerSecond.refused ?? 0) > 0) {
            clearTimeout(timer);
            req.destroy();
            resolve(stats);
          }
        });
      },
    );
    req.on('error', (error) => {
      if (!req.destroyed) reject(error);
    });
    req.end();
  });
  assert.equal(
    startLine(await phone.next((text) => text.includes('live-INVITE-1'))),
    'SIP/2.0 483 Too Many Hops',
  );
  // The five may straddle two seconds: each figure moved in one of them.
  const moved = (name: string) => seen.some((one) => (one.messagesPerSecond[name] ?? 0) > 0);
  assert.ok(moved('received') && moved('forwarded') && moved('refused'), JSON.stringify(seen));
  assert.equal(moved('dropped'), false);
  const moving = seen[seen.length - 1]!;
  assert.equal(moving.calls, 0);
  assert.equal(moving.registrations, null);
  assert.equal(moving.blockedSources, 0);
});

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { SipwardenConfig } from '../../../src/config/schema.ts';
import { type Gateway, startGateway } from '../../../src/gateway.ts';
import { silentLogger } from '../../../src/log/logger.ts';
import { coreConfig } from '../../support/core-gateway.ts';
import { answer, header, startLine, UdpPeer } from '../../support/udp-peer.ts';

let a: UdpPeer;
let b: UdpPeer;
let client: UdpPeer;
let seq = 0;

type Health = Partial<SipwardenConfig['upstreamHealth']>;

/** sipwarden with two upstreams, a (priority 1) and b (priority 2), and the given routes and health. */
async function start(
  options: { health?: Health; routes?: SipwardenConfig['upstreamRoutes']; samePriority?: boolean } = {},
): Promise<{ gateway: Gateway; port: number }> {
  const base = coreConfig(5080);
  const config: SipwardenConfig = {
    ...base,
    upstream: { host: '127.0.0.1', port: 5080, transport: 'udp' },
    upstreams: [
      { name: 'a', host: '127.0.0.1', port: a.port, transport: 'udp', priority: 1, weight: 1 },
      {
        name: 'b',
        host: '127.0.0.1',
        port: b.port,
        transport: 'udp',
        priority: options.samePriority ? 1 : 2,
        weight: 1,
      },
    ],
    ...(options.routes === undefined ? {} : { upstreamRoutes: options.routes }),
    // No pings unless a test asks for them: the peers here answer only what a test tells them to.
    upstreamHealth: { ...base.upstreamHealth, enabled: false, failoverAfterMs: 300, ...options.health },
  };
  const gateway = await startGateway(config, silentLogger);
  return { gateway, port: gateway.listening().find((l) => l.transport === 'udp')!.port };
}

function request(method: string, uri: string, extra: string[] = []): { text: string; callId: string } {
  seq++;
  const callId = `upstreams-${seq}@client.example`;
  const text = [
    `${method} ${uri} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${client.port};branch=z9hG4bK-up-${seq};rport`,
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
  return { text, callId };
}

const call = (callId: string, method?: string) => (text: string) =>
  header(text, 'call-id') === callId && (method === undefined || startLine(text).startsWith(method));
const isOptions = (text: string) => startLine(text).startsWith('OPTIONS ');

describe('several upstreams', () => {
  before(async () => {
    a = await UdpPeer.bind();
    b = await UdpPeer.bind();
    client = await UdpPeer.bind();
  });
  after(() => {
    a.close();
    b.close();
    client.close();
  });

  test('the route table chooses the upstream by user prefix and by domain', async () => {
    const { gateway, port } = await start({
      samePriority: true,
      routes: [
        { userPrefix: '+', upstreams: ['b'] },
        { domain: '*.pbx.example.com', upstreams: ['a'] },
      ],
    });
    try {
      for (let i = 0; i < 5; i++) {
        const number = request('INVITE', 'sip:+4930123@anything.example');
        client.send(number.text, port);
        await b.next(call(number.callId, 'INVITE'));
        const extension = request('INVITE', 'sip:200@eu.pbx.example.com');
        client.send(extension.text, port);
        await a.next(call(extension.callId, 'INVITE'));
      }
      assert.equal(a.received.filter((m) => startLine(m.text).startsWith('INVITE sip:+')).length, 0);
      assert.equal(b.received.filter((m) => startLine(m.text).startsWith('INVITE sip:200')).length, 0);
    } finally {
      await gateway.close();
    }
  });

  test('a 503 fails the new request over to the next upstream; the caller never sees it', async () => {
    const { gateway, port } = await start();
    try {
      const { text, callId } = request('INVITE', 'sip:alice@pbx.example.com');
      client.send(text, port);
      const atA = await a.next(call(callId, 'INVITE'));
      a.send(answer(atA, 503, 'Service Unavailable', ['Retry-After: 60']), port);
      // a gets its ACK (RFC 3261 17.1.1.3), b the request on a new branch.
      const ack = await a.next(call(callId, 'ACK'));
      assert.ok(ack);
      const atB = await b.next(call(callId, 'INVITE'));
      assert.notEqual(header(atB, 'via'), header(atA, 'via'));
      b.send(answer(atB, 200, 'OK', [`Contact: <sip:alice@127.0.0.1:${b.port}>`]), port);
      const final = await client.next((t) => call(callId)(t) && !startLine(t).includes(' 100 '));
      assert.equal(startLine(final), 'SIP/2.0 200 OK');
      assert.equal(await client.count((t) => call(callId)(t) && startLine(t).includes('503')), 0);

      // Retry-After: a is down for a minute, so the next call goes straight to b.
      const next = request('INVITE', 'sip:alice@pbx.example.com');
      client.send(next.text, port);
      await b.next(call(next.callId, 'INVITE'));
      assert.equal(await a.count(call(next.callId)), 0);
      // The change is an event of its own.
      gateway.flushEvents();
      const events = gateway.management.store.query({ type: 'upstream' });
      assert.ok(
        events.some((e) => e.rule === 'upstream-down' && String(e.details?.upstream) === 'a'),
        JSON.stringify(events),
      );
      const metrics = await gateway.management.metrics.text();
      assert.match(metrics, /sipwarden_upstream_failovers_total 1\b/);
      assert.match(metrics, /sipwarden_upstream_up\{upstream="a",target="udp:127\.0\.0\.1:\d+"\} 0/);
    } finally {
      await gateway.close();
    }
  });

  test('a new request with no answer at all fails over after failoverAfterMs', async () => {
    const { gateway, port } = await start();
    try {
      const { text, callId } = request('INVITE', 'sip:alice@pbx.example.com');
      client.send(text, port);
      await a.next(call(callId, 'INVITE'));
      // a stays silent; b gets the INVITE.
      const atB = await b.next(call(callId, 'INVITE'), 5000);
      b.send(answer(atB, 486, 'Busy Here'), port);
      const final = await client.next((t) => call(callId)(t) && !startLine(t).includes(' 100 '));
      assert.equal(startLine(final), 'SIP/2.0 486 Busy Here');
    } finally {
      await gateway.close();
    }
  });

  test('a final answer other than 503 goes to the caller: no failover after a final answer', async () => {
    const { gateway, port } = await start();
    try {
      const { text, callId } = request('INVITE', 'sip:alice@pbx.example.com');
      client.send(text, port);
      const atA = await a.next(call(callId, 'INVITE'));
      a.send(answer(atA, 486, 'Busy Here'), port);
      const final = await client.next((t) => call(callId)(t) && !startLine(t).includes(' 100 '));
      assert.equal(startLine(final), 'SIP/2.0 486 Busy Here');
      assert.equal(await b.count(call(callId), 600), 0);
    } finally {
      await gateway.close();
    }
  });

  test('health checks: unanswered OPTIONS take an upstream down, answers bring it back', async () => {
    const { gateway, port } = await start({
      health: { enabled: true, intervalMs: 100, timeoutMs: 100, downAfter: 2, upAfter: 1 },
    });
    try {
      // b answers its pings all along; a does not.
      let answering = false;
      const answerPings = setInterval(() => {
        for (const peer of answering ? [a, b] : [b]) {
          for (let i = peer.received.length - 1; i >= 0; i--) {
            const text = peer.received[i]!.text;
            if (!isOptions(text)) continue;
            peer.received.splice(i, 1);
            peer.send(answer(text, 200, 'OK'), port);
          }
        }
      }, 20);
      try {
        await a.next(isOptions);
        await a.next(isOptions);
        // Two misses: down. Wait for the third ping to be sure the second timed out.
        await a.next(isOptions);
        await new Promise((resolve) => setTimeout(resolve, 150));
        const first = request('INVITE', 'sip:alice@pbx.example.com');
        client.send(first.text, port);
        await b.next(call(first.callId, 'INVITE'));
        assert.equal(a.received.filter((m) => call(first.callId)(m.text)).length, 0);
        // a answers again: up after one answer; new calls go to a (priority 1) again.
        answering = true;
        let backOnA = false;
        for (let i = 0; i < 50 && !backOnA; i++) {
          await new Promise((resolve) => setTimeout(resolve, 100));
          const probe = request('OPTIONS', 'sip:alice@pbx.example.com');
          client.send(probe.text, port);
          backOnA = await a.next(call(probe.callId, 'OPTIONS'), 300).then(
            () => true,
            () => false,
          );
        }
        assert.ok(backOnA, 'a took new requests again once it answered its pings');
        gateway.flushEvents();
        const rules = gateway.management.store.query({ type: 'upstream' }).map((e) => e.rule);
        assert.ok(rules.includes('upstream-down') && rules.includes('upstream-up'), rules.join(','));
      } finally {
        clearInterval(answerPings);
      }
    } finally {
      await gateway.close();
    }
  });

  test('requests from any upstream address are from the trusted side', async () => {
    const { gateway, port } = await start();
    try {
      // From b's address: routed as the upstream's (by our Route entry, which it lacks: 404);
      // from a client: forwarded to an upstream.
      seq++;
      const fromB = [
        `INVITE sip:bob@127.0.0.1:${client.port} SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:${b.port};branch=z9hG4bK-fromb-${seq};rport`,
        'Max-Forwards: 70',
        'From: <sip:alice@pbx.example.com>;tag=b-1',
        'To: <sip:bob@client.example>',
        `Call-ID: fromb-${seq}@pbx`,
        'CSeq: 1 INVITE',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n');
      b.send(fromB, port);
      const refused = await b.next(
        (t) => header(t, 'call-id') === `fromb-${seq}@pbx` && !t.includes(' 100 '),
      );
      assert.equal(startLine(refused), 'SIP/2.0 404 No Route To Destination');
      assert.equal(await a.count((t) => header(t, 'call-id') === `fromb-${seq}@pbx`), 0);
    } finally {
      await gateway.close();
    }
  });

  test('a request inside a dialog goes to the upstream its Request-URI names, not by priority', async () => {
    const { gateway, port } = await start();
    try {
      // The call lands on b (a answered 503 without Retry-After: a stays up, first by priority).
      const invite = request('INVITE', 'sip:alice@pbx.example.com');
      client.send(invite.text, port);
      const atA = await a.next(call(invite.callId, 'INVITE'));
      a.send(answer(atA, 503, 'Service Unavailable'), port);
      const atB = await b.next(call(invite.callId, 'INVITE'));
      b.send(answer(atB, 200, 'OK', [`Contact: <sip:alice@127.0.0.1:${b.port}>`]), port);
      const ok = await client.next((t) => call(invite.callId)(t) && startLine(t) === 'SIP/2.0 200 OK');
      const routes = ok
        .split('\r\n')
        .filter((line) => line.toLowerCase().startsWith('record-route:'))
        .map((line) => `Route: ${line.slice(line.indexOf(':') + 1).trim()}`);
      const inDialog = (method: string, cseq: number) =>
        [
          `${method} sip:alice@127.0.0.1:${b.port} SIP/2.0`,
          `Via: SIP/2.0/UDP 127.0.0.1:${client.port};branch=z9hG4bK-dlg-${seq}-${method};rport`,
          'Max-Forwards: 70',
          'From: <sip:bob@client.example>;tag=from-1',
          `To: ${header(ok, 'to')}`,
          `Call-ID: ${invite.callId}`,
          `CSeq: ${cseq} ${method}`,
          ...routes,
          'Content-Length: 0',
          '',
          '',
        ].join('\r\n');
      client.send(inDialog('ACK', 1), port);
      await b.next(call(invite.callId, 'ACK'));
      client.send(inDialog('BYE', 2), port);
      await b.next(call(invite.callId, 'BYE'));
      assert.equal(await a.count(call(invite.callId, 'BYE')), 0);
    } finally {
      await gateway.close();
    }
  });
});

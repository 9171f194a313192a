import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { defaultConfig } from '../../../src/config/load-config.ts';
import { createAdmission } from '../../../src/core/admission/admission.ts';
import { peekKind } from '../../../src/core/admission/peek.ts';
import { UpstreamBudget } from '../../../src/core/admission/upstream-budget.ts';
import { type Gateway, startGateway } from '../../../src/gateway.ts';
import { silentLogger } from '../../../src/log/logger.ts';
import { DEFAULT_UDP_LIMITS } from '../../../src/sip/limits.ts';
import type { SipRequest } from '../../../src/sip/message.ts';
import { parseMessage } from '../../../src/sip/parse.ts';
import type { Flow } from '../../../src/transport/types.ts';
import { answer, header, headers, startLine, UdpPeer } from '../../support/udp-peer.ts';

let seq = 0;

function request(
  method: string,
  options: { toTag?: string; viaPort?: number; compactTo?: boolean } = {},
): string {
  seq++;
  const to = `<sip:alice@pbx.example.com>${options.toTag ? `;tag=${options.toTag}` : ''}`;
  return [
    `${method} sip:alice@pbx.example.com SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${options.viaPort ?? 5060};branch=z9hG4bK-adm-${seq};rport`,
    'Max-Forwards: 70',
    `From: <sip:bob@client.example>;tag=f${seq}`,
    options.compactTo ? `t: ${to}` : `To: ${to}`,
    `Call-ID: adm-${seq}@client.example`,
    `CSeq: 1 ${method}`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

function parsed(text: string): SipRequest {
  const result = parseMessage(Buffer.from(text, 'latin1'), DEFAULT_UDP_LIMITS);
  assert.ok(result.ok && result.message.kind === 'request');
  return result.message;
}

const flowFrom = (address: string, transport: Flow['transport'] = 'udp'): Flow => ({
  transport,
  remoteAddress: address,
  remotePort: 5060,
  localAddress: '127.0.0.1',
  localPort: 5060,
});

/** An admission that has seen work of this age for a whole second (a response every 100 ms); its clock then stops. */
function primed(settings: Parameters<typeof createAdmission>[0], age: number) {
  let clock = 0;
  const admission = createAdmission(
    settings,
    undefined,
    () => age,
    () => clock,
  );
  for (let i = 0; i <= 10; i++, clock += 100) {
    admission.admitPacket(flowFrom('127.0.0.1'), Buffer.from('SIP/2.0 200 OK\r\n\r\n'), 'upstream');
  }
  return admission;
}

describe('the upstream budget', () => {
  test('admits at most the budget in any second, and low priority only its share', () => {
    const budget = new UpstreamBudget(10, 50);
    const admitted = (high: boolean, now: number, n: number) => {
      let count = 0;
      for (let i = 0; i < n; i++) if (budget.take(high, now)) count++;
      return count;
    };
    assert.equal(admitted(false, 0, 20), 5, 'low priority: half the budget');
    assert.equal(admitted(true, 100, 20), 5, 'high priority: the rest');
    assert.equal(admitted(true, 999, 5), 0, 'still within the second');
    assert.equal(budget.inLastSecond(999), 10);
    // The five low admissions at 0 leave the window at 1000; those at 100 stay until 1100.
    assert.equal(admitted(false, 1000, 20), 0, 'the low share is full again: 5 still in the window');
    assert.equal(admitted(true, 1000, 20), 5);
    assert.equal(admitted(true, 1099, 20), 0);
    assert.equal(admitted(false, 1100, 20), 0, 'the five at 1000 fill the low share');
    assert.equal(admitted(true, 1100, 20), 5);
  });
});

describe('peeking at a datagram before parsing', () => {
  test('tells responses, requests under way and new requests apart', () => {
    const kind = (text: string) => peekKind(Buffer.from(text, 'latin1'));
    assert.equal(kind('SIP/2.0 200 OK\r\nVia: x\r\n\r\n'), 'response');
    assert.equal(kind(request('ACK')), 'ongoing');
    assert.equal(kind(request('CANCEL')), 'ongoing');
    assert.equal(kind(request('BYE', { toTag: 'abc' })), 'ongoing');
    assert.equal(kind(request('INVITE', { toTag: 'abc', compactTo: true })), 'ongoing');
    assert.equal(kind(request('INVITE').replace('To:', 'TO :')), 'new');
    assert.equal(kind(request('INVITE', { toTag: 'x' }).replace('To:', 'tO :')), 'ongoing');
    assert.equal(kind(request('INVITE')), 'new');
    assert.equal(kind(request('REGISTER')), 'new');
    // A tag on the From header is not a To tag.
    assert.equal(kind(request('OPTIONS')), 'new');
  });
});

describe('admission by the age of work', () => {
  const preferred = new Set(['127.0.0.9']);
  let age = 0;
  let clock = 0;
  const admission = createAdmission(
    { maxWorkAgeMs: 100, answersPerSecond: 2 },
    { isPreferred: (address) => preferred.has(address) },
    () => age,
    () => clock,
  );
  const admit = (text: string, from = '127.0.0.1', direction: 'client' | 'upstream' = 'client') =>
    admission.admitPacket(flowFrom(from), Buffer.from(text, 'latin1'), direction);
  /** Work of this age keeps arriving for a whole second (a message every 100 ms from the upstream). */
  const hold = (value: number) => {
    age = value;
    for (let i = 0; i <= 10; i++) {
      clock += 100;
      admit('SIP/2.0 200 OK\r\n\r\n', '127.0.0.1', 'upstream');
    }
  };

  test('sheds untrusted new requests first, requests under way later, preferred sources last', () => {
    hold(99);
    assert.equal(admit(request('INVITE')), 'admit');
    hold(150);
    assert.equal(admit(request('INVITE')), 'reject', 'fresh enough for a 503');
    assert.equal(admit(request('BYE', { toTag: 't' })), 'admit');
    assert.equal(admit(request('INVITE'), '127.0.0.9'), 'admit', 'an allowlisted or trusted source');
    assert.equal(admit('SIP/2.0 200 OK\r\n\r\n', '127.0.0.1', 'upstream'), 'admit');
    hold(250);
    assert.equal(admit(request('BYE', { toTag: 't' })), 'admit', 'under T1: not retransmitted yet');
    assert.equal(admit(request('INVITE'), '127.0.0.9'), 'admit');
    assert.equal(admit(request('REGISTER'), '127.0.0.1', 'upstream'), 'admit');
    hold(600);
    assert.equal(admit(request('INVITE')), 'drop', 'older than T1: its retransmission is on its way');
    assert.equal(admit(request('BYE', { toTag: 't' })), 'drop');
    assert.equal(admit(request('INVITE'), '127.0.0.9'), 'admit');
    hold(33_000);
    assert.equal(admit(request('INVITE'), '127.0.0.9'), 'drop', 'older than any transaction');
  });

  test('a source whose call the upstream accepted keeps its new requests until work under way is shed', () => {
    hold(150);
    assert.equal(admit(request('INVITE'), '127.0.0.5'), 'reject', 'never served: shed first');
    admission.served('127.0.0.5');
    assert.equal(admit(request('INVITE'), '127.0.0.5'), 'admit');
    assert.equal(admit(request('REGISTER'), '127.0.0.5'), 'admit');
    assert.notEqual(admit(request('INVITE'), '127.0.0.6'), 'admit', 'another address is not served');
    hold(600);
    assert.equal(admit(request('INVITE'), '127.0.0.5'), 'drop', 'past T1 it goes with the work under way');
  });

  test('a stall is not a standing queue: nothing is shed while the age fell below the threshold within the second', () => {
    hold(0);
    age = 450;
    clock += 100;
    // One slot of old work after a second of fresh work: the queue drained a moment ago.
    assert.equal(admit(request('INVITE')), 'admit');
    clock += 300;
    assert.equal(admit(request('INVITE')), 'admit');
    // Once the whole window saw nothing younger, it is overload.
    hold(450);
    assert.equal(admit(request('INVITE')), 'reject');
  });

  test('answers at most answersPerSecond shed requests; the rest are dropped', () => {
    const quiet = primed({ maxWorkAgeMs: 100, answersPerSecond: 2 }, 150);
    const verdicts = Array.from({ length: 5 }, () =>
      quiet.admitPacket(flowFrom('127.0.0.1'), Buffer.from(request('INVITE'), 'latin1'), 'client'),
    );
    assert.deepEqual(verdicts, ['reject', 'reject', 'drop', 'drop', 'drop']);
  });

  test('over a stream a shed request is answered whatever its age: nothing retransmits it', () => {
    const streams = primed({ maxWorkAgeMs: 100 }, 900);
    assert.equal(
      streams.admitPacket(flowFrom('127.0.0.1', 'tcp'), Buffer.from(request('INVITE'), 'latin1'), 'client'),
      'reject',
    );
  });
});

describe('admission of new transactions: the transaction table under pressure', () => {
  test('untrusted new requests may fill only their share; in-dialog, preferred and upstream requests the rest', () => {
    const admission = createAdmission({ untrustedPercent: 80 }, { isPreferred: (a) => a === '127.0.0.9' });
    const untrusted = flowFrom('127.0.0.1');
    const refusal = admission.admitTransaction(parsed(request('INVITE')), untrusted, 'client', 8, 10);
    assert.equal(refusal?.code, 'transaction-table');
    assert.equal(
      admission.admitTransaction(parsed(request('INVITE')), untrusted, 'client', 7, 10),
      undefined,
    );
    assert.equal(
      admission.admitTransaction(parsed(request('BYE', { toTag: 't' })), untrusted, 'client', 9, 10),
      undefined,
    );
    assert.equal(
      admission.admitTransaction(parsed(request('INVITE')), flowFrom('127.0.0.9'), 'client', 9, 10),
      undefined,
    );
    assert.equal(
      admission.admitTransaction(parsed(request('INVITE')), untrusted, 'upstream', 9, 10),
      undefined,
    );
    assert.equal(
      admission.admitTransaction(parsed(request('BYE', { toTag: 't' })), untrusted, 'client', 10, 10)?.code,
      'transaction-table',
    );
  });
});

describe('admission in the running proxy', () => {
  let gateway: Gateway;
  let upstream: UdpPeer;
  let untrusted: UdpPeer;
  let allowlisted: UdpPeer;
  let port: number;
  let age = 0;
  let clock = 5000;

  before(async () => {
    upstream = await UdpPeer.bind();
    untrusted = await UdpPeer.bind('127.0.0.1');
    allowlisted = await UdpPeer.bind('127.0.0.2');
    const base = defaultConfig();
    gateway = await startGateway(
      {
        ...base,
        listen: [{ host: '127.0.0.1', port: 0, transports: ['udp'] }],
        upstream: { host: '127.0.0.1', port: upstream.port, transport: 'udp' },
        management: { ...base.management, enabled: false },
        events: { ...base.events, database: ':memory:' },
        security: { ...base.security, enabled: false, allowlist: ['127.0.0.2'] },
        overload: {
          ...base.overload,
          maxWorkAgeMs: 100,
          upstreamRequestsPerSecond: 10,
          untrustedPercent: 50,
        },
      },
      silentLogger,
      // The clock moves only when the test says: every request of the budget test falls in the same second.
      { workAgeMs: () => age, admissionClock: () => clock },
    );
    port = gateway.listening().find((l) => l.transport === 'udp')!.port;
  });

  after(async () => {
    await gateway.close();
    for (const peer of [upstream, untrusted, allowlisted]) peer.close();
  });

  const sameCall = (sent: string) => (text: string) => header(text, 'call-id') === header(sent, 'call-id');
  /** Work of this age keeps arriving for a whole second: the allowlisted peer's OPTIONS to sipwarden every 100 ms. */
  const hold = async (value: number) => {
    age = value;
    for (let i = 0; i <= 10; i++) {
      clock += 100;
      const ping = request('OPTIONS', { viaPort: allowlisted.port }).replace(
        'sip:alice@pbx.example.com',
        `sip:127.0.0.1:${port}`,
      );
      allowlisted.send(ping, port);
      await allowlisted.next(sameCall(ping));
    }
  };

  test('old work from an untrusted source gets 503 with Retry-After and never reaches the upstream', async () => {
    await hold(150);
    const sent = request('REGISTER', { viaPort: untrusted.port });
    untrusted.send(sent, port);
    const reply = await untrusted.next(sameCall(sent));
    assert.equal(startLine(reply), 'SIP/2.0 503 Service Unavailable');
    assert.equal(header(reply, 'retry-after'), '5');
    // Older than T1: dropped unanswered; the allowlisted peer still goes through.
    await hold(600);
    const dropped = request('REGISTER', { viaPort: untrusted.port });
    untrusted.send(dropped, port);
    const peer = request('REGISTER', { viaPort: allowlisted.port });
    allowlisted.send(peer, port);
    await upstream.next(sameCall(peer));
    await hold(0);
    const marker = request('OPTIONS', { viaPort: untrusted.port }).replace(
      'sip:alice@pbx.example.com',
      `sip:127.0.0.1:${port}`,
    );
    untrusted.send(marker, port);
    await untrusted.next(sameCall(marker));
    assert.equal(untrusted.received.filter((m) => sameCall(dropped)(m.text)).length, 0);
    assert.equal(
      upstream.received.filter((m) => sameCall(sent)(m.text) || sameCall(dropped)(m.text)).length,
      0,
    );
  });

  test('a retransmission of a request already forwarded is absorbed, not answered 503, while new work is shed by age', async () => {
    await hold(0);
    clock += 2000;
    const invite = request('INVITE', { viaPort: untrusted.port });
    untrusted.send(invite, port);
    const forwarded = await upstream.next(sameCall(invite));
    await hold(150);
    // The caller retransmits its INVITE, then sends a new request: the new one is shed (503),
    // and the socket is read in order, so the retransmission was handled before it.
    untrusted.send(invite, port);
    const fresh = request('REGISTER', { viaPort: untrusted.port });
    untrusted.send(fresh, port);
    assert.equal(startLine(await untrusted.next(sameCall(fresh))), 'SIP/2.0 503 Service Unavailable');
    await hold(0);
    upstream.send(answer(forwarded, 200, 'OK'), port);
    await untrusted.next((text) => sameCall(invite)(text) && startLine(text) === 'SIP/2.0 200 OK');
    const finals = untrusted.received
      .filter((m) => sameCall(invite)(m.text) && !startLine(m.text).startsWith('SIP/2.0 1'))
      .map((m) => startLine(m.text));
    assert.deepEqual(finals, [], "the INVITE got one final answer, the upstream's 200");
  });

  test('a caller whose call the upstream accepted (its ACK matched the dialog) is shed after sources never served', async () => {
    const caller = await UdpPeer.bind('127.0.0.3');
    const stranger = await UdpPeer.bind('127.0.0.4');
    try {
      await hold(0);
      clock += 2000;
      const invite = request('INVITE', { viaPort: caller.port });
      caller.send(invite, port);
      const forwarded = await upstream.next(sameCall(invite));
      upstream.send(answer(forwarded, 200, 'OK', [`Contact: <sip:pbx@127.0.0.1:${upstream.port}>`]), port);
      const ok = await caller.next((text) => sameCall(invite)(text) && startLine(text) === 'SIP/2.0 200 OK');
      const ack = [
        `ACK sip:pbx@127.0.0.1:${upstream.port} SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.3:${caller.port};branch=z9hG4bK-adm-ack-${seq}`,
        ...headers(ok, 'record-route').map((route) => `Route: ${route}`),
        'Max-Forwards: 70',
        `From: ${header(ok, 'from')}`,
        `To: ${header(ok, 'to')}`,
        `Call-ID: ${header(ok, 'call-id')}`,
        'CSeq: 1 ACK',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n');
      caller.send(ack, port);
      await upstream.next((text) => sameCall(invite)(text) && startLine(text).startsWith('ACK '));
      await hold(150);
      const next = request('INVITE', { viaPort: caller.port });
      caller.send(next, port);
      await upstream.next(sameCall(next));
      const unknown = request('INVITE', { viaPort: stranger.port });
      stranger.send(unknown, port);
      assert.equal(startLine(await stranger.next(sameCall(unknown))), 'SIP/2.0 503 Service Unavailable');
      assert.equal(
        caller.received.some((m) => sameCall(next)(m.text) && startLine(m.text).startsWith('SIP/2.0 503')),
        false,
      );
      await hold(0);
    } finally {
      caller.close();
      stranger.close();
    }
  });

  test('the upstream gets at most its budget of new requests; untrusted ones only their share', async () => {
    clock += 2000;
    upstream.received.length = 0;
    // A new second (the REGISTERs above are out of it): 10 new requests, 5 of them for untrusted sources.
    const flood = Array.from({ length: 20 }, () => request('REGISTER', { viaPort: untrusted.port }));
    for (const r of flood) untrusted.send(r, port);
    const replies = await Promise.all(
      flood.map((r) => untrusted.next(sameCall(r), 1000).catch(() => 'none')),
    );
    const forwarded = flood.filter((r) => upstream.received.some((m) => sameCall(r)(m.text)));
    const refused = replies.filter((r) => r.startsWith('SIP/2.0 503 '));
    // Forwarded requests get no answer here (the upstream does not answer): they time out in `next`.
    assert.equal(
      forwarded.length + refused.length,
      20,
      `${forwarded.length} forwarded, ${refused.length} refused`,
    );
    assert.equal(forwarded.length, 5, 'the untrusted share: 5 of 10');
    const peers = Array.from({ length: 8 }, () => request('REGISTER', { viaPort: allowlisted.port }));
    for (const r of peers) allowlisted.send(r, port);
    await Promise.all(peers.map((r) => allowlisted.next(sameCall(r), 1000).catch(() => 'none')));
    const peersForwarded = peers.filter((r) => upstream.received.some((m) => sameCall(r)(m.text)));
    assert.equal(peersForwarded.length, 5, 'the allowlisted peer fills the rest of the budget, and no more');
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ManagementClient } from '../../../src/api/client.ts';
import { defaultConfig } from '../../../src/config/load-config.ts';
import type { SipwardenConfig } from '../../../src/config/schema.ts';
import { type Gateway, startGateway } from '../../../src/gateway.ts';
import { silentLogger } from '../../../src/log/logger.ts';
import { gatewayClient, gatewayToken } from '../../support/accounts.ts';
import { answer, header, startLine, UdpPeer } from '../../support/udp-peer.ts';

/**
 * The security pipeline in a running gateway: real sockets on loopback, the default
 * stages, the event store and the management API. Each test sends the offending traffic
 * and checks what the sender, the upstream and the operator see.
 */

let seq = 0;

/**
 * Sends a burst in small slices with short pauses, so the kernel's receive buffer (the
 * gateway runs in this same process) is not what stops it. Bounded by `count`.
 */
async function burst(peer: UdpPeer, port: number, count: number, make: (i: number) => string): Promise<void> {
  for (let i = 0; i < count; i++) {
    peer.send(make(i), port);
    if (i % 10 === 9) await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function securityConfig(
  upstreamPort: number,
  security: Partial<SipwardenConfig['security']> = {},
): SipwardenConfig {
  const base = defaultConfig();
  return {
    ...base,
    listen: [{ host: '127.0.0.1', port: 0, transports: ['udp', 'tcp'] }],
    upstream: { host: '127.0.0.1', port: upstreamPort, transport: 'udp' },
    management: { ...base.management, enabled: true, host: '127.0.0.1', port: 0 },
    events: { ...base.events, database: ':memory:', aggregateWindowMs: 1000 },
    security: { ...base.security, ...security },
  };
}

function sipRequest(
  method: string,
  from: UdpPeer,
  options: {
    userAgent?: string;
    toUser?: string;
    fromUser?: string;
    extra?: string[];
    toTag?: string;
    callId?: string;
    cseq?: number;
  } = {},
): string {
  seq++;
  return [
    `${method} sip:${options.toUser ?? '200'}@pbx.example.com SIP/2.0`,
    `Via: SIP/2.0/UDP ${from.address}:${from.port};branch=z9hG4bK-sec-${seq};rport`,
    'Max-Forwards: 70',
    `From: <sip:${options.fromUser ?? 'bob'}@pbx.example.com>;tag=f${seq}`,
    `To: <sip:${options.toUser ?? '200'}@pbx.example.com>${options.toTag ? `;tag=${options.toTag}` : ''}`,
    `Call-ID: ${options.callId ?? `sec-${seq}`}@client`,
    `CSeq: ${options.cseq ?? 1} ${method}`,
    `Contact: <sip:${options.fromUser ?? 'bob'}@${from.address}:${from.port}>`,
    ...(options.userAgent ? [`User-Agent: ${options.userAgent}`] : []),
    ...(options.extra ?? []),
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

const sameCall = (sent: string) => (text: string) => header(text, 'call-id') === header(sent, 'call-id');
const isMethod = (method: string) => (text: string) => startLine(text).startsWith(`${method} `);

async function until(check: () => Promise<boolean> | boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('the security pipeline with its defaults', () => {
  let gateway: Gateway;
  let upstream: UdpPeer;
  let port: number;
  let api: ManagementClient;

  before(async () => {
    upstream = await UdpPeer.bind();
    gateway = await startGateway(
      securityConfig(upstream.port, { allowlist: ['127.0.9.0/24'] }),
      silentLogger,
    );
    port = gateway.listening().find((l) => l.transport === 'udp')!.port;
    api = gatewayClient(gateway);
  });

  after(async () => {
    await gateway.close();
    upstream.close();
  });

  const isBlocked = async (address: string) => (await api.blocks()).blocks.some((b) => b.key === address);

  test('a scanner gets no answer, is blocked, and the block and event are visible through the API', async () => {
    const scanner = await UdpPeer.bind('127.0.1.1');
    try {
      const probe = sipRequest('OPTIONS', scanner, { userAgent: 'friendly-scanner' });
      scanner.send(probe, port);
      assert.equal(await scanner.count(() => true), 0);
      assert.equal(await upstream.count(sameCall(probe), 0), 0);
      // Even an ordinary request from it now goes nowhere.
      const later = sipRequest('OPTIONS', scanner);
      scanner.send(later, port);
      assert.equal(await scanner.count(() => true), 0);
      assert.equal(await upstream.count(sameCall(later), 0), 0);
      const { blocks } = await api.blocks();
      assert.ok(
        blocks.some((b) => b.key === '127.0.1.1'),
        JSON.stringify(blocks),
      );
      await until(async () => (await api.events({ type: 'scanner' })).events.length > 0);
    } finally {
      scanner.close();
    }
  });

  test('an INVITE flood from one source is blocked, while another caller still gets through', async () => {
    const attacker = await UdpPeer.bind('127.0.2.1');
    const caller = await UdpPeer.bind('127.0.2.2');
    try {
      await burst(attacker, port, 400, (i) => sipRequest('INVITE', attacker, { toUser: `${1000 + i}` }));
      await until(async () => (await api.blocks()).blocks.some((b) => b.key === '127.0.2.1'));
      // Distinct calls: the upstream never answers, so forwarded INVITEs are retransmitted (Timer A).
      const forwardedCalls = new Set(
        upstream.received
          .filter((m) => isMethod('INVITE')(m.text) && / sip:1\d{3}@/.test(m.text.slice(0, 40)))
          .map((m) => header(m.text, 'call-id')),
      );
      assert.ok(forwardedCalls.size < 400, `forwarded ${forwardedCalls.size} of 400 calls`);
      // Another caller, from another address and with its own identity (the flood's From
      // identity rang hundreds of users: spit-fanout refuses its calls from any source).
      const call = sipRequest('INVITE', caller, { fromUser: 'carol' });
      caller.send(call, port);
      await upstream.next((t) => isMethod('INVITE')(t) && sameCall(call)(t));
      await until(async () =>
        (await api.events({ type: 'flood' })).events.some((e) => e.rule === 'invite-flood'),
      );
    } finally {
      attacker.close();
      caller.close();
    }
  });

  test('an allowlisted source sending the same flood is never blocked', async () => {
    const trunk = await UdpPeer.bind('127.0.9.1');
    try {
      await burst(trunk, port, 400, (i) => sipRequest('INVITE', trunk, { toUser: `${2000 + i}` }));
      const last = sipRequest('INVITE', trunk);
      trunk.send(last, port);
      await upstream.next((t) => isMethod('INVITE')(t) && sameCall(last)(t));
      assert.equal(
        (await api.blocks()).blocks.some((b) => b.key === '127.0.9.1'),
        false,
      );
    } finally {
      trunk.close();
    }
  });

  test('a flood of malformed datagrams blocks its source', async () => {
    const fuzzer = await UdpPeer.bind('127.0.3.1');
    try {
      for (let i = 0; i < 60; i++) fuzzer.send(`INVITE sip:x SIP/2.0\r\nVia: broken ${i}\r\n\r\n`, port);
      await until(async () => (await api.blocks()).blocks.some((b) => b.key === '127.0.3.1'));
      await until(async () => (await api.events({ type: 'malformed' })).events.length > 0);
    } finally {
      fuzzer.close();
    }
  });

  test('a malformed request is answered 400 and its event says reject; one no answer can be built for is dropped and its event says drop', async () => {
    const phone = await UdpPeer.bind('127.0.3.2');
    const broken = await UdpPeer.bind('127.0.3.3');
    try {
      const twoFroms = sipRequest('OPTIONS', phone, { extra: ['From: <sip:other@pbx.example.com>;tag=2'] });
      phone.send(twoFroms, port);
      const reply = await phone.next(sameCall(twoFroms));
      assert.match(startLine(reply), /^SIP\/2\.0 400 /);
      // No Via that parses: nowhere to match an answer to.
      const noVia = sipRequest('OPTIONS', broken).replace(/Via: [^\r]+/, 'Via: SIP/2.0/UDP ;;,');
      broken.send(noVia, port);
      assert.equal(await broken.count(() => true), 0);
      const eventOf = async (address: string) =>
        (await api.events({ type: 'malformed', source: address })).events.find((e) => e.stage === 'parse');
      await until(
        async () => (await eventOf('127.0.3.2')) !== undefined && (await eventOf('127.0.3.3')) !== undefined,
      );
      const answered = (await eventOf('127.0.3.2'))!;
      assert.equal(answered.action, 'reject');
      assert.equal(answered.status, 400);
      const dropped = (await eventOf('127.0.3.3'))!;
      assert.equal(dropped.action, 'drop');
      assert.equal(dropped.status, undefined);
    } finally {
      phone.close();
      broken.close();
    }
  });

  test('an operator block through the API silences a source, and unblock lets it back', async () => {
    const phone = await UdpPeer.bind('127.0.4.1');
    try {
      await api.block({ address: '127.0.4.1', duration: '10m', reason: 'test' });
      const blocked = sipRequest('OPTIONS', phone);
      phone.send(blocked, port);
      assert.equal(await upstream.count(sameCall(blocked)), 0);
      await api.unblock('127.0.4.1');
      const allowed = sipRequest('OPTIONS', phone);
      phone.send(allowed, port);
      await upstream.next(sameCall(allowed));
    } finally {
      phone.close();
    }
  });

  test('an operator key block through the API (a caller identity) refuses its requests from any address, and unblock lets them back', async () => {
    const one = await UdpPeer.bind('127.0.12.1');
    const two = await UdpPeer.bind('127.0.12.2');
    try {
      const answer = await api.block({ address: 'fromUser=Robo-Caller', duration: '10m' });
      assert.equal(answer.block.key, 'fromUser=robo-caller');
      for (const peer of [one, two]) {
        const call = sipRequest('INVITE', peer, { fromUser: 'robo-caller', toUser: '610' });
        peer.send(call, port);
        // Another identity from the same address passes: the block is on the key, not the source.
        const other = sipRequest('INVITE', peer, { fromUser: `real-${peer.address}`, toUser: '611' });
        peer.send(other, port);
        await upstream.next((t) => isMethod('INVITE')(t) && sameCall(other)(t));
        assert.equal(
          upstream.received.some((m) => sameCall(call)(m.text)),
          false,
          'a blocked identity reached the upstream',
        );
      }
      await until(async () =>
        (await api.blocks()).blocks.some((b) => b.key === 'fromUser=robo-caller' && b.hits === 2),
      );
      await api.unblock('fromUser=robo-caller');
      const again = sipRequest('INVITE', one, { fromUser: 'robo-caller', toUser: '612' });
      one.send(again, port);
      await upstream.next((t) => isMethod('INVITE')(t) && sameCall(again)(t));
    } finally {
      one.close();
      two.close();
    }
  });

  test('password guessing spread over many addresses, one guess each: the account is blocked, later guesses never reach the registrar', async () => {
    const guessers: UdpPeer[] = [];
    try {
      let forwarded = 0;
      for (let i = 0; i < 20; i++) {
        const guesser = await UdpPeer.bind(`127.0.13.${i + 1}`);
        guessers.push(guesser);
        const register = sipRequest('REGISTER', guesser, {
          fromUser: '640',
          toUser: '640',
          extra: [
            `Authorization: Digest username="640", realm="pbx", nonce="g${i}", uri="sip:pbx.example.com", response="0123456789abcdef0123456789abcdef"`,
          ],
        });
        guesser.send(register, port);
        const reached = await upstream.next(sameCall(register), 1500).catch(() => undefined);
        if (!reached) continue;
        forwarded++;
        upstream.send(answer(reached, 403, 'Forbidden'), port);
        await guesser.next(sameCall(register));
      }
      // Ten failures put user 640 under attack; the eleventh blocks the account.
      assert.equal(forwarded, 11);
      const blocks = (await api.blocks()).blocks;
      assert.ok(blocks.some((b) => b.key === 'user=640' && b.scope === 'key'));
      assert.equal(
        blocks.some((b) => b.key.startsWith('127.0.13.')),
        false,
      );
    } finally {
      for (const g of guessers) g.close();
    }
  });

  test('a block that covers the upstream address never cuts off the upstream', async () => {
    const phone = await UdpPeer.bind('127.0.11.1');
    try {
      await api.block({ address: '127.0.0.1', duration: '10m', reason: 'operator typo' });
      const message = sipRequest('MESSAGE', phone);
      phone.send(message, port);
      const forwarded = await upstream.next(sameCall(message));
      upstream.send(answer(forwarded, 200, 'OK'), port);
      assert.match(startLine(await phone.next(sameCall(message))), /^SIP\/2\.0 200 /);
    } finally {
      await api.unblock('127.0.0.1');
      phone.close();
    }
  });

  test('password guessing against one user is blocked after a few failures', async () => {
    const guesser = await UdpPeer.bind('127.0.5.1');
    try {
      for (let i = 0; i < 12; i++) {
        const register = sipRequest('REGISTER', guesser, {
          fromUser: '300',
          toUser: '300',
          extra: [
            `Authorization: Digest username="300", realm="pbx", nonce="n${i}", uri="sip:pbx.example.com", response="0123456789abcdef0123456789abcdef"`,
          ],
        });
        guesser.send(register, port);
        const forwarded = await upstream.next(sameCall(register), 3000).catch(() => undefined);
        if (!forwarded) {
          if (await isBlocked('127.0.5.1')) break; // blocked: no longer forwarded
          continue;
        }
        upstream.send(answer(forwarded, 403, 'Forbidden'), port);
        await guesser.next(sameCall(register));
      }
      await until(async () => (await api.blocks()).blocks.some((b) => b.key === '127.0.5.1'));
      await until(async () => (await api.events({ type: 'password-guessing' })).events.length > 0);
    } finally {
      guesser.close();
    }
  });

  test('extension enumeration (many users answered 404) blocks the source', async () => {
    const enumerator = await UdpPeer.bind('127.0.6.1');
    try {
      for (let i = 0; i < 30; i++) {
        const probe = sipRequest('REGISTER', enumerator, { fromUser: `${500 + i}`, toUser: `${500 + i}` });
        enumerator.send(probe, port);
        const forwarded = await upstream.next(sameCall(probe), 3000).catch(() => undefined);
        if (!forwarded) {
          if (await isBlocked('127.0.6.1')) break;
          continue;
        }
        upstream.send(answer(forwarded, 404, 'Not Found'), port);
      }
      await until(async () => (await api.blocks()).blocks.some((b) => b.key === '127.0.6.1'));
    } finally {
      enumerator.close();
    }
  });

  test('a request with an invalid Contact URI gets 400 with a Warning saying why', async () => {
    const phone = await UdpPeer.bind('127.0.7.1');
    try {
      const bad = sipRequest('INVITE', phone).replace(
        /Contact: <[^>]+>/,
        'Contact: <sip:bob@host.example:99999>',
      );
      phone.send(bad, port);
      const reply = await phone.next(sameCall(bad));
      assert.match(startLine(reply), /^SIP\/2\.0 400 /);
      assert.match(header(reply, 'warning') ?? '', /^399 /);
      assert.equal(await upstream.count(sameCall(bad), 100), 0);
    } finally {
      phone.close();
    }
  });

  test('the sixth concurrent call of one caller is refused with 403', async () => {
    const phone = await UdpPeer.bind('127.0.8.1');
    try {
      for (let i = 0; i < 5; i++) {
        const invite = sipRequest('INVITE', phone, { fromUser: 'busy-caller', toUser: `${700 + i}` });
        phone.send(invite, port);
        const forwarded = await upstream.next((t) => isMethod('INVITE')(t) && sameCall(invite)(t));
        upstream.send(answer(forwarded, 200, 'OK'), port);
        await phone.next((t) => sameCall(invite)(t) && startLine(t).startsWith('SIP/2.0 200'));
      }
      const sixth = sipRequest('INVITE', phone, { fromUser: 'busy-caller', toUser: '799' });
      phone.send(sixth, port);
      const reply = await phone.next((t) => sameCall(sixth)(t) && !startLine(t).startsWith('SIP/2.0 100'));
      assert.equal(startLine(reply), 'SIP/2.0 403 Too Many Concurrent Calls');
    } finally {
      phone.close();
    }
  });

  test('calls still being set up count too: of ten INVITEs sent at once, unanswered, the sixth is refused', async () => {
    const phone = await UdpPeer.bind('127.0.8.2');
    try {
      const invites = Array.from({ length: 10 }, (_, i) =>
        sipRequest('INVITE', phone, { fromUser: 'burst-caller', toUser: `${710 + i}` }),
      );
      for (const invite of invites) phone.send(invite, port);
      const forwarded = await Promise.all(
        invites
          .slice(0, 5)
          .map((invite) => upstream.next((t) => isMethod('INVITE')(t) && sameCall(invite)(t))),
      );
      for (const invite of invites.slice(5)) {
        const reply = await phone.next((t) => sameCall(invite)(t) && !startLine(t).startsWith('SIP/2.0 100'));
        assert.equal(startLine(reply), 'SIP/2.0 403 Too Many Concurrent Calls');
      }
      // Answered (failed) calls no longer count: the caller can call again.
      for (const f of forwarded) upstream.send(answer(f, 486, 'Busy Here'), port);
      for (const invite of invites.slice(0, 5)) {
        await phone.next((t) => sameCall(invite)(t) && startLine(t).startsWith('SIP/2.0 486'));
      }
      const again = sipRequest('INVITE', phone, { fromUser: 'burst-caller', toUser: '720' });
      phone.send(again, port);
      await upstream.next((t) => isMethod('INVITE')(t) && sameCall(again)(t));
    } finally {
      phone.close();
    }
  });

  test('a phone with five busy-lamp subscriptions (SUBSCRIBE dialogs) can still call', async () => {
    const phone = await UdpPeer.bind('127.0.8.2');
    try {
      for (let i = 0; i < 5; i++) {
        const subscribe = sipRequest('SUBSCRIBE', phone, {
          fromUser: 'blf-phone',
          toUser: `${600 + i}`,
          extra: ['Event: dialog', 'Expires: 3600'],
        });
        phone.send(subscribe, port);
        const forwarded = await upstream.next((t) => isMethod('SUBSCRIBE')(t) && sameCall(subscribe)(t));
        upstream.send(answer(forwarded, 200, 'OK', ['Expires: 3600']), port);
        await phone.next((t) => sameCall(subscribe)(t) && startLine(t).startsWith('SIP/2.0 200'));
      }
      const invite = sipRequest('INVITE', phone, { fromUser: 'blf-phone', toUser: '699' });
      phone.send(invite, port);
      await upstream.next((t) => isMethod('INVITE')(t) && sameCall(invite)(t));
    } finally {
      phone.close();
    }
  });

  test('an in-dialog request the pipeline refuses leaves the dialog as it was', async () => {
    const phone = await UdpPeer.bind('127.0.8.3');
    try {
      const invite = sipRequest('INVITE', phone, { fromUser: 'carol', toUser: '650' });
      phone.send(invite, port);
      const forwarded = await upstream.next((t) => isMethod('INVITE')(t) && sameCall(invite)(t));
      upstream.send(answer(forwarded, 200, 'OK'), port);
      await phone.next((t) => sameCall(invite)(t) && startLine(t).startsWith('SIP/2.0 200'));
      const callId = header(invite, 'call-id')!.replace(/@client$/, '');
      const fromTag = /tag=([^;\s>]+)/.exec(header(invite, 'from')!)![1]!;
      const inDialog = (method: string, extra: string[] = []) =>
        sipRequest(method, phone, {
          fromUser: 'carol',
          toUser: '650',
          toTag: 'uas-1',
          callId,
          cseq: 2,
          extra,
        }).replace(/tag=f\d+/, `tag=${fromTag}`);
      // A re-INVITE without Contact (RFC 3261 8.1.1.8 requires one): refused by the pipeline's validation.
      const reinvite = inDialog('INVITE').replace(/Contact: [^\r]+\r\n/, '');
      phone.send(reinvite, port);
      const refusal = await phone.next(
        (t) =>
          sameCall(reinvite)(t) &&
          / INVITE$/.test(header(t, 'cseq') ?? '') &&
          !startLine(t).startsWith('SIP/2.0 100'),
      );
      assert.match(startLine(refusal), /^SIP\/2\.0 4\d\d /);
      // Its CSeq 2 was not recorded: the BYE with the same number goes through.
      const bye = inDialog('BYE');
      phone.send(bye, port);
      await upstream.next((t) => isMethod('BYE')(t) && sameCall(bye)(t));
    } finally {
      phone.close();
    }
  });

  test('metrics count messages by stage and verdict, and active blocks', async () => {
    const address = gateway.managementAddress!;
    const text = await (
      await fetch(`http://${address.host}:${address.port}/metrics`, {
        headers: { authorization: `Bearer ${gatewayToken(gateway, 'viewer')}` },
      })
    ).text();
    assert.match(text, /sipwarden_messages_total\{stage="gate",verdict="drop"\} [1-9]/);
    assert.match(text, /sipwarden_blocks_active [1-9]/);
    assert.match(text, /sipwarden_processing_seconds_bucket/);
  });
});

describe('the security pipeline in dry run', () => {
  test('a flood is reported but nothing is blocked', async () => {
    const upstream = await UdpPeer.bind();
    const gateway = await startGateway(securityConfig(upstream.port, { dryRun: true }), silentLogger);
    const attacker = await UdpPeer.bind('127.0.10.1');
    try {
      const port = gateway.listening().find((l) => l.transport === 'udp')!.port;
      const api = gatewayClient(gateway);
      await burst(attacker, port, 400, (i) => sipRequest('INVITE', attacker, { toUser: `${3000 + i}` }));
      await until(async () =>
        (await api.events({ type: 'flood' })).events.some(
          (e) => e.rule === 'invite-flood' && e.action === 'alert',
        ),
      );
      assert.equal((await api.blocks()).blocks.length, 0);
      const last = sipRequest('INVITE', attacker);
      attacker.send(last, port);
      await upstream.next((t) => isMethod('INVITE')(t) && sameCall(last)(t));
    } finally {
      attacker.close();
      await gateway.close();
      upstream.close();
    }
  });
});

describe('a tarpit', () => {
  test("holds the scanner's answer back for tarpitMs, then sends the rule's status; the event says tarpit", async () => {
    const upstream = await UdpPeer.bind();
    const settings = { scanner: { action: 'tarpit', tarpitMs: 1500, status: 403 } };
    const gateway = await startGateway(securityConfig(upstream.port, { settings }), silentLogger);
    const scanner = await UdpPeer.bind('127.0.11.1');
    try {
      const port = gateway.listening().find((l) => l.transport === 'udp')!.port;
      const probe = sipRequest('OPTIONS', scanner, { userAgent: 'friendly-scanner' });
      const sentAt = performance.now();
      scanner.send(probe, port);
      const reply = await scanner.next(sameCall(probe), 10_000);
      // A lower bound only: the answer cannot come before the hold ends, however busy the machine.
      assert.ok(performance.now() - sentAt >= 1400, 'answered before the tarpit delay');
      assert.equal(startLine(reply), 'SIP/2.0 403 Forbidden');
      assert.equal(upstream.received.length, 0);
      const api = gatewayClient(gateway);
      await until(async () =>
        (await api.events({ type: 'scanner' })).events.some((e) => e.action === 'tarpit' && e.status === 403),
      );
    } finally {
      scanner.close();
      await gateway.close();
      upstream.close();
    }
  });
});

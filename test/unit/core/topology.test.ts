/**
 * Topology hiding through the running proxy core over UDP: what reaches the untrusted side
 * names nothing of the upstream's side (its Via, Record-Route, Contact, revealing fields),
 * and what comes back is restored for the upstream (Via from the transaction, the route set
 * and Request-URI from the sealed values); forged sealed values are refused.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import type { SipwardenConfig } from '../../../src/config/schema.ts';
import { configSchema } from '../../../src/config/schema.ts';
import { Sealer } from '../../../src/core/route/topology/sealer.ts';
import { type Gateway, startGateway } from '../../../src/gateway.ts';
import { silentLogger } from '../../../src/log/logger.ts';
import { coreConfig } from '../../support/core-gateway.ts';
import { answer, header, headers, startLine, UdpPeer } from '../../support/udp-peer.ts';

const TEST_TIMERS = { T1: 20, T2: 80, T4: 100, timerC: 5000 };

/** What the upstream's side writes about itself: none of it may reach the client. */
const PBX_HOST = 'pbx.internal.example';
const PBX_ADDRESS = '10.9.8.7';
const PBX_VIA = [
  `SIP/2.0/UDP ${PBX_ADDRESS}:5080;branch=z9hG4bK-pbx-1`,
  `SIP/2.0/TCP ${PBX_HOST};branch=z9hG4bK-pbx-0`,
];
const PBX_ROUTE = [`<sip:${PBX_ADDRESS}:5080;lr;ftag=x>`, `<sip:${PBX_HOST};lr>`];
const PBX_CONTACT = `sip:alice@${PBX_ADDRESS}:5080;transport=udp`;
const SECRETS = [PBX_HOST, PBX_ADDRESS, '5080', 'Asterisk', 'Warning'];

let seq = 0;
const isMethod = (method: string) => (text: string) => startLine(text).startsWith(`${method} `);
const isStatus = (status: number) => (text: string) => startLine(text).startsWith(`SIP/2.0 ${status} `);

function assertHidden(text: string): void {
  for (const secret of SECRETS) assert.ok(!text.includes(secret), `"${secret}" shows in:\n${text}`);
}

/** The upstream's INVITE to the client, as if relayed by a PBX: arrives at sipwarden from the upstream. */
function upstreamInvite(upstreamPort: number, clientPort: number, routeToUs: string): string {
  seq++;
  return [
    `INVITE sip:bob@127.0.0.1:${clientPort} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${upstreamPort};branch=z9hG4bK-up-${seq}`,
    ...PBX_VIA.map((v) => `Via: ${v}`),
    `Route: ${routeToUs}`,
    ...PBX_ROUTE.map((r) => `Record-Route: ${r}`),
    'Max-Forwards: 70',
    `From: <sip:alice@example.com>;tag=alice-${seq}`,
    '<sip:bob@example.com>'.replace(/^/, 'To: '),
    `Call-ID: up-call-${seq}`,
    'CSeq: 1 INVITE',
    `Contact: "Alice" <${PBX_CONTACT}>;+sip.instance="<urn:uuid:1>"`,
    'User-Agent: Asterisk PBX 18.0',
    'Organization: the inside',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

function clientInvite(clientPort: number): string {
  seq++;
  return [
    `INVITE sip:alice@example.com SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${clientPort};branch=z9hG4bK-cl-${seq};rport`,
    'Max-Forwards: 70',
    `From: <sip:bob@example.com>;tag=bob-${seq}`,
    'To: <sip:alice@example.com>',
    `Call-ID: cl-call-${seq}`,
    'CSeq: 1 INVITE',
    `Contact: <sip:bob@127.0.0.1:${clientPort}>`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

/** A request in the dialog from the client, along the route set and to the remote target it was given. */
function clientInDialog(
  method: string,
  target: string,
  routes: string[],
  base: string,
  cseq: number,
): string {
  return [
    `${method} ${target} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bK-cl-${method}-${++seq};rport`,
    ...routes.map((r) => `Route: ${r}`),
    'Max-Forwards: 70',
    `From: ${header(base, 'to')}`,
    `To: ${header(base, 'from')}`,
    `Call-ID: ${header(base, 'call-id')}`,
    `CSeq: ${cseq} ${method}`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

const uriOf = (nameAddr: string) => /<([^>]+)>/.exec(nameAddr)![1]!;

function withHiding(upstreamPort: number, hiding: Record<string, unknown>): SipwardenConfig {
  const base = coreConfig(upstreamPort);
  return { ...base, topologyHiding: configSchema.shape.topologyHiding.parse(hiding) };
}

describe('topology hiding towards the untrusted side', () => {
  let gateway: Gateway;
  let upstream: UdpPeer;
  let client: UdpPeer;
  let port: number;
  /** A Route entry naming sipwarden with a valid flow token for `client`, from a REGISTER's Path. */
  let pathToClient: string;

  before(async () => {
    upstream = await UdpPeer.bind();
    client = await UdpPeer.bind();
    gateway = await startGateway(
      withHiding(upstream.port, { untrusted: { server: 'sipwarden' } }),
      silentLogger,
      { timers: TEST_TIMERS },
    );
    port = gateway.listening().find((l) => l.transport === 'udp')!.port;
    const register = [
      'REGISTER sip:example.com SIP/2.0',
      `Via: SIP/2.0/UDP 127.0.0.1:${client.port};branch=z9hG4bK-reg-0;rport`,
      'Max-Forwards: 70',
      'From: <sip:bob@example.com>;tag=reg',
      'To: <sip:bob@example.com>',
      'Call-ID: reg-0',
      'CSeq: 1 REGISTER',
      `Contact: <sip:bob@127.0.0.1:${client.port}>`,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    client.send(register, port);
    const forwarded = await upstream.next(isMethod('REGISTER'));
    pathToClient = header(forwarded, 'path')!.replace(/;ob>/, '>');
    upstream.send(
      answer(forwarded, 200, 'OK', [
        `Contact: <sip:bob@127.0.0.1:${client.port}>;expires=300`,
        `Path: ${header(forwarded, 'path')}`,
        `Server: Asterisk on ${PBX_HOST}`,
      ]),
      port,
    );
    const ok = await client.next(isStatus(200));
    // The binding stays as the client wrote it; the Path and the product go.
    assert.equal(header(ok, 'contact'), `<sip:bob@127.0.0.1:${client.port}>;expires=300`);
    assert.equal(header(ok, 'path'), undefined);
    assert.equal(header(ok, 'server'), 'sipwarden');
  });

  after(async () => {
    await gateway.close();
    upstream.close();
    client.close();
  });

  beforeEach(() => {
    upstream.received.length = 0;
    client.received.length = 0;
  });

  test('a call from the upstream: the client sees only sipwarden, and the upstream gets its own back', async () => {
    const invite = upstreamInvite(upstream.port, client.port, pathToClient);
    upstream.send(invite, port);
    const delivered = await client.next(isMethod('INVITE'));
    assertHidden(delivered);
    assert.equal(headers(delivered, 'via').length, 1);
    assert.equal(header(delivered, 'organization'), undefined);
    assert.equal(header(delivered, 'user-agent'), undefined);
    const recordRoute = headers(delivered, 'record-route');
    assert.equal(recordRoute.length, 1);
    assert.match(
      recordRoute[0]!,
      new RegExp(`^<sip:[A-Za-z0-9_-]+@127\\.0\\.0\\.1:${port};lr;th=[A-Za-z0-9_-]+>$`),
    );
    const contact = header(delivered, 'contact')!;
    assert.match(contact, new RegExp(`^<sip:ct-[A-Za-z0-9_-]+@127\\.0\\.0\\.1:${port}>;\\+sip\\.instance=`));

    // The client answers as a UAS does: Via and Record-Route copied (RFC 3261 12.1.1).
    client.send(answer(delivered, 200, 'OK', [`Contact: <sip:bob@127.0.0.1:${client.port}>`]), port);
    const ok = await upstream.next(isStatus(200));
    assert.deepEqual(headers(ok, 'via'), headers(invite, 'via'));
    const restored = headers(ok, 'record-route').flatMap((v) => v.split(', '));
    // Ours (the one entry, without its sealed set), then the upstream's, in order.
    assert.equal(restored.length, 1 + PBX_ROUTE.length, restored.join(' | '));
    assert.doesNotMatch(restored[0]!, /th=/);
    assert.deepEqual(restored.slice(1), PBX_ROUTE);

    // The client's BYE along the route set it was given, to the remote target it was given.
    const bye = clientInDialog('BYE', uriOf(contact), recordRoute, ok, 2);
    client.send(bye, port);
    const byeUp = await upstream.next(isMethod('BYE'));
    assert.equal(startLine(byeUp), `BYE ${PBX_CONTACT} SIP/2.0`);
    assert.deepEqual(headers(byeUp, 'route'), PBX_ROUTE);
    upstream.send(answer(byeUp, 200, 'OK', ['Warning: 399 pbx "internal"']), port);
    const byeOk = await client.next(isStatus(200));
    assertHidden(byeOk);
  });

  test('a call from the client: the answer names nothing of the upstream, and in-dialog requests get the route back', async () => {
    client.send(clientInvite(client.port), port);
    const forwarded = await upstream.next(isMethod('INVITE'));
    const ours = headers(forwarded, 'record-route');
    assert.equal(ours.length, 1);
    const final = answer(forwarded, 200, 'OK', [
      `Contact: <${PBX_CONTACT}>`,
      `Server: Asterisk on ${PBX_HOST}`,
      `Warning: 399 ${PBX_HOST} "debug"`,
    ]).replace(
      /^Record-Route: .*$/m,
      PBX_ROUTE.map((r) => `Record-Route: ${r}`).join('\r\n') + `\r\nRecord-Route: ${ours[0]}`,
    );
    upstream.send(final, port);
    const ok = await client.next(isStatus(200));
    assertHidden(ok);
    assert.equal(header(ok, 'server'), 'sipwarden');
    const recordRoute = headers(ok, 'record-route');
    assert.equal(recordRoute.length, 1);
    assert.ok(recordRoute[0]!.startsWith(ours[0]!.slice(0, -1)), recordRoute[0]);

    // The caller's route set is the list reversed (RFC 3261 12.1.2): ours first, then the rest.
    const target = uriOf(header(ok, 'contact')!);
    const ack = clientInDialog('ACK', target, recordRoute, ok, 1)
      .replace(`From: ${header(ok, 'to')}`, `From: ${header(ok, 'from')}`)
      .replace(`To: ${header(ok, 'from')}`, `To: ${header(ok, 'to')}`);
    client.send(ack, port);
    const ackUp = await upstream.next(isMethod('ACK'));
    assert.equal(startLine(ackUp), `ACK ${PBX_CONTACT} SIP/2.0`);
    assert.deepEqual(headers(ackUp, 'route'), [...PBX_ROUTE].reverse());
  });

  test("a proxy on the untrusted side keeps its own Record-Route entry: only the upstream's side is sealed", async () => {
    // A Kamailio in front of sipwarden record-routed the INVITE before it reached us.
    const edge = '<sip:127.0.0.1:7777;lr;edge=1>';
    client.send(
      clientInvite(client.port).replace('Max-Forwards: 70', `Record-Route: ${edge}\r\nMax-Forwards: 70`),
      port,
    );
    const forwarded = await upstream.next(isMethod('INVITE'));
    const routeSet = headers(forwarded, 'record-route');
    assert.equal(routeSet.at(-1), edge);
    // The UAS copies the whole set, the upstream's own entries on top (RFC 3261 12.1.1).
    const set = [...PBX_ROUTE, ...routeSet].map((r) => `Record-Route: ${r}`).join('\r\n');
    const final = answer(forwarded, 200, 'OK', [`Contact: <${PBX_CONTACT}>`])
      .replace(/^Record-Route: .*\r\n/gm, '')
      .replace('\r\nContent-Length:', `\r\n${set}\r\nContent-Length:`);
    upstream.send(final, port);
    const ok = await client.next(isStatus(200));
    assertHidden(ok);
    const recordRoute = headers(ok, 'record-route')
      .join(', ')
      .split(/,\s*(?=<)/);
    assert.equal(recordRoute.length, 2, recordRoute.join(' | '));
    assert.ok(recordRoute[0]!.startsWith(routeSet[0]!.slice(0, -1)), recordRoute[0]);
    assert.equal(recordRoute[1], edge);
  });

  test("a 2xx retransmitted after its INVITE's transaction ended still gets the upstream's Via fields back", async () => {
    const invite = upstreamInvite(upstream.port, client.port, pathToClient);
    upstream.send(invite, port);
    const delivered = await client.next(isMethod('INVITE'));
    const ok = answer(delivered, 200, 'OK', [`Contact: <sip:bob@127.0.0.1:${client.port}>`]);
    client.send(ok, port);
    const first = await upstream.next(isStatus(200));
    assert.deepEqual(headers(first, 'via'), headers(invite, 'via'));
    // Now only the transaction's tombstone is left (RFC 6026 Accepted): the UAS repeats its 2xx.
    client.send(ok, port);
    const again = await upstream.next(isStatus(200));
    assert.deepEqual(headers(again, 'via'), headers(invite, 'via'));
  });

  test('refuses an in-dialog request whose sealed Contact or route set was forged', async () => {
    const invite = upstreamInvite(upstream.port, client.port, pathToClient);
    upstream.send(invite, port);
    const delivered = await client.next(isMethod('INVITE'));
    client.send(answer(delivered, 200, 'OK', [`Contact: <sip:bob@127.0.0.1:${client.port}>`]), port);
    await upstream.next(isStatus(200));
    const contact = uriOf(header(delivered, 'contact')!);
    const recordRoute = headers(delivered, 'record-route');
    const flip = (text: string, at: RegExp) =>
      text.replace(at, (m) => m.slice(0, -1) + (m.endsWith('A') ? 'B' : 'A'));
    const forgedContact = flip(contact, /ct-[A-Za-z0-9_-]{10}/);
    const forgedRoute = recordRoute.map((r) => flip(r, /th=[A-Za-z0-9_-]{10}/));
    for (const [target, routes] of [
      [forgedContact, recordRoute],
      [contact, forgedRoute],
    ] as const) {
      const bye = clientInDialog('BYE', target, [...routes], answer(delivered, 200, 'OK'), 2);
      client.send(bye, port);
      const refused = await client.next(isStatus(403));
      assert.match(startLine(refused), /403/);
    }
    assert.equal(await upstream.count(isMethod('BYE'), 200), 0);
  });
});

describe('topology hiding towards the upstream', () => {
  test("the upstream sees only sipwarden's Via and the User-Agent set; the client gets its Via fields back", async () => {
    const upstream = await UdpPeer.bind();
    const client = await UdpPeer.bind();
    const gateway = await startGateway(
      withHiding(upstream.port, {
        untrusted: { enabled: false },
        trusted: { enabled: true, userAgent: 'edge' },
      }),
      silentLogger,
      { timers: TEST_TIMERS },
    );
    try {
      const port = gateway.listening().find((l) => l.transport === 'udp')!.port;
      const invite = clientInvite(client.port)
        .replace('Max-Forwards: 70', 'Max-Forwards: 70\r\nUser-Agent: Phone 1.0 (serial 12345)')
        .replace(/^(Via: .*)$/m, 'Via: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK-home;rport\r\n$1')
        // The phone's NAT router wrote its Via above the phone's: the phone's goes second.
        .replace(/^(Via: SIP\/2\.0\/UDP 192.*)\r\n(Via: .*)$/m, '$2\r\n$1');
      client.send(invite, port);
      const forwarded = await upstream.next(isMethod('INVITE'));
      assert.equal(headers(forwarded, 'via').length, 1);
      assert.ok(!forwarded.includes('192.168.1.20'), forwarded);
      assert.equal(header(forwarded, 'user-agent'), 'edge');
      upstream.send(answer(forwarded, 486, 'Busy Here'), port);
      const busy = await client.next(isStatus(486));
      assert.deepEqual(headers(busy, 'via'), headers(invite, 'via'));
    } finally {
      await gateway.close();
      upstream.close();
      client.close();
    }
  });
});

describe('topology hiding turned off', () => {
  test('the client sees the upstream side as it is', async () => {
    const upstream = await UdpPeer.bind();
    const client = await UdpPeer.bind();
    const gateway = await startGateway(
      withHiding(upstream.port, { untrusted: { enabled: false } }),
      silentLogger,
      {
        timers: TEST_TIMERS,
      },
    );
    try {
      const port = gateway.listening().find((l) => l.transport === 'udp')!.port;
      client.send(clientInvite(client.port), port);
      const forwarded = await upstream.next(isMethod('INVITE'));
      upstream.send(answer(forwarded, 486, 'Busy Here', [`Server: Asterisk on ${PBX_HOST}`]), port);
      const busy = await client.next(isStatus(486));
      assert.equal(header(busy, 'server'), `Asterisk on ${PBX_HOST}`);
    } finally {
      await gateway.close();
      upstream.close();
      client.close();
    }
  });
});

describe('the topologyHiding section', () => {
  test('is on towards the untrusted side and off towards the upstream by default', () => {
    const section = configSchema.shape.topologyHiding.parse(undefined);
    assert.equal(section.untrusted.enabled, true);
    assert.equal(section.trusted.enabled, false);
    assert.deepEqual(section.untrusted.stripHeaders, ['server', 'user-agent', 'warning', 'organization']);
  });

  test('refuses to strip a field sipwarden routes on', () => {
    const result = configSchema.shape.topologyHiding.safeParse({ untrusted: { stripHeaders: ['Via'] } });
    assert.equal(result.success, false);
  });
});

describe('the sealer', () => {
  const sealer = new Sealer(Buffer.alloc(32, 7));

  test('seals the same text to the same token and opens it', () => {
    const token = sealer.seal(PBX_CONTACT)!;
    assert.equal(sealer.seal(PBX_CONTACT), token);
    assert.equal(sealer.open(token), PBX_CONTACT);
    assertHidden(Buffer.from(token, 'base64url').toString('latin1'));
  });

  test('refuses a token changed in any character, or sealed with another secret', () => {
    const token = sealer.seal(PBX_CONTACT)!;
    for (let i = 0; i < token.length; i++) {
      const changed = token.slice(0, i) + (token[i] === 'A' ? 'B' : 'A') + token.slice(i + 1);
      assert.equal(sealer.open(changed), undefined, `position ${i}`);
    }
    assert.equal(new Sealer(Buffer.alloc(32, 8)).open(token), undefined);
    assert.equal(sealer.open('short'), undefined);
  });
});

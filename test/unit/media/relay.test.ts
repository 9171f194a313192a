import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { afterEach, test } from 'node:test';
import type { Direction } from '../../../src/core/inspector.ts';
import { silentLogger } from '../../../src/log/logger.ts';
import { type MediaDropKind, RtpRelay, type RtpRelaySettings } from '../../../src/media/relay.ts';
import { parseSdp, type SdpMedia, type SdpSession } from '../../../src/sdp/index.ts';

// The relay driven through its MediaLineHandler side, with real UDP peers on loopback.

const BASE = 40_000 + 2 * Math.floor(Math.random() * 4000);

function settings(overrides: Partial<RtpRelaySettings> = {}): RtpRelaySettings {
  return {
    client: { host: '127.0.0.1', advertise: '127.0.0.1', portMin: BASE, portMax: BASE + 19 },
    upstream: { host: '127.0.0.1', advertise: '127.0.0.1', portMin: BASE + 20, portMax: BASE + 39 },
    maxStreams: 100,
    maxStreamsPerSource: 100,
    inactivityTimeoutMs: 60_000,
    floodFactor: 4,
    floodAction: 'alert',
    latch: 'signalled',
    ...overrides,
  };
}

interface Peer {
  readonly socket: Socket;
  readonly port: number;
  readonly packets: Buffer[];
}

const open: (Socket | RtpRelay)[] = [];

afterEach(() => {
  for (const thing of open.splice(0)) thing.close();
});

async function peer(): Promise<Peer> {
  const socket = createSocket('udp4');
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  open.push(socket);
  const packets: Buffer[] = [];
  socket.on('message', (packet) => packets.push(packet));
  return { socket, port: socket.address().port, packets };
}

function sdp(port: number, formats = '0 8 101', extra: string[] = []): SdpSession {
  const parsed = parseSdp(
    [
      'v=0',
      'o=- 1 1 IN IP4 127.0.0.1',
      's=-',
      'c=IN IP4 127.0.0.1',
      't=0 0',
      `m=audio ${port} RTP/AVP ${formats}`,
      'a=rtpmap:101 telephone-event/8000',
      'a=candidate:1 1 UDP 2130706431 127.0.0.1 9 typ host',
      'a=ice-ufrag:abcd',
      ...extra,
      '',
    ].join('\r\n'),
  );
  assert.ok(parsed.ok);
  return parsed.sdp;
}

/** Passes a description through the relay as the proxy would: written on `from`'s side. */
function pass(relay: RtpRelay, d: SdpSession, writerSide: Direction, session = 'call-1|tag|c'): SdpMedia {
  const toward: Direction = writerSide === 'client' ? 'upstream' : 'client';
  return relay.rewrite(d.media[0]!, d, {
    session,
    from: writerSide === 'client' ? 'caller' : 'callee',
    source: {
      transport: 'udp',
      localAddress: '127.0.0.1',
      localPort: 5060,
      remoteAddress: '127.0.0.1',
      remotePort: 5062,
    },
    toward,
    index: 0,
  });
}

function rtp(pt: number, seq: number, bytes = 160): Buffer {
  const packet = Buffer.alloc(12 + bytes);
  packet[0] = 0x80;
  packet[1] = pt;
  packet.writeUInt16BE(seq, 2);
  packet.writeUInt32BE(0x1234, 8);
  return packet;
}

async function until(check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function portFree(port: number): Promise<boolean> {
  const socket = createSocket('udp4');
  try {
    socket.bind(port, '127.0.0.1');
    await once(socket, 'listening');
    return true;
  } catch {
    return false;
  } finally {
    socket.close();
  }
}

/** A call negotiated through the relay: caller on the client side, callee upstream. */
async function call(relay: RtpRelay) {
  const caller = await peer();
  const callee = await peer();
  const offer = pass(relay, sdp(caller.port), 'client');
  const answer = pass(relay, sdp(callee.port), 'upstream');
  return { caller, callee, offer, answer };
}

test('offer and answer are rewritten to the relay ports; ICE is removed; RTP and RTCP flow both ways', async () => {
  const relay = new RtpRelay(settings(), silentLogger);
  open.push(relay);
  const caller = await peer();
  const callee = await peer();
  const offer = pass(relay, sdp(caller.port, '0 8 101', ['a=rtcp:' + (caller.port + 1)]), 'client');
  assert.ok(offer.port >= BASE + 20 && offer.port <= BASE + 39, `upstream port ${offer.port}`);
  assert.equal(offer.connections[0]?.address, '127.0.0.1');
  assert.equal(offer.attributes.find((a) => a.name === 'rtcp')?.value, `${offer.port + 1} IN IP4 127.0.0.1`);
  assert.ok(!offer.attributes.some((a) => a.name === 'candidate' || a.name === 'ice-ufrag'));
  // Not negotiated yet: nothing is bound.
  assert.equal(relay.openPorts, 0);
  assert.equal(await portFree(offer.port), true);
  // The callee takes its RTCP on its RTP socket (a=rtcp, RFC 3605).
  const answer = pass(relay, sdp(callee.port, '0 8 101', [`a=rtcp:${callee.port}`]), 'upstream');
  assert.ok(answer.port >= BASE && answer.port <= BASE + 19, `client port ${answer.port}`);
  assert.equal(relay.openPorts, 4);
  await until(() => relay.portsOf('call-1|tag|c')[0]?.open === true);
  await new Promise((resolve) => setTimeout(resolve, 50));
  for (let i = 0; i < 5; i++) caller.socket.send(rtp(0, i), answer.port, '127.0.0.1');
  await until(() => callee.packets.length === 5);
  for (let i = 0; i < 5; i++) callee.socket.send(rtp(8, i), offer.port, '127.0.0.1');
  await until(() => caller.packets.length === 5);
  assert.equal(caller.packets[0]![1], 8);
  // RTCP (a receiver report) on the port above.
  const report = Buffer.from([0x80, 201, 0, 1, 0, 0, 0, 1]);
  caller.socket.send(report, answer.port + 1, '127.0.0.1');
  await until(() => callee.packets.length === 6);
  assert.equal(callee.packets[5]![1], 201);
  assert.equal(relay.stats.forwarded, 11);
});

test('the session c= and o= name the relay', () => {
  const relay = new RtpRelay(settings(), silentLogger);
  open.push(relay);
  const lines = relay.rewriteSession(sdp(4000), {
    session: 's',
    from: 'caller',
    source: {
      transport: 'udp',
      localAddress: '127.0.0.1',
      localPort: 5060,
      remoteAddress: '10.0.0.9',
      remotePort: 5062,
    },
    toward: 'upstream',
  });
  assert.equal(lines.connection?.address, '127.0.0.1');
  assert.equal(lines.origin?.address, '127.0.0.1');
});

test('after latching, packets from a third address are dropped and reported as an injection', async () => {
  const drops: { kind: MediaDropKind; address: string; count: number }[] = [];
  const relay = new RtpRelay(settings(), silentLogger, {
    dropped: (d) => drops.push({ kind: d.kind, address: d.address, count: d.count }),
    refused: () => {},
  });
  open.push(relay);
  const { caller, callee, answer } = await call(relay);
  caller.socket.send(rtp(0, 1), answer.port, '127.0.0.1');
  await until(() => callee.packets.length === 1);
  // Another port of the same host is a different source once latched.
  const intruder = await peer();
  for (let i = 0; i < 3; i++) intruder.socket.send(rtp(0, 100 + i), answer.port, '127.0.0.1');
  await until(() => relay.stats.injection === 3);
  caller.socket.send(rtp(0, 2), answer.port, '127.0.0.1');
  await until(() => callee.packets.length === 2);
  assert.equal(callee.packets.length, 2, 'the injected packets did not reach the callee');
  assert.equal(drops.length, 1, 'reported once per second per stream');
  assert.equal(drops[0]!.kind, 'injection');
});

test('before latching, only the declared or signalling address may latch', async () => {
  const relay = new RtpRelay(settings(), silentLogger);
  open.push(relay);
  const caller = await peer();
  const callee = await peer();
  const offer = pass(relay, sdp(caller.port), 'client');
  // The callee declares an address that is not loopback's: its packets from 127.0.0.2 are refused.
  const d = sdp(callee.port);
  const elsewhere = {
    ...d,
    connection: { netType: 'IN' as const, addrType: 'IP4' as const, address: '192.0.2.7' },
  };
  pass(relay, elsewhere, 'upstream');
  await until(() => relay.openPorts === 4);
  const stranger = createSocket('udp4');
  stranger.bind(0, '127.0.0.2');
  await once(stranger, 'listening');
  open.push(stranger);
  stranger.send(rtp(0, 1), offer.port, '127.0.0.1');
  await until(() => relay.stats.injection === 1);
  assert.equal(caller.packets.length, 0);
});

test('with latch first-packet, a party whose media comes from another address than it declared latches there', async () => {
  const relay = new RtpRelay(settings({ latch: 'first-packet' }), silentLogger);
  open.push(relay);
  const caller = await peer();
  const callee = await peer();
  pass(relay, sdp(caller.port), 'client');
  const d = sdp(callee.port);
  pass(relay, { ...d, connection: { netType: 'IN', addrType: 'IP4', address: '192.0.2.7' } }, 'upstream');
  await until(() => relay.openPorts === 4);
  const answer = relay.streams()[0]!;
  const elsewhere = createSocket('udp4');
  elsewhere.bind(0, '127.0.0.2');
  await once(elsewhere, 'listening');
  open.push(elsewhere);
  const got: Buffer[] = [];
  elsewhere.on('message', (p) => got.push(p));
  // The callee's media leaves from 127.0.0.2: it latches, and the caller's audio goes there.
  elsewhere.send(rtp(0, 1), answer.upstream, '127.0.0.1');
  await until(() => caller.packets.length === 1);
  caller.socket.send(rtp(0, 2), answer.client, '127.0.0.1');
  await until(() => got.length === 1);
  // Then it is strict: another port of the same host is an injection.
  callee.socket.send(rtp(0, 3), answer.upstream, '127.0.0.1');
  await until(() => relay.stats.injection === 1);
});

test('a payload type not negotiated is dropped; a video payload type on audio is a media-type drop', async () => {
  const kinds: MediaDropKind[] = [];
  const relay = new RtpRelay(settings(), silentLogger, {
    dropped: (d) => kinds.push(d.kind),
    refused: () => {},
  });
  open.push(relay);
  const { caller, callee, answer } = await call(relay);
  caller.socket.send(rtp(0, 1), answer.port, '127.0.0.1');
  caller.socket.send(rtp(96, 2), answer.port, '127.0.0.1');
  caller.socket.send(rtp(34, 3), answer.port, '127.0.0.1');
  caller.socket.send(rtp(101, 4, 4), answer.port, '127.0.0.1');
  await until(
    () => relay.stats.payloadType === 1 && relay.stats.mediaType === 1 && callee.packets.length === 2,
  );
  assert.deepEqual(
    callee.packets.map((p) => p[1]),
    [0, 101],
  );
  assert.deepEqual(kinds.sort(), ['media-type', 'payload-type']);
});

test('a flood far above the codec rate is dropped beyond the ceiling, and can end the call', async () => {
  const ended: string[] = [];
  const kinds: MediaDropKind[] = [];
  const relay = new RtpRelay(settings({ floodAction: 'end-call' }), silentLogger, {
    dropped: (d) => kinds.push(d.kind),
    refused: () => {},
  });
  relay.endCall = (session) => ended.push(session);
  open.push(relay);
  const { caller, callee, answer } = await call(relay);
  // G.711 at 20 ms: 50 packets/s of 172 bytes. The ceilings, 4 x (100 packets, 10,400 bytes)
  // a second, let about 240 such packets a second through; 1000 are sent in well under one.
  for (let batch = 0; batch < 10; batch++) {
    for (let i = 0; i < 100; i++) caller.socket.send(rtp(0, batch * 100 + i), answer.port, '127.0.0.1');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await until(() => ended.length === 1 && relay.stats.flood > 0, 5000);
  assert.ok(callee.packets.length <= 400, `at most the ceiling went on: ${callee.packets.length}`);
  assert.deepEqual(ended, ['call-1|tag|c']);
  assert.ok(kinds.includes('flood'));
});

test('ports close when the session ends, and after inactivity', async () => {
  const relay = new RtpRelay(settings({ inactivityTimeoutMs: 300 }), silentLogger);
  open.push(relay);
  const { offer, answer } = await call(relay);
  await until(() => relay.openPorts === 4);
  assert.equal(await portFree(answer.port), false);
  relay.ended('call-1|tag|c');
  assert.equal(relay.openPorts, 0);
  await until(() => relay.streamCount === 0);
  assert.equal(await portFree(answer.port), true);
  assert.equal(await portFree(offer.port), true);
  // Another call, left silent: its ports close on their own.
  const second = await call(relay);
  await until(() => relay.openPorts > 0);
  await until(() => relay.stats.inactivityClosed >= 1, 5000);
  await until(() => relay.openPorts === 0);
  assert.equal(await portFree(second.answer.port), true);
});

test('a re-INVITE that moves a party lets it latch again at its new place', async () => {
  const relay = new RtpRelay(settings(), silentLogger);
  open.push(relay);
  const { caller, callee, answer, offer } = await call(relay);
  caller.socket.send(rtp(0, 1), answer.port, '127.0.0.1');
  await until(() => callee.packets.length === 1);
  const moved = await peer();
  moved.socket.send(rtp(0, 2), answer.port, '127.0.0.1');
  await until(() => relay.stats.injection === 1);
  // The caller's re-INVITE names its new port: same relay ports, and it latches there.
  const reoffer = pass(relay, sdp(moved.port), 'client');
  assert.equal(reoffer.port, offer.port);
  const reanswer = pass(relay, sdp(callee.port), 'upstream');
  assert.equal(reanswer.port, answer.port);
  moved.socket.send(rtp(0, 3), answer.port, '127.0.0.1');
  await until(() => callee.packets.length === 2);
  callee.socket.send(rtp(0, 4), offer.port, '127.0.0.1');
  await until(() => moved.packets.length === 1);
  assert.equal(caller.packets.length, 0);
});

test('a stream beyond the caps is refused with port 0', () => {
  const refusals: string[] = [];
  const relay = new RtpRelay(settings({ maxStreamsPerSource: 1 }), silentLogger, {
    dropped: () => {},
    refused: (d) => refusals.push(d.reason),
  });
  open.push(relay);
  assert.notEqual(pass(relay, sdp(4000), 'client', 'a|t|c').port, 0);
  assert.equal(pass(relay, sdp(4002), 'client', 'b|t|c').port, 0);
  assert.equal(refusals.length, 1);
  // The upstream side's calls do not count on the client's address.
  assert.notEqual(pass(relay, sdp(4004), 'upstream', 'c|t|u').port, 0);
});

test('the port range runs out: refused, then free again when a session ends', () => {
  const relay = new RtpRelay(
    settings({
      client: { host: '127.0.0.1', advertise: '127.0.0.1', portMin: BASE, portMax: BASE + 3 },
    }),
    silentLogger,
  );
  open.push(relay);
  assert.notEqual(pass(relay, sdp(4000), 'client', 'a|t|c').port, 0);
  assert.notEqual(pass(relay, sdp(4000), 'client', 'b|t|c').port, 0);
  assert.equal(pass(relay, sdp(4000), 'client', 'c|t|c').port, 0);
  relay.ended('a|t|c');
  assert.notEqual(pass(relay, sdp(4000), 'client', 'c|t|c').port, 0);
});

test('a relay port another process holds: the stream closes, its other ports are freed, the pair is set aside', async () => {
  const relay = new RtpRelay(
    settings({ client: { host: '127.0.0.1', advertise: '127.0.0.1', portMin: BASE, portMax: BASE + 3 } }),
    silentLogger,
  );
  open.push(relay);
  // Both client pairs are held by someone else.
  for (const port of [BASE, BASE + 2]) {
    const holder = createSocket('udp4');
    holder.bind(port, '127.0.0.1');
    await once(holder, 'listening');
    open.push(holder);
  }
  const { offer } = await call(relay);
  assert.equal(relay.stats.bindFailures, 1);
  assert.equal(relay.streamCount, 0);
  assert.equal(relay.openPorts, 0);
  assert.equal(await portFree(offer.port), true, 'no port of the stream stays bound');
  // The pair is set aside: the next offer takes the other one.
  const next = pass(relay, sdp(4000), 'client', 'next|t|c');
  assert.notEqual(next.port, 0);
});

import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { afterEach, test } from 'node:test';
import { inspect } from 'node:util';
import type { Direction } from '../../../src/core/inspector.ts';
import { silentLogger } from '../../../src/log/logger.ts';
import { type MediaDropKind, RtpRelay, type RtpRelaySettings } from '../../../src/media/relay.ts';
import {
  formatCryptoAttribute,
  MasterKey,
  parseCryptoAttribute,
  SrtpSession,
  type SrtpSuite,
  srtpSuite,
} from '../../../src/media/srtp/index.ts';
import type { SrtpSettings } from '../../../src/media/srtp-legs.ts';
import { parseSdp, type SdpMedia, type SdpSession } from '../../../src/sdp/index.ts';

// SRTP termination in the built-in relay, driven through its MediaLineHandler side with real
// UDP peers on loopback; the phones' side of SRTP is the library's own session (checked
// against the RFC 3711 and 6188 vectors in srtp-vectors.test.ts).

const BASE = 44_000 + 2 * Math.floor(Math.random() * 3000);
const HOST = '127.0.0.1';
const SUITES = [
  'AES_CM_128_HMAC_SHA1_80',
  'AES_CM_128_HMAC_SHA1_32',
  'AES_256_CM_HMAC_SHA1_80',
  'AES_256_CM_HMAC_SHA1_32',
];

function settings(srtp: Partial<SrtpSettings> = {}): RtpRelaySettings {
  return {
    client: { host: HOST, advertise: HOST, portMin: BASE, portMax: BASE + 19 },
    upstream: { host: HOST, advertise: HOST, portMin: BASE + 20, portMax: BASE + 39 },
    maxStreams: 100,
    maxStreamsPerSource: 100,
    inactivityTimeoutMs: 60_000,
    floodFactor: 4,
    floodAction: 'alert',
    latch: 'first-packet',
    srtp: { mode: 'terminate', upstreamOffers: 'as-offered', suites: SUITES, ...srtp },
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
  socket.bind(0, HOST);
  await once(socket, 'listening');
  open.push(socket);
  const packets: Buffer[] = [];
  socket.on('message', (packet) => packets.push(packet));
  return { socket, port: socket.address().port, packets };
}

function sdp(port: number, proto: string, extra: string[] = []): SdpSession {
  const parsed = parseSdp(
    [
      'v=0',
      'o=- 1 1 IN IP4 127.0.0.1',
      's=-',
      'c=IN IP4 127.0.0.1',
      't=0 0',
      `m=audio ${port} ${proto} 0 101`,
      'a=rtpmap:101 telephone-event/8000',
      `a=rtcp:${port}`,
      ...extra,
      '',
    ].join('\r\n'),
  );
  assert.ok(parsed.ok);
  return parsed.sdp;
}

function crypto(tag: number, suite: SrtpSuite, key: MasterKey): string {
  return `a=crypto:${formatCryptoAttribute({ tag, suite, key })}`;
}

function pass(relay: RtpRelay, d: SdpSession, writerSide: Direction): SdpMedia {
  return relay.rewrite(d.media[0]!, d, {
    session: 'call-1|tag|c',
    from: writerSide === 'client' ? 'caller' : 'callee',
    source: {
      transport: 'udp',
      localAddress: HOST,
      localPort: 5060,
      remoteAddress: HOST,
      remotePort: 5062,
    },
    toward: writerSide === 'client' ? 'upstream' : 'client',
    index: 0,
  });
}

/** The keys a rewritten section offers or answers with. */
function cryptoOf(media: SdpMedia) {
  return media.attributes
    .filter((a) => a.name === 'crypto')
    .map((a) => {
      const parsed = parseCryptoAttribute(a.value ?? '');
      assert.ok(parsed.ok, `a=crypto:${a.value}`);
      return parsed.attribute;
    });
}

function rtp(seq: number, fill: number, ssrc = 0x1234): Buffer {
  const packet = Buffer.alloc(12 + 160, fill);
  packet[0] = 0x80;
  packet[1] = 0;
  packet.writeUInt16BE(seq, 2);
  packet.writeUInt32BE(seq * 160, 4);
  packet.writeUInt32BE(ssrc, 8);
  return packet;
}

async function until(check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const send = (from: Peer, packet: Buffer, port: number) => from.socket.send(packet, port, HOST);

/** A phone on the client side offering SRTP, a PBX upstream answering plain RTP. */
async function terminated(relay: RtpRelay, suiteName = 'AES_CM_128_HMAC_SHA1_80') {
  const suite = srtpSuite(suiteName)!;
  const phone = await peer();
  const pbx = await peer();
  const phoneKey = MasterKey.generate(suite);
  const offer = pass(relay, sdp(phone.port, 'RTP/SAVP', [crypto(7, suite, phoneKey)]), 'client');
  const answer = pass(relay, sdp(pbx.port, 'RTP/AVP'), 'upstream');
  await until(() => relay.portsOf('call-1|tag|c')[0]?.open === true);
  const [ours] = cryptoOf(answer);
  assert.ok(ours);
  return {
    phone,
    pbx,
    offer,
    answer,
    /** What the phone sends with, and how it reads what the relay sends it. */
    phoneOut: new SrtpSession(suite, phoneKey),
    phoneIn: new SrtpSession(ours.suite, ours.key),
    ours,
    phoneKey,
  };
}

test('terminate: the phone offers SRTP, the PBX sees RTP/AVP without crypto, the phone is answered with a key of sipwarden', async () => {
  const relay = new RtpRelay(settings(), silentLogger);
  open.push(relay);
  const { offer, answer, ours, phoneKey } = await terminated(relay);
  assert.equal(offer.proto, 'RTP/AVP');
  assert.ok(!offer.attributes.some((a) => a.name === 'crypto'), 'no a=crypto towards the PBX');
  assert.equal(answer.proto, 'RTP/SAVP');
  assert.equal(cryptoOf(answer).length, 1);
  // RFC 4568 5.1.2: the answer names the offer's tag and suite.
  assert.equal(ours.tag, 7);
  assert.equal(ours.suite.name, 'AES_CM_128_HMAC_SHA1_80');
  assert.equal(ours.key.equals(phoneKey), false, "the phone's key is not sent back");
});

test('terminate: SRTP from the phone reaches the PBX decrypted, RTP from the PBX reaches the phone encrypted; SRTCP too', async () => {
  const relay = new RtpRelay(settings(), silentLogger);
  open.push(relay);
  const { phone, pbx, offer, answer, phoneOut, phoneIn } = await terminated(relay);
  const clear = [rtp(1, 0x11), rtp(2, 0x22), rtp(3, 0x33)];
  for (const packet of clear) send(phone, phoneOut.protect(packet) as Buffer, answer.port);
  await until(() => pbx.packets.length === 3);
  for (let i = 0; i < 3; i++) assert.deepEqual(pbx.packets[i], clear[i], 'the PBX receives the cleartext');
  const back = [rtp(10, 0x44, 0x9999), rtp(11, 0x55, 0x9999)];
  for (const packet of back) send(pbx, packet, offer.port);
  await until(() => phone.packets.length === 2);
  for (let i = 0; i < 2; i++) {
    const received = phone.packets[i]!;
    assert.notDeepEqual(received.subarray(12, 172), back[i]!.subarray(12), 'encrypted on the wire');
    assert.deepEqual(phoneIn.unprotect(received), back[i], 'decrypts under the answered key');
  }
  // RTCP both ways on the RTP port (a=rtcp names it): SRTCP from the phone, RTCP from the PBX.
  const report = Buffer.from([0x80, 201, 0, 1, 0, 0, 0x12, 0x34]);
  send(phone, phoneOut.protectRtcp(report) as Buffer, answer.port + 1);
  await until(() => pbx.packets.length === 4);
  assert.deepEqual(pbx.packets[3], report);
  const pbxReport = Buffer.from([0x80, 201, 0, 1, 0, 0, 0x99, 0x99]);
  send(pbx, pbxReport, offer.port + 1);
  await until(() => phone.packets.length === 3);
  assert.deepEqual(phoneIn.unprotectRtcp(phone.packets[2]!), pbxReport);
  assert.equal(relay.stats.srtpUnprotected, 4);
  assert.equal(relay.stats.srtpProtected, 3);
});

test('terminate: tampered and forged SRTP is dropped as srtp-authentication, a replay as srtp-replay; a forger cannot latch', async () => {
  const drops: { kind: MediaDropKind; address: string; port: number }[] = [];
  const relay = new RtpRelay(settings(), silentLogger, {
    dropped: (d) => drops.push({ kind: d.kind, address: d.address, port: d.port }),
    refused: () => {},
  });
  open.push(relay);
  const { phone, pbx, answer, phoneOut } = await terminated(relay);
  // A forger sends first, from another port: its packets do not authenticate, so it does not latch.
  const forger = await peer();
  const forged = new SrtpSession(
    srtpSuite('AES_CM_128_HMAC_SHA1_80')!,
    MasterKey.generate(srtpSuite('AES_CM_128_HMAC_SHA1_80')!),
  );
  send(forger, forged.protect(rtp(1, 0x66)) as Buffer, answer.port);
  await until(() => relay.stats.srtpAuthentication === 1);
  const first = phoneOut.protect(rtp(1, 0x11)) as Buffer;
  send(phone, first, answer.port);
  await until(() => pbx.packets.length === 1);
  // Tampered: one payload bit flipped.
  const tampered = Buffer.from(phoneOut.protect(rtp(2, 0x22)) as Buffer);
  tampered[40]! ^= 1;
  send(phone, tampered, answer.port);
  await until(() => relay.stats.srtpAuthentication === 2);
  // Replayed: the first packet again, from the phone's own address.
  send(phone, first, answer.port);
  await until(() => relay.stats.srtpReplay === 1);
  // The forger, now that the phone latched, is an injection.
  send(forger, forged.protect(rtp(2, 0x66)) as Buffer, answer.port);
  await until(() => relay.stats.injection === 1);
  send(phone, phoneOut.protect(rtp(3, 0x33)) as Buffer, answer.port);
  await until(() => pbx.packets.length === 2);
  assert.equal(pbx.packets.length, 2, 'only the authentic packets reached the PBX');
  assert.deepEqual(pbx.packets[1], rtp(3, 0x33));
  assert.deepEqual(
    drops.map((d) => d.kind),
    ['srtp-authentication', 'srtp-replay', 'injection'],
    'evented once a second per kind',
  );
  assert.equal(drops[0]!.port, forger.port);
});

test('terminate: AES-256 with the 32-bit tag (RFC 6188) is terminated too', async () => {
  const relay = new RtpRelay(settings(), silentLogger);
  open.push(relay);
  const { phone, pbx, offer, answer, phoneOut, phoneIn, ours } = await terminated(
    relay,
    'AES_256_CM_HMAC_SHA1_32',
  );
  assert.equal(ours.suite.name, 'AES_256_CM_HMAC_SHA1_32');
  send(phone, phoneOut.protect(rtp(1, 0x11)) as Buffer, answer.port);
  await until(() => pbx.packets.length === 1);
  assert.deepEqual(pbx.packets[0], rtp(1, 0x11));
  send(pbx, rtp(5, 0x77, 0x4242), offer.port);
  await until(() => phone.packets.length === 1);
  assert.equal(phone.packets[0]!.length, 12 + 160 + 4);
  assert.deepEqual(phoneIn.unprotect(phone.packets[0]!), rtp(5, 0x77, 0x4242));
});

test('terminate: a suite not accepted leaves the stream as opaque SRTP, its description untouched', async () => {
  const relay = new RtpRelay(settings({ suites: ['AES_CM_128_HMAC_SHA1_80'] }), silentLogger);
  open.push(relay);
  const suite = srtpSuite('AES_CM_128_HMAC_SHA1_32')!;
  const line = crypto(1, suite, MasterKey.generate(suite));
  const offer = pass(relay, sdp(4000, 'RTP/SAVP', [line]), 'client');
  assert.equal(offer.proto, 'RTP/SAVP');
  assert.equal(`a=crypto:${offer.attributes.find((a) => a.name === 'crypto')?.value}`, line);
  // An unknown suite (AEAD, RFC 7714) as well.
  const aead = pass(
    relay,
    sdp(4000, 'RTP/SAVP', ['a=crypto:1 AEAD_AES_128_GCM inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz']),
    'client',
  );
  assert.equal(aead.proto, 'RTP/SAVP');
  assert.equal(aead.attributes.filter((a) => a.name === 'crypto').length, 1);
});

test('pass: SRTP and a=crypto go through untouched', () => {
  const relay = new RtpRelay(settings({ mode: 'pass' }), silentLogger);
  open.push(relay);
  const suite = srtpSuite('AES_CM_128_HMAC_SHA1_80')!;
  const line = crypto(1, suite, MasterKey.generate(suite));
  const offer = pass(relay, sdp(4000, 'RTP/SAVP', [line]), 'client');
  assert.equal(offer.proto, 'RTP/SAVP');
  assert.equal(`a=crypto:${offer.attributes.find((a) => a.name === 'crypto')?.value}`, line);
});

test('both: each side gets SRTP under its own key of sipwarden; media re-encrypted in both directions', async () => {
  const relay = new RtpRelay(settings({ mode: 'both' }), silentLogger);
  open.push(relay);
  const suite = srtpSuite('AES_CM_128_HMAC_SHA1_80')!;
  const phone = await peer();
  const pbx = await peer();
  const phoneKey = MasterKey.generate(suite);
  const pbxKey = MasterKey.generate(suite);
  const offer = pass(relay, sdp(phone.port, 'RTP/SAVP', [crypto(1, suite, phoneKey)]), 'client');
  assert.equal(offer.proto, 'RTP/SAVP');
  const [toPbx] = cryptoOf(offer);
  assert.ok(toPbx);
  assert.equal(toPbx.key.equals(phoneKey), false, 'the PBX is not given the phone key');
  const answer = pass(relay, sdp(pbx.port, 'RTP/SAVP', [crypto(toPbx.tag, suite, pbxKey)]), 'upstream');
  const [toPhone] = cryptoOf(answer);
  assert.ok(toPhone);
  assert.equal(toPhone.key.equals(pbxKey) || toPhone.key.equals(toPbx.key), false);
  await until(() => relay.portsOf('call-1|tag|c')[0]?.open === true);
  const phoneOut = new SrtpSession(suite, phoneKey);
  const pbxIn = new SrtpSession(suite, toPbx.key);
  send(phone, phoneOut.protect(rtp(1, 0x11)) as Buffer, answer.port);
  await until(() => pbx.packets.length === 1);
  assert.deepEqual(pbxIn.unprotect(pbx.packets[0]!), rtp(1, 0x11));
  const pbxOut = new SrtpSession(suite, pbxKey);
  const phoneIn = new SrtpSession(suite, toPhone.key);
  send(pbx, pbxOut.protect(rtp(9, 0x99, 0x5555)) as Buffer, offer.port);
  await until(() => phone.packets.length === 1);
  assert.deepEqual(phoneIn.unprotect(phone.packets[0]!), rtp(9, 0x99, 0x5555));
});

test('upstreamOffers srtp: a plain offer from the PBX is shown to the phone as SRTP; the phone picks a suite by tag', async () => {
  const relay = new RtpRelay(settings({ upstreamOffers: 'srtp' }), silentLogger);
  open.push(relay);
  const pbx = await peer();
  const phone = await peer();
  const offer = pass(relay, sdp(pbx.port, 'RTP/AVP'), 'upstream');
  assert.equal(offer.proto, 'RTP/SAVP');
  const offered = cryptoOf(offer);
  assert.deepEqual(
    offered.map((c) => [c.tag, c.suite.name]),
    SUITES.map((name, i) => [i + 1, name]),
  );
  const chosen = offered[1]!;
  const phoneKey = MasterKey.generate(chosen.suite);
  const answer = pass(
    relay,
    sdp(phone.port, 'RTP/SAVP', [crypto(chosen.tag, chosen.suite, phoneKey)]),
    'client',
  );
  assert.equal(answer.proto, 'RTP/AVP');
  assert.ok(!answer.attributes.some((a) => a.name === 'crypto'));
  await until(() => relay.portsOf('call-1|tag|c')[0]?.open === true);
  send(pbx, rtp(1, 0x10), answer.port);
  await until(() => phone.packets.length === 1);
  assert.deepEqual(new SrtpSession(chosen.suite, chosen.key).unprotect(phone.packets[0]!), rtp(1, 0x10));
  send(phone, new SrtpSession(chosen.suite, phoneKey).protect(rtp(2, 0x20, 0x77)) as Buffer, offer.port);
  await until(() => pbx.packets.length === 1);
  assert.deepEqual(pbx.packets[0], rtp(2, 0x20, 0x77));
});

test('a retransmitted answer keeps the key; the relay state shows no key', async () => {
  const relay = new RtpRelay(settings(), silentLogger);
  open.push(relay);
  const { pbx, answer } = await terminated(relay);
  const again = pass(relay, sdp(pbx.port, 'RTP/AVP'), 'upstream');
  assert.equal(cryptoOf(again)[0]!.key.equals(cryptoOf(answer)[0]!.key), true);
  const inline = cryptoOf(answer)[0]!.key.toInline();
  assert.ok(!inspect(relay, { depth: 8 }).includes(inline));
  assert.ok(!JSON.stringify(relay.streams()).includes(inline));
});

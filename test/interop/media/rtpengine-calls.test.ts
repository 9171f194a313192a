/**
 * Calls through sipwarden with their media handed to rtpengine (`media.engine: rtpengine`):
 * Debian's rtpengine in userspace mode on loopback, hand-written SIP peers over UDP (the caller
 * on the untrusted side, the PBX behind sipwarden), and RTP sockets for each party's media.
 * A plain RTP call relayed both ways and deleted in rtpengine after BYE; a call whose caller
 * offers SDES-SRTP and whose PBX gets plain RTP, the caller's SRTP made and read with
 * sipwarden's own SRTP against rtpengine's; a call refused 503 when rtpengine does not answer.
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import type { SipwardenConfig } from '../../../src/config/schema.ts';
import { type Gateway, startGateway } from '../../../src/gateway.ts';
import { silentLogger } from '../../../src/log/logger.ts';
import { NgClient, NgError } from '../../../src/media/rtpengine/ng-client.ts';
import { formatCryptoAttribute, parseCryptoAttribute } from '../../../src/media/srtp/crypto-attribute.ts';
import { MasterKey } from '../../../src/media/srtp/master-key.ts';
import { SrtpSession } from '../../../src/media/srtp/session.ts';
import { srtpSuite } from '../../../src/media/srtp/suites.ts';
import { coreConfig } from '../../support/core-gateway.ts';
import { answer, header, headers, UdpPeer } from '../../support/udp-peer.ts';
import { type Rtpengine, rtpengineAvailable, startRtpengine } from '../harness/rtpengine.ts';

const SUITE = srtpSuite('AES_CM_128_HMAC_SHA1_80')!;

/** A party's media socket: records the RTP it receives. */
class MediaSocket {
  readonly received: Buffer[] = [];
  private constructor(readonly socket: Socket) {
    socket.on('message', (data) => this.received.push(data));
  }
  static async open(): Promise<MediaSocket> {
    const socket = createSocket('udp4');
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    return new MediaSocket(socket);
  }
  get port(): number {
    return this.socket.address().port;
  }
  send(packet: Buffer, port: number): void {
    this.socket.send(packet, port, '127.0.0.1');
  }
  /** Resolves once `count` packets arrived (bounded wait: rejects after timeoutMs). */
  async waitFor(count: number, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length < count) {
      if (Date.now() > deadline)
        throw new Error(`${this.received.length} of ${count} packets within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  close(): void {
    this.socket.close();
  }
}

function rtp(seq: number, ssrc: number, payloadByte: number): Buffer {
  const packet = Buffer.alloc(12 + 160, payloadByte);
  packet[0] = 0x80;
  packet[1] = 0; // PCMU
  packet.writeUInt16BE(seq, 2);
  packet.writeUInt32BE(seq * 160, 4);
  packet.writeUInt32BE(ssrc, 8);
  return packet;
}

function description(port: number, proto: string, extra: string[] = []): string {
  return [
    'v=0',
    'o=- 4242 1 IN IP4 127.0.0.1',
    's=-',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=audio ${port} ${proto} 0`,
    'a=rtpmap:0 PCMU/8000',
    ...extra,
    'a=sendrecv',
    '',
  ].join('\r\n');
}

function withSdp(message: string, body: string): string {
  return `${message.replace(/Content-Length: 0\r\n\r\n$/, '')}Content-Type: application/sdp\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

const mediaLine = (text: string) => {
  const match = /^m=audio (\d+) (\S+) /m.exec(text);
  assert.ok(match, `an m=audio line in:\n${text}`);
  return { port: Number(match[1]), proto: match[2]! };
};

let seq = 0;

interface Call {
  readonly callId: string;
  readonly n: number;
  readonly forwarded: string;
  readonly answered: string;
}

describe('calls with media handed to rtpengine', {
  skip: rtpengineAvailable() ? false : 'rtpengine not installed',
}, () => {
  let engine: Rtpengine;
  let gateway: Gateway;
  let sipPort: number;
  let caller: UdpPeer;
  let upstream: UdpPeer;
  let control: NgClient;

  before(async () => {
    engine = await startRtpengine();
    control = await NgClient.connect({ host: '127.0.0.1', port: engine.ngPort, timeoutMs: 500 });
    caller = await UdpPeer.bind();
    upstream = await UdpPeer.bind();
    const base = coreConfig(upstream.port);
    const config: SipwardenConfig = {
      ...base,
      media: {
        ...base.media,
        engine: 'rtpengine',
        rtpengine: {
          ng: { host: '127.0.0.1', port: engine.ngPort },
          timeoutMs: 500,
          retries: 2,
          maxPending: 64,
          // The PBX gets plain RTP whatever the phone offers: rtpengine encrypts and decrypts SRTP.
          upstreamProtocol: 'RTP/AVP',
          clientProtocol: 'as-offered',
        },
      },
    };
    gateway = await startGateway(config, silentLogger);
    sipPort = gateway.listening().find((l) => l.transport === 'udp')!.port;
  });

  after(async () => {
    await gateway?.close();
    await control?.close();
    caller?.close();
    upstream?.close();
    await engine?.stop();
  });

  const inRange = (port: number) => port >= engine.portMin && port <= engine.portMax;

  async function placeCall(offer: string, answerFor: (forwarded: string) => string): Promise<Call> {
    const n = ++seq;
    const callId = `rtpengine-${n}-${process.pid}@caller`;
    const invite = withSdp(
      [
        'INVITE sip:bob@pbx.example.com SIP/2.0',
        `Via: SIP/2.0/UDP 127.0.0.1:${caller.port};branch=z9hG4bK-rtpe-${n};rport`,
        'Max-Forwards: 70',
        `From: <sip:alice@example.com>;tag=alice-${n}`,
        'To: <sip:bob@pbx.example.com>',
        `Call-ID: ${callId}`,
        'CSeq: 1 INVITE',
        `Contact: <sip:alice@127.0.0.1:${caller.port}>`,
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
      offer,
    );
    caller.send(invite, sipPort);
    const forwarded = await upstream.next((t) => t.startsWith('INVITE ') && t.includes(callId));
    const ok = withSdp(
      answer(forwarded, 200, 'OK', [`Contact: <sip:bob@127.0.0.1:${upstream.port}>`]),
      answerFor(forwarded),
    );
    upstream.send(ok, sipPort);
    const answered = await caller.next((t) => t.startsWith('SIP/2.0 200') && t.includes(callId));
    caller.send(inDialog('ACK', 1, { callId, n, answered }), sipPort);
    await upstream.next((t) => t.startsWith('ACK ') && t.includes(callId));
    return { callId, n, forwarded, answered };
  }

  function inDialog(method: string, cseq: number, call: Pick<Call, 'callId' | 'n' | 'answered'>): string {
    const routes = headers(call.answered, 'record-route').reverse();
    return [
      `${method} sip:bob@127.0.0.1:${upstream.port} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${caller.port};branch=z9hG4bK-${method.toLowerCase()}-rtpe-${call.n};rport`,
      ...routes.map((r) => `Route: ${r}`),
      'Max-Forwards: 70',
      `From: ${header(call.answered, 'from')}`,
      `To: ${header(call.answered, 'to')}`,
      `Call-ID: ${call.callId}`,
      `CSeq: ${cseq} ${method}`,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
  }

  async function hangUp(call: Call): Promise<void> {
    caller.send(inDialog('BYE', 2, call), sipPort);
    const bye = await upstream.next((t) => t.startsWith('BYE ') && t.includes(call.callId));
    upstream.send(answer(bye, 200, 'OK'), sipPort);
    await caller.next((t) => t.startsWith('SIP/2.0 200') && /CSeq: 2 BYE/.test(t) && t.includes(call.callId));
  }

  /** Polls rtpengine until the call is gone (the delete follows the BYE's 200); bounded. */
  async function waitDeleted(callId: string): Promise<void> {
    for (let i = 0; i < 50; i++) {
      try {
        await control.command('query', { 'call-id': callId });
      } catch (error) {
        if (error instanceof NgError && error.code === 'error-reply') return;
        throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.fail(`rtpengine still has ${callId}`);
  }

  test('a plain RTP call: each side sees rtpengine ports, RTP is relayed both ways, BYE deletes the call', async () => {
    const alice = await MediaSocket.open();
    const bob = await MediaSocket.open();
    try {
      const call = await placeCall(description(alice.port, 'RTP/AVP'), () =>
        description(bob.port, 'RTP/AVP'),
      );
      const offered = mediaLine(call.forwarded);
      const answered = mediaLine(call.answered);
      assert.ok(inRange(offered.port), `the PBX is offered an rtpengine port, not ${offered.port}`);
      assert.ok(inRange(answered.port), `the caller is answered an rtpengine port, not ${answered.port}`);
      assert.ok(
        !call.forwarded.includes(`m=audio ${alice.port} `),
        "the caller's own port is not shown to the PBX",
      );
      assert.ok(
        !call.answered.includes(`m=audio ${bob.port} `),
        "the PBX's own port is not shown to the caller",
      );
      assert.equal(offered.proto, 'RTP/AVP');
      assert.equal(answered.proto, 'RTP/AVP');

      const count = 20;
      for (let i = 0; i < count; i++) {
        alice.send(rtp(1000 + i, 0x1111, 0xa1), answered.port);
        bob.send(rtp(5000 + i, 0x2222, 0xb2), offered.port);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      await bob.waitFor(count);
      await alice.waitFor(count);
      assert.ok(
        bob.received.every((p) => p[12] === 0xa1 && p.readUInt32BE(8) === 0x1111),
        "Bob gets Alice's RTP",
      );
      assert.ok(
        alice.received.every((p) => p[12] === 0xb2 && p.readUInt32BE(8) === 0x2222),
        "Alice gets Bob's RTP",
      );
      assert.equal((await control.command('query', { 'call-id': call.callId })).result, 'ok');

      await hangUp(call);
      await waitDeleted(call.callId);
      assert.equal(gateway.rtpengine!.calls, 0);
    } finally {
      alice.close();
      bob.close();
    }
  });

  test('a re-INVITE from the PBX moving its media: rtpengine follows, RTP reaches the new port', async () => {
    const alice = await MediaSocket.open();
    const bob = await MediaSocket.open();
    const bobMoved = await MediaSocket.open();
    try {
      const call = await placeCall(description(alice.port, 'RTP/AVP'), () =>
        description(bob.port, 'RTP/AVP'),
      );
      const pbxSide = mediaLine(call.forwarded).port;
      const reinvite = withSdp(
        [
          `INVITE sip:alice@127.0.0.1:${caller.port} SIP/2.0`,
          `Via: SIP/2.0/UDP 127.0.0.1:${upstream.port};branch=z9hG4bK-reinvite-${call.n}`,
          ...headers(call.forwarded, 'record-route').map((r) => `Route: ${r}`),
          'Max-Forwards: 70',
          `From: ${header(call.forwarded, 'to')};tag=uas-1`,
          `To: ${header(call.forwarded, 'from')}`,
          `Call-ID: ${call.callId}`,
          'CSeq: 1 INVITE',
          `Contact: <sip:bob@127.0.0.1:${upstream.port}>`,
          'Content-Length: 0',
          '',
          '',
        ].join('\r\n'),
        description(bobMoved.port, 'RTP/AVP'),
      );
      upstream.send(reinvite, sipPort);
      const offered = await caller.next((t) => t.startsWith('INVITE ') && t.includes(call.callId));
      const offeredPort = mediaLine(offered).port;
      assert.ok(inRange(offeredPort), `the caller is offered an rtpengine port, not ${offeredPort}`);
      assert.ok(!offered.includes(`m=audio ${bobMoved.port} `));
      caller.send(withSdp(answer(offered, 200, 'OK'), description(alice.port, 'RTP/AVP')), sipPort);
      const ok = await upstream.next(
        (t) => t.startsWith('SIP/2.0 200') && /CSeq: 1 INVITE/.test(t) && t.includes(call.callId),
      );
      assert.ok(inRange(mediaLine(ok).port));
      assert.equal(mediaLine(ok).port, pbxSide, 'the PBX keeps sending to the same rtpengine port');

      const count = 10;
      for (let i = 0; i < count; i++) {
        alice.send(rtp(400 + i, 0x7777, 0xe5), offeredPort);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      await bobMoved.waitFor(count);
      assert.ok(
        bobMoved.received.every((p) => p[12] === 0xe5),
        "Bob's new port gets Alice's RTP",
      );
      await hangUp(call);
      await waitDeleted(call.callId);
    } finally {
      alice.close();
      bob.close();
      bobMoved.close();
    }
  });

  test('a late offer: the offer in the 200 and the answer in the ACK both go through rtpengine', async () => {
    const alice = await MediaSocket.open();
    const bob = await MediaSocket.open();
    try {
      const n = ++seq;
      const callId = `rtpengine-late-${n}-${process.pid}@caller`;
      caller.send(
        [
          'INVITE sip:bob@pbx.example.com SIP/2.0',
          `Via: SIP/2.0/UDP 127.0.0.1:${caller.port};branch=z9hG4bK-rtpe-late-${n};rport`,
          'Max-Forwards: 70',
          `From: <sip:alice@example.com>;tag=alice-${n}`,
          'To: <sip:bob@pbx.example.com>',
          `Call-ID: ${callId}`,
          'CSeq: 1 INVITE',
          `Contact: <sip:alice@127.0.0.1:${caller.port}>`,
          'Content-Length: 0',
          '',
          '',
        ].join('\r\n'),
        sipPort,
      );
      const forwarded = await upstream.next((t) => t.startsWith('INVITE ') && t.includes(callId));
      upstream.send(
        withSdp(
          answer(forwarded, 200, 'OK', [`Contact: <sip:bob@127.0.0.1:${upstream.port}>`]),
          description(bob.port, 'RTP/AVP'),
        ),
        sipPort,
      );
      const answered = await caller.next((t) => t.startsWith('SIP/2.0 200') && t.includes(callId));
      const offered = mediaLine(answered);
      assert.ok(inRange(offered.port), `the caller is offered an rtpengine port, not ${offered.port}`);
      caller.send(
        withSdp(inDialog('ACK', 1, { callId, n, answered }), description(alice.port, 'RTP/AVP')),
        sipPort,
      );
      const ack = await upstream.next((t) => t.startsWith('ACK ') && t.includes(callId));
      const acked = mediaLine(ack);
      assert.ok(inRange(acked.port), `the PBX is answered an rtpengine port, not ${acked.port}`);
      assert.notEqual(acked.port, offered.port);

      const count = 10;
      for (let i = 0; i < count; i++) {
        alice.send(rtp(100 + i, 0x5555, 0xc3), offered.port);
        bob.send(rtp(300 + i, 0x6666, 0xd4), acked.port);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      await bob.waitFor(count);
      await alice.waitFor(count);
      assert.ok(bob.received.every((p) => p[12] === 0xc3));
      assert.ok(alice.received.every((p) => p[12] === 0xd4));
      await hangUp({ callId, n, forwarded, answered });
      await waitDeleted(callId);
    } finally {
      alice.close();
      bob.close();
    }
  });

  test('SRTP (SDES) on the untrusted side, plain RTP to the PBX: both directions decrypt to what was sent', async () => {
    const alice = await MediaSocket.open();
    const bob = await MediaSocket.open();
    try {
      const aliceKey = MasterKey.generate(SUITE);
      const crypto = `a=crypto:${formatCryptoAttribute({ tag: 1, suite: SUITE, key: aliceKey })}`;
      const call = await placeCall(description(alice.port, 'RTP/SAVP', [crypto]), () =>
        description(bob.port, 'RTP/AVP'),
      );
      const offered = mediaLine(call.forwarded);
      const answered = mediaLine(call.answered);
      // The PBX sees plain RTP and no key; the caller gets SRTP and rtpengine's own key.
      assert.equal(offered.proto, 'RTP/AVP');
      assert.doesNotMatch(call.forwarded, /a=crypto/);
      assert.equal(answered.proto, 'RTP/SAVP');
      const line = /^a=crypto:(.+)$/m.exec(call.answered)?.[1]?.trim();
      assert.ok(line !== undefined, 'an a=crypto line in the answer');
      const parsed = parseCryptoAttribute(line);
      assert.ok(parsed.ok, `rtpengine's crypto attribute parses: ${parsed.ok ? '' : parsed.error}`);
      assert.equal(parsed.attribute.suite.name, SUITE.name);
      assert.ok(!parsed.attribute.key.equals(aliceKey), 'rtpengine answers with a key of its own');

      const toEngine = new SrtpSession(SUITE, aliceKey);
      const fromEngine = new SrtpSession(SUITE, parsed.attribute.key);
      const count = 20;
      const sentByAlice: Buffer[] = [];
      const sentByBob: Buffer[] = [];
      for (let i = 0; i < count; i++) {
        const plain = rtp(2000 + i, 0x3333, i);
        sentByAlice.push(plain);
        alice.send(toEngine.protect(plain) as Buffer, answered.port);
        const fromBob = rtp(7000 + i, 0x4444, 0x80 + i);
        sentByBob.push(fromBob);
        bob.send(fromBob, offered.port);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      // A packet altered on its way is not authentic: rtpengine drops it, Bob never gets it.
      const forged = toEngine.protect(rtp(2000 + count, 0x3333, 0xee)) as Buffer;
      forged[20]! ^= 0x01;
      alice.send(forged, answered.port);
      await bob.waitFor(count);
      await alice.waitFor(count);
      // Bob gets Alice's packets decrypted by rtpengine: the payloads she protected with her key.
      assert.deepEqual(
        bob.received.map((p) => p.subarray(12).toString('hex')),
        sentByAlice.map((p) => p.subarray(12).toString('hex')),
      );
      // Alice gets Bob's packets encrypted by rtpengine with its key, read by sipwarden's SRTP.
      const decrypted = alice.received.map((p) => fromEngine.unprotect(p));
      for (const d of decrypted) assert.ok(Buffer.isBuffer(d), `rtpengine's SRTP unprotects: ${String(d)}`);
      assert.deepEqual(
        decrypted.map((p) => (p as Buffer).subarray(12).toString('hex')),
        sentByBob.map((p) => p.subarray(12).toString('hex')),
      );
      // Bob's plain RTP never reached Alice as it was: every packet she got was SRTP.
      assert.ok(alice.received.every((p) => p.length === 12 + 160 + SUITE.srtpTagLength));
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(bob.received.length, count, 'the forged packet was dropped');
      await hangUp(call);
      await waitDeleted(call.callId);
    } finally {
      alice.close();
      bob.close();
    }
  });
});

describe('calls when rtpengine does not answer', () => {
  test('a new call with RTP is refused 503 and never reaches the PBX', async () => {
    const silent = createSocket('udp4');
    silent.bind(0, '127.0.0.1');
    await once(silent, 'listening');
    const caller = await UdpPeer.bind();
    const upstream = await UdpPeer.bind();
    const base = coreConfig(upstream.port);
    const gateway = await startGateway(
      {
        ...base,
        media: {
          ...base.media,
          engine: 'rtpengine',
          rtpengine: {
            ng: { host: '127.0.0.1', port: silent.address().port },
            timeoutMs: 50,
            retries: 1,
            maxPending: 8,
            upstreamProtocol: 'as-offered',
            clientProtocol: 'as-offered',
          },
        },
      },
      silentLogger,
    );
    try {
      const port = gateway.listening().find((l) => l.transport === 'udp')!.port;
      const callId = `no-engine-${process.pid}@caller`;
      caller.send(
        withSdp(
          [
            'INVITE sip:bob@pbx.example.com SIP/2.0',
            `Via: SIP/2.0/UDP 127.0.0.1:${caller.port};branch=z9hG4bK-noengine;rport`,
            'Max-Forwards: 70',
            'From: <sip:alice@example.com>;tag=alice-x',
            'To: <sip:bob@pbx.example.com>',
            `Call-ID: ${callId}`,
            'CSeq: 1 INVITE',
            'Content-Length: 0',
            '',
            '',
          ].join('\r\n'),
          description(40000, 'RTP/AVP'),
        ),
        port,
      );
      await caller.next((t) => t.startsWith('SIP/2.0 503') && t.includes(callId));
      assert.equal(
        upstream.received.filter((m) => m.text.startsWith('INVITE ')).length,
        0,
        'the INVITE did not reach the PBX',
      );
      assert.equal(gateway.rtpengine!.stats.failures, 1);
    } finally {
      await gateway.close();
      caller.close();
      upstream.close();
      silent.close();
    }
  });
});

/**
 * SRTP terminated by the built-in relay, with two real SRTP phones: Debian's baresip with
 * `mediaenc=srtp-mand` (SDES, libre's SRTP), registered through sipwarden to Kamailio as
 * registrar, call each other. The call passes sipwarden twice (phone, sipwarden, Kamailio,
 * sipwarden, phone); on each leg the phone's side (client side, untrusted) is SRTP, the
 * PBX's side plain RTP (`media.relay.srtp.upstreamOffers: srtp` shows the callee an SRTP
 * offer for the PBX's plain one).
 *
 * tshark on lo captures every datagram of the relay's client-side ports (the untrusted
 * side) and of its upstream-side ports (the PBX side). Shown: audio reaches both phones;
 * the PBX side carries plain RTP whose payloads never appear on the untrusted side; the
 * untrusted side's packets are SRTP that decrypt, under the key each phone gave in its own
 * SDP, to exactly the RTP the PBX side carried (same SSRC, sequence number and payload).
 * Then a policy requiring encrypted media refuses a call offered in plain RTP with 488.
 *
 * Loopback only, free ports, every process stopped by its pid.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseCryptoAttribute, SrtpSession } from '../../../src/media/srtp/index.ts';
import { type BaresipEvent, baresipAvailable, startBaresip } from '../harness/baresip.ts';
import { startKamailio } from '../harness/kamailio.ts';
import { freePort } from '../harness/ports.ts';
import { startProcess, stopAll } from '../harness/process.ts';
import { sipwardenAvailable, startSipwarden } from '../harness/sipwarden.ts';

after(() => stopAll());

const HOST = '127.0.0.1';
const PHONE_A = '127.0.0.61';
const PHONE_B = '127.0.0.62';
const PHONE_C = '127.0.0.63';
const DOMAIN = 'srtp.test';

const skip = !baresipAvailable()
  ? 'baresip is not installed (scripts/install-test-deps.sh installs it)'
  : !sipwardenAvailable()
    ? 'bin/sipwarden.js is not in this checkout'
    : false;

const isCall = (type: string, callId: string) => (event: BaresipEvent) =>
  event.type === type && event.id === callId;

interface Datagram {
  readonly src: number;
  readonly dst: number;
  readonly payload: Buffer;
}

function datagrams(capture: string): Datagram[] {
  const out: Datagram[] = [];
  for (const line of capture.split('\n')) {
    const [src, dst, hex] = line.trim().split('\t');
    if (src === undefined || dst === undefined || hex === undefined || hex === '') continue;
    out.push({ src: Number(src), dst: Number(dst), payload: Buffer.from(hex.replaceAll(':', ''), 'hex') });
  }
  return out;
}

/** The audio port and the a=crypto key a phone's own description names, in its first traced message matching `start`. */
function ownMedia(messages: readonly string[], start: RegExp) {
  const message = messages.find((m) => start.test(m) && /^m=audio /m.test(m));
  assert.ok(message, `no description matching ${start}`);
  assert.match(message, /^m=audio \d+ RTP\/SAVP /m, 'the phone speaks SRTP');
  const crypto = /^a=crypto:(.+?)\r?$/m.exec(message);
  assert.ok(crypto, `no a=crypto in\n${message}`);
  const parsed = parseCryptoAttribute(crypto[1]!);
  assert.ok(parsed.ok, `a=crypto:${crypto[1]}`);
  return { port: Number(/^m=audio (\d+) /m.exec(message)![1]), crypto: parsed.attribute };
}

/** RTP's identity: SSRC and sequence number. */
const rtpKey = (packet: Buffer) => `${packet.readUInt32BE(8)}/${packet.readUInt16BE(2)}`;
const isRtp = (packet: Buffer) => packet.length >= 12 && packet[0]! >> 6 === 2 && (packet[1]! & 0x7f) < 64;

let token = '';

async function metric(url: string, name: string): Promise<number> {
  const text = await (
    await fetch(`${url}/metrics`, {
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(5000),
    })
  ).text();
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m === null ? Number.NaN : Number(m[1]);
}

test('two SRTP baresip phones call through sipwarden and Kamailio: SRTP only on the untrusted side, plain RTP towards the PBX, audio both ways; a plain offer is refused 488', {
  skip,
}, async () => {
  const kamailioPort = await freePort();
  const kamailio = await startKamailio({ variant: 'registrar', port: kamailioPort });
  const port = await freePort();
  const apiPort = await freePort(HOST, ['tcp']);
  const base = 40_000 + 2 * Math.floor(Math.random() * 3900);
  const clientRange = [base, base + 99] as const;
  const upstreamRange = [base + 100, base + 199] as const;
  const sipwarden = await startSipwarden({
    port,
    upstream: { host: HOST, port: kamailioPort },
    config: {
      management: { port: apiPort },
      media: {
        relay: {
          client: { portMin: clientRange[0], portMax: clientRange[1] },
          upstream: { portMin: upstreamRange[0], portMax: upstreamRange[1] },
          srtp: { mode: 'terminate', upstreamOffers: 'srtp' },
        },
      },
      // Calls from the client side must offer SRTP; REGISTER and the calls the PBX sends are not concerned.
      policy: {
        rules: [{ name: 'srtp-only', match: { methods: 'INVITE' }, action: 'require-encrypted-media' }],
      },
    },
    extraArgs: ['--log-level', 'warn'],
    // Under load on the shared test machine, two runs found nothing listening after the 15 s default.
    startTimeoutMs: 30_000,
  });
  const api = `http://${HOST}:${apiPort}`;
  token = await sipwarden.apiToken();
  const phones = [
    await startBaresip({ name: 'srtp-alice', host: PHONE_A, modules: ['srtp.so'] }),
    await startBaresip({ name: 'srtp-bob', host: PHONE_B, modules: ['srtp.so'] }),
    await startBaresip({ name: 'plain-carol', host: PHONE_C }),
  ] as const;
  const [a, b, c] = phones;
  try {
    const account = (user: string, srtp: boolean) =>
      [
        `<sip:${user}@${DOMAIN}>`,
        `outbound="sip:${HOST}:${port}"`,
        'answermode=auto',
        'regint=300',
        'audio_codecs=pcmu',
        ...(srtp ? ['mediaenc=srtp-mand'] : []),
      ].join(';');
    await a.addAccount(account('alice', true));
    await b.addAccount(account('bob', true));
    await c.addAccount(account('carol', false));
    const tshark = startProcess(
      'tshark',
      [
        '-i',
        'lo',
        '-l',
        '-n',
        '-f',
        `udp and (src portrange ${clientRange[0]}-${upstreamRange[1]} or dst portrange ${clientRange[0]}-${upstreamRange[1]})`,
        '-T',
        'fields',
        '-e',
        'udp.srcport',
        '-e',
        'udp.dstport',
        '-e',
        'udp.payload',
      ],
      { name: 'tshark-srtp', outputLimit: 64 * 1024 * 1024 },
    );
    await tshark.waitFor(/Capturing on/, 15_000, 'stderr');
    const dialled = await a.command('dial', `sip:bob@${DOMAIN}`);
    assert.ok(dialled.ok, `dial: ${dialled.data}`);
    const established = await b.waitForEvent((e) => e.type === 'CALL_ESTABLISHED', 'CALL_ESTABLISHED');
    const callId = established.id!;
    await a.waitForEvent(isCall('CALL_ESTABLISHED', callId), 'CALL_ESTABLISHED');
    // Two seconds of 20 ms audio each way (about 100 packets).
    await sleep(2000);
    const hungUp = await a.command('hangup');
    assert.ok(hungUp.ok, `hangup: ${hungUp.data}`);
    await b.waitForEvent(isCall('CALL_CLOSED', callId), 'CALL_CLOSED');
    await sleep(200);
    await tshark.stop();

    const alice = ownMedia(a.tracedMessages(callId), /^INVITE /m);
    const bob = ownMedia(b.tracedMessages(callId), /^SIP\/2\.0 200 /m);
    // Bob was offered SRTP by sipwarden, with sipwarden's keys, not alice's.
    const bobInvite = b.tracedMessages(callId).find((m) => /^INVITE /m.test(m));
    assert.ok(bobInvite);
    assert.match(bobInvite, /^m=audio \d+ RTP\/SAVP /m);
    assert.ok(!bobInvite.includes(alice.crypto.key.toInline()), "alice's key reached bob");

    const inClient = (p: number) => p >= clientRange[0] && p <= clientRange[1];
    const inUpstream = (p: number) => p >= upstreamRange[0] && p <= upstreamRange[1];
    const all = datagrams(tshark.stdout());
    const untrusted = all.filter((d) => inClient(d.src) || inClient(d.dst));
    // The PBX side: between the relay's upstream ports of the two legs.
    const pbxSide = all.filter((d) => inUpstream(d.src) && inUpstream(d.dst) && isRtp(d.payload));
    // Audio both ways, counted where each phone receives it.
    const toAlice = untrusted.filter((d) => d.dst === alice.port).length;
    const toBob = untrusted.filter((d) => d.dst === bob.port).length;
    assert.ok(toAlice >= 50, `alice was sent ${toAlice} packets`);
    assert.ok(toBob >= 50, `bob was sent ${toBob} packets`);
    assert.ok(pbxSide.length >= 100, `the PBX side carried ${pbxSide.length} RTP packets`);

    // Plain RTP on the PBX side: its payloads never appear on the untrusted side.
    const clear = new Map<string, Buffer>();
    for (const d of pbxSide) clear.set(rtpKey(d.payload), d.payload);
    const cleartexts = new Set([...clear.values()].map((p) => p.subarray(12).toString('hex')));
    const audioUntrusted = untrusted.filter((d) => isRtp(d.payload));
    for (const d of audioUntrusted) {
      const body = d.payload.toString('hex');
      for (const text of cleartexts)
        assert.ok(!body.includes(text), 'a cleartext payload on the untrusted side');
    }
    // SRTP on the untrusted side: what each phone sent decrypts, under its own key, to the PBX side's RTP.
    let matched = 0;
    for (const [phone, from] of [
      [alice, PHONE_A],
      [bob, PHONE_B],
    ] as const) {
      const session = new SrtpSession(phone.crypto.suite, phone.crypto.key);
      const sent = audioUntrusted.filter((d) => d.src === phone.port);
      assert.ok(sent.length >= 50, `${from} sent ${sent.length} packets`);
      for (const d of sent) {
        const plain = session.unprotect(d.payload);
        assert.ok(
          typeof plain !== 'string',
          `${from}'s packet does not authenticate under its key: ${plain}`,
        );
        assert.equal(d.payload.length, plain.length + phone.crypto.suite.srtpTagLength);
        const relayed = clear.get(rtpKey(plain));
        if (relayed === undefined) continue;
        assert.deepEqual(relayed, plain, 'the PBX side carries the decrypted packet');
        matched++;
      }
    }
    assert.ok(matched >= 100, `${matched} packets decrypted to what the PBX side carried`);
    // Everything the relay sent the phones is SRTP or SRTCP under the key it gave each phone:
    // alice in its 200, bob in its INVITE (the line of the tag bob chose).
    const keyGiven = (message: string | undefined, tag: number) => {
      assert.ok(message);
      const line = new RegExp(`^a=crypto:(${tag} .+?)\\r?$`, 'm').exec(message);
      assert.ok(line, `no a=crypto:${tag} in\n${message}`);
      const parsed = parseCryptoAttribute(line[1]!);
      assert.ok(parsed.ok);
      return parsed.attribute;
    };
    const given = [
      [
        alice,
        keyGiven(
          a.tracedMessages(callId).find((m) => /^SIP\/2\.0 200 /m.test(m) && /^m=audio/m.test(m)),
          alice.crypto.tag,
        ),
      ],
      [bob, keyGiven(bobInvite, bob.crypto.tag)],
    ] as const;
    for (const [phone, key] of given) {
      assert.ok(!key.key.equals(phone.crypto.key));
      const rtpIn = new SrtpSession(key.suite, key.key);
      const rtcpIn = new SrtpSession(key.suite, key.key);
      const received = untrusted.filter(
        (d) => inClient(d.src) && (d.dst === phone.port || d.dst === phone.port + 1),
      );
      assert.ok(received.length >= 50);
      for (const d of received) {
        const plain = d.dst === phone.port ? rtpIn.unprotect(d.payload) : rtcpIn.unprotectRtcp(d.payload);
        assert.ok(
          typeof plain !== 'string',
          `the relay sent ${d.dst} a packet that is not SRTP under its key: ${plain}`,
        );
      }
    }
    // The relay's view: decrypted and encrypted packets. What it drops as authentication
    // failures: what the phones sent that is not SRTP under their key (baresip sends its last
    // RTCP, a BYE, in the clear as its call ends), and the callee's first packets, sent as it
    // answers, which reach the relay before the answer that carries its key (at most about a
    // second of audio here, 50 packets); never the call's audio beyond that.
    assert.ok((await metric(api, 'sipwarden_media_srtp_decrypted_total')) >= 100);
    assert.ok((await metric(api, 'sipwarden_media_srtp_encrypted_total')) >= 100);
    let notSrtp = 0;
    for (const phone of [alice, bob]) {
      const rtp = new SrtpSession(phone.crypto.suite, phone.crypto.key);
      const rtcp = new SrtpSession(phone.crypto.suite, phone.crypto.key);
      for (const d of untrusted.filter((x) => x.src === phone.port && inClient(x.dst)))
        if (rtp.unprotect(Buffer.from(d.payload)) === 'authentication') notSrtp++;
      for (const d of untrusted.filter((x) => x.src === phone.port + 1 && inClient(x.dst)))
        if (rtcp.unprotectRtcp(Buffer.from(d.payload)) === 'authentication') notSrtp++;
    }
    const dropped = await metric(api, 'sipwarden_media_srtp_authentication_dropped_total');
    assert.ok(
      dropped <= notSrtp + 50,
      `the relay dropped ${dropped} packets as unauthenticated; the phones sent ${notSrtp} that are not SRTP under their key`,
    );

    // A phone that offers plain RTP is refused by the policy: 488 with a Warning.
    const plainCall = await c.command('dial', `sip:bob@${DOMAIN}`);
    assert.ok(plainCall.ok, `dial: ${plainCall.data}`);
    const closed = await c.waitForEvent((e) => e.type === 'CALL_CLOSED', 'CALL_CLOSED');
    const refusal = c.tracedMessages(closed.id!).find((m) => /^SIP\/2\.0 488 /m.test(m));
    assert.ok(refusal, `carol's call was not refused 488:\n${c.tracedMessages(closed.id!).join('\n')}`);
    assert.match(refusal, /^Warning: 303 sipwarden "encrypted media required: [^"]*RTP\/AVP/m);
    // The refusal is a policy event naming the rule (the event store writes in the background).
    let events = '';
    for (let tries = 0; tries < 50 && !events.includes('srtp-only'); tries++) {
      events = JSON.stringify(await sipwarden.client().request<unknown>('GET', '/api/events?type=policy'));
      if (!events.includes('srtp-only')) await sleep(100);
    }
    assert.match(events, /"rule":"srtp-only"/);
  } finally {
    for (const phone of phones) await phone.stop();
    await sipwarden.stop();
    await kamailio.stop();
  }
});

/**
 * The built-in RTP relay with two real phones: Debian's baresip, registered through
 * sipwarden (its defaults: the relay on) to Kamailio as registrar, call each other. The call
 * passes sipwarden twice (phone, sipwarden, Kamailio, sipwarden, phone) and is relayed on
 * both legs. tshark on lo counts the RTP each phone is sent from sipwarden's relay ports:
 * audio arrives at both ends; the callee's INVITE names sipwarden's relay, not the caller;
 * the relay's metrics show the packets forwarded and no stream left after the hang-up.
 *
 * Each phone binds its own loopback address. Loopback only, free ports, every process
 * stopped by its pid.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type BaresipEvent, baresipAvailable, startBaresip } from '../harness/baresip.ts';
import { startKamailio } from '../harness/kamailio.ts';
import { freePort } from '../harness/ports.ts';
import { startProcess, stopAll } from '../harness/process.ts';
import { sipwardenAvailable, startSipwarden } from '../harness/sipwarden.ts';

after(() => stopAll());

const HOST = '127.0.0.1';
const PHONE_A = '127.0.0.51';
const PHONE_B = '127.0.0.52';
const DOMAIN = 'relay.test';

const skip = !baresipAvailable()
  ? 'baresip is not installed (scripts/install-test-deps.sh installs it)'
  : !sipwardenAvailable()
    ? 'bin/sipwarden.js is not in this checkout'
    : false;

const isCall = (type: string, callId: string) => (event: BaresipEvent) =>
  event.type === type && event.id === callId;

/** Packets tshark saw sent to `port` (one destination port per line of its output). */
function countTo(capture: string, port: number): number {
  return capture.split('\n').filter((line) => line.trim() === String(port)).length;
}

/** The audio port a phone's own description names, in the first traced message matching `start`. */
function audioPort(messages: readonly string[], start: RegExp): number {
  const message = messages.find((m) => start.test(m) && /^m=audio /m.test(m));
  assert.ok(message, `no description matching ${start}`);
  return Number(/^m=audio (\d+) /m.exec(message)![1]);
}

/** The admin token of the sipwarden under test: /metrics needs one over HTTP. */
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

test('two baresip phones call through sipwarden and Kamailio: audio counted at both ends, relayed on both legs', {
  skip,
}, async () => {
  const kamailioPort = await freePort();
  const kamailio = await startKamailio({ variant: 'registrar', port: kamailioPort });
  const port = await freePort();
  const apiPort = await freePort(HOST, ['tcp']);
  const base = 40_000 + 2 * Math.floor(Math.random() * 3900);
  const sipwarden = await startSipwarden({
    port,
    upstream: { host: HOST, port: kamailioPort },
    config: {
      management: { port: apiPort },
      media: {
        relay: {
          client: { portMin: base, portMax: base + 99 },
          upstream: { portMin: base + 100, portMax: base + 199 },
        },
      },
    },
    extraArgs: ['--log-level', 'warn'],
  });
  const api = `http://${HOST}:${apiPort}`;
  token = await sipwarden.apiToken();
  const a = await startBaresip({ name: 'baresip-alice', host: PHONE_A });
  const b = await startBaresip({ name: 'baresip-bob', host: PHONE_B });
  try {
    const account = (user: string) =>
      [
        `<sip:${user}@${DOMAIN}>`,
        `outbound="sip:${HOST}:${port}"`,
        'answermode=auto',
        'regint=300',
        'audio_codecs=pcmu',
      ].join(';');
    await a.addAccount(account('alice'));
    await b.addAccount(account('bob'));
    // Every datagram from the relay's client-side ports (RTP to the phones), by destination port:
    // a phone's media may leave from another loopback address than its own (the kernel picks).
    const tshark = startProcess(
      'tshark',
      [
        '-i',
        'lo',
        '-l',
        '-n',
        '-f',
        `udp and src portrange ${base}-${base + 99}`,
        '-T',
        'fields',
        '-e',
        'udp.dstport',
      ],
      { name: 'tshark' },
    );
    await tshark.waitFor(/Capturing on/, 15_000, 'stderr');
    const dialled = await a.command('dial', `sip:bob@${DOMAIN}`);
    assert.ok(dialled.ok, `dial: ${dialled.data}`);
    const established = await b.waitForEvent((e) => e.type === 'CALL_ESTABLISHED', 'CALL_ESTABLISHED');
    const callId = established.id!;
    await a.waitForEvent(isCall('CALL_ESTABLISHED', callId), 'CALL_ESTABLISHED');
    // Two seconds of 20 ms audio each way (about 100 packets).
    await sleep(2000);
    await tshark.stop();
    const atA = countTo(tshark.stdout(), audioPort(a.tracedMessages(callId), /^INVITE /m));
    const atB = countTo(tshark.stdout(), audioPort(b.tracedMessages(callId), /^SIP\/2\.0 200 /m));
    assert.ok(atA >= 50, `alice was sent ${atA} packets by the relay`);
    assert.ok(atB >= 50, `bob was sent ${atB} packets by the relay`);
    // Bob was offered sipwarden's relay port (client side), not alice's address.
    const invite = b.tracedMessages(callId).find((m) => /^INVITE /m.test(m));
    assert.ok(invite, "no INVITE in bob's trace");
    const port0 = Number(/^m=audio (\d+) /m.exec(invite)?.[1]);
    assert.ok(port0 >= base && port0 <= base + 99, `bob's offer names port ${port0}:\n${invite}`);
    assert.ok(!invite.includes(`c=IN IP4 ${PHONE_A}\r`), `alice's address reached bob:\n${invite}`);
    assert.doesNotMatch(invite, /a=candidate/);
    // Both legs relay: four streams' worth of packets, at least what the phones received.
    const forwarded = await metric(api, 'sipwarden_media_packets_forwarded_total');
    assert.ok(forwarded >= 2 * (atA + atB) * 0.9, `relay forwarded ${forwarded}`);
    assert.equal(await metric(api, 'sipwarden_media_streams'), 2);
    const hungUp = await a.command('hangup');
    assert.ok(hungUp.ok, `hangup: ${hungUp.data}`);
    await b.waitForEvent(isCall('CALL_CLOSED', callId), 'CALL_CLOSED');
    const deadline = Date.now() + 5000;
    while ((await metric(api, 'sipwarden_media_streams')) !== 0 && Date.now() < deadline) await sleep(100);
    assert.equal(await metric(api, 'sipwarden_media_streams'), 0, 'the streams closed with the dialog');
    assert.equal(await metric(api, 'sipwarden_media_ports_open'), 0);
    assert.equal(await metric(api, 'sipwarden_media_injection_dropped_total'), 0);
  } finally {
    await a.stop();
    await b.stop();
    await sipwarden.stop();
    await kamailio.stop();
  }
});

/**
 * Calls over TLS between two real SIP phones (Debian's baresip) that both registered through
 * sipwarden, with Kamailio as the registrar behind it honouring Path (RFC 3327): phone A ->
 * sipwarden (TLS) -> Kamailio -> sipwarden (along the Path added at REGISTER) -> phone B
 * (TLS). The dialog passes sipwarden twice with one Call-ID and tag pair (a spiral). The
 * UDP and TCP cases, with sipp as the phones, are in spiral.test.ts; sipp has no TLS here.
 *
 * Each phone is a headless baresip bound to its own loopback address (127.0.0.21, .22: its
 * listening sockets, Via and Contact), registering over TLS to sipwarden's TLS listener, which
 * relays to Kamailio over UDP (sipwarden's defaults otherwise). baresip's SIP stack (libre)
 * does not bind the connections it opens, so both phones' TLS connections come from
 * 127.0.0.1: on a stream a party is its connection, and the two phones hold one each.
 *
 * The phones answer by themselves (answermode=auto) unless a case lets B ring; the test
 * dials, hangs up and re-INVITEs through their control sockets and reads their events:
 * CALL_ESTABLISHED on both sides (the callee's once the caller's ACK reached it), then
 * CALL_CLOSED, whose reason on the far side ("Connection reset by peer") says that the BYE
 * (or the CANCEL) reached it. Kamailio logs each in-dialog request it relayed along the route
 * set, and the sender's SIP trace holds the answer that came back. A BYE forged from a third
 * address (127.0.0.23, over TLS, with the call's Call-ID and tags read from the caller's own
 * SIP trace, and a higher CSeq) must get 481, reach neither phone, and leave the call to end
 * with its real BYE.
 *
 * Loopback only, free ports, every process stopped by its pid.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { after, afterEach, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from 'node:tls';
import { type Baresip, type BaresipEvent, baresipAvailable, startBaresip } from './harness/baresip.ts';
import { type CertificateFiles, selfSignedCertificate } from './harness/certs.ts';
import { type Kamailio, startKamailio } from './harness/kamailio.ts';
import { freePort, waitForListening } from './harness/ports.ts';
import { stopAll } from './harness/process.ts';
import { type Sipwarden, sipwardenAvailable, startSipwarden } from './harness/sipwarden.ts';
import { tempDir } from './harness/workdir.ts';

after(() => stopAll());

const HOST = '127.0.0.1';
const PHONE_A = '127.0.0.21';
const PHONE_B = '127.0.0.22';
const FORGER = '127.0.0.23';
const DOMAIN = 'spiral.test';
/** What baresip gives as the reason of a call the far end ended with a BYE. */
const CLOSED_BY_PEER = 'Connection reset by peer';
/** ... and of a call it ended itself (hangup). */
const CLOSED_BY_USER = 'Connection reset by user';
/** Bound on the forged BYE's answer (bytes kept from the connection). */
const MAX_ANSWER_BYTES = 16 * 1024;

const skip = !baresipAvailable()
  ? 'baresip is not installed (scripts/install-test-deps.sh installs it)'
  : !sipwardenAvailable()
    ? 'bin/sipwarden.js is not in this checkout'
    : false;

interface Phone {
  readonly user: string;
  readonly baresip: Baresip;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The value of the first `name` header of a traced message (without its line end). */
function headerOf(message: string, name: string): string {
  const match = new RegExp(`^${name}:[ \\t]*([^\\r\\n]+)`, 'im').exec(message);
  assert.ok(match, `no ${name} header in\n${message}`);
  return match[1]!.trim();
}

const isCall = (type: string, callId: string) => (event: BaresipEvent) =>
  event.type === type && event.id === callId;

describe('calls over TLS between two baresip phones registered through sipwarden, Kamailio as registrar (a spiral)', () => {
  let certificate: CertificateFiles;
  let kamailio: Kamailio;
  let sipwarden: Sipwarden;
  let tlsPort: number;
  let cases = 0;
  const phones: Phone[] = [];

  before(async () => {
    if (skip) return;
    certificate = selfSignedCertificate(tempDir('spiral-tls-cert'));
    const kamailioPort = await freePort();
    kamailio = await startKamailio({ variant: 'registrar', port: kamailioPort, dialogLog: true });
    const port = await freePort();
    tlsPort = await freePort(HOST, ['tcp']);
    sipwarden = await startSipwarden({
      port,
      upstream: { host: HOST, port: kamailioPort },
      config: {
        listen: [
          { host: HOST, port, transports: ['udp', 'tcp'] },
          { host: HOST, port: tlsPort, transports: ['tls'] },
        ],
        tls: { cert: certificate.certPath, key: certificate.keyPath },
        upstream: { host: HOST, port: kamailioPort, transport: 'udp' },
      },
      extraArgs: ['--log-level', 'warn'],
    });
    await waitForListening(tlsPort, ['tcp'], 10000);
  });

  afterEach(async () => {
    await Promise.all(phones.splice(0).map((phone) => phone.baresip.stop()));
  });

  after(async () => {
    await sipwarden?.stop();
    await kamailio?.stop();
  });

  /** A phone on `host`, registered over TLS through sipwarden (it trusts sipwarden's certificate). */
  async function phone(name: string, host: string, answermode: 'auto' | 'manual'): Promise<Phone> {
    const user = `${name}${cases}`;
    const baresip = await startBaresip({ name: `baresip-${user}`, host, caFile: certificate.certPath });
    phones.push({ user, baresip });
    await baresip.addAccount(
      [
        `<sip:${user}@${DOMAIN};transport=tls>`,
        // Every request, REGISTER included, goes to sipwarden's TLS listener.
        `outbound="sip:${HOST}:${tlsPort};transport=tls"`,
        `answermode=${answermode}`,
        'regint=300',
        'audio_codecs=pcmu',
      ].join(';'),
    );
    return { user, baresip };
  }

  /** Both phones, on their own addresses, registered; B answers by itself unless told otherwise. */
  async function twoPhones(bAnswers: 'auto' | 'manual' = 'auto'): Promise<{ a: Phone; b: Phone }> {
    cases++;
    return { a: await phone('a', PHONE_A, 'auto'), b: await phone('b', PHONE_B, bAnswers) };
  }

  /** `caller` dials `callee`, who answers by itself; resolves with the Call-ID once both are in the call. */
  async function call(caller: Phone, callee: Phone): Promise<string> {
    const dialled = await caller.baresip.command('dial', `sip:${callee.user}@${DOMAIN}`);
    assert.ok(dialled.ok, `dial: ${dialled.data}`);
    // The callee's call is established when the caller's ACK reaches it.
    const established = await callee.baresip.waitForEvent(
      (e) => e.type === 'CALL_ESTABLISHED',
      'CALL_ESTABLISHED',
    );
    const callId = established.id;
    assert.ok(callId, 'CALL_ESTABLISHED without a Call-ID');
    await caller.baresip.waitForEvent(isCall('CALL_ESTABLISHED', callId), 'CALL_ESTABLISHED');
    return callId;
  }

  /** Resolves once `phone`'s trace holds a message of `callId` that `match` accepts (bounded wait). */
  async function traced(phone: Phone, callId: string, match: (message: string) => boolean, what: string) {
    for (let i = 0; i < 100; i++) {
      const found = phone.baresip.tracedMessages(callId).find(match);
      if (found !== undefined) return found;
      await sleep(50);
    }
    assert.fail(`no ${what} in ${phone.user}'s SIP trace\n${phone.baresip.process.tail()}`);
  }

  const response = (status: number, method: string) => (message: string) =>
    new RegExp(`^SIP/2\\.0 ${status} `, 'm').test(message) &&
    new RegExp(`^CSeq:\\s*\\d+ ${method}\\s*$`, 'im').test(message);

  /** Waits for Kamailio's log line of a request it relayed along the route set ({type CSeq Call-ID} prefix). */
  function kamailioRelayed(method: string, callId: string): Promise<void> {
    return kamailio.process.waitFor(
      new RegExp(
        `\\{1 \\d+ ${method} ${escapeRegExp(callId)}\\} <script>: sw-interop: loose-route ${method}`,
      ),
      5000,
      'stderr',
    );
  }

  /** `from` hangs up; its BYE must reach `to` (through sipwarden twice and Kamailio) and be answered. */
  async function hangUp(from: Phone, to: Phone, callId: string): Promise<void> {
    const hungUp = await from.baresip.command('hangup');
    assert.ok(hungUp.ok, `hangup: ${hungUp.data}`);
    const near = await from.baresip.waitForEvent(isCall('CALL_CLOSED', callId), 'CALL_CLOSED');
    assert.equal(near.param, CLOSED_BY_USER);
    const far = await to.baresip.waitForEvent(isCall('CALL_CLOSED', callId), 'CALL_CLOSED');
    assert.equal(far.param, CLOSED_BY_PEER, `${to.user}'s call ended otherwise than by the BYE`);
    await kamailioRelayed('BYE', callId);
    await traced(from, callId, response(200, 'BYE'), '200 to the BYE');
  }

  test('A calls B, B answers, A hangs up', { skip }, async () => {
    const { a, b } = await twoPhones();
    const callId = await call(a, b);
    await hangUp(a, b, callId);
  });

  test('B calls A, A answers, B hangs up', { skip }, async () => {
    const { a, b } = await twoPhones();
    const callId = await call(b, a);
    await hangUp(b, a, callId);
  });

  test('A calls B, B answers, B hangs up', { skip }, async () => {
    const { a, b } = await twoPhones();
    const callId = await call(a, b);
    await hangUp(b, a, callId);
  });

  test('B calls A, A answers, A hangs up', { skip }, async () => {
    const { a, b } = await twoPhones();
    const callId = await call(b, a);
    await hangUp(a, b, callId);
  });

  test('A re-INVITEs B during the call, then hangs up', { skip }, async () => {
    const { a, b } = await twoPhones();
    const callId = await call(a, b);
    const reinvited = await a.baresip.command('reinvite');
    assert.ok(reinvited.ok, `reinvite: ${reinvited.data}`);
    // B takes the new offer (its second) and A gets the answer: the re-INVITE went both ways.
    const offers = () =>
      b.baresip.allEvents().filter((e) => isCall('CALL_REMOTE_SDP', callId)(e) && e.param === 'offer').length;
    await b.baresip.waitForEvent(() => offers() === 2, 'the re-INVITE offer (its second)');
    const okToReinvite = (m: string) =>
      response(200, 'INVITE')(m) && !m.includes(`CSeq: ${inviteCSeq(a, callId)} `);
    await traced(a, callId, okToReinvite, '200 to the re-INVITE');
    await kamailioRelayed('INVITE', callId);
    await hangUp(a, b, callId);
  });

  test('A cancels its call while B is ringing', { skip }, async () => {
    const { a, b } = await twoPhones('manual');
    const dialled = await a.baresip.command('dial', `sip:${b.user}@${DOMAIN}`);
    assert.ok(dialled.ok, `dial: ${dialled.data}`);
    const incoming = await b.baresip.waitForEvent((e) => e.type === 'CALL_INCOMING', 'CALL_INCOMING');
    const callId = incoming.id;
    assert.ok(callId, 'CALL_INCOMING without a Call-ID');
    await a.baresip.waitForEvent(isCall('CALL_RINGING', callId), 'CALL_RINGING');
    const hungUp = await a.baresip.command('hangup');
    assert.ok(hungUp.ok, `hangup: ${hungUp.data}`);
    const closed = await b.baresip.waitForEvent(isCall('CALL_CLOSED', callId), 'CALL_CLOSED');
    assert.equal(closed.param, CLOSED_BY_PEER);
    await traced(a, callId, response(200, 'CANCEL'), '200 to the CANCEL');
    await traced(a, callId, response(487, 'INVITE'), '487 to the INVITE');
    assert.equal(b.baresip.allEvents().filter(isCall('CALL_ESTABLISHED', callId)).length, 0);
  });

  test('a BYE forged over TLS from a third address gets 481, and the call goes on to its real BYE', {
    skip,
  }, async () => {
    const { a, b } = await twoPhones();
    const callId = await call(a, b);
    // The dialog as the caller saw it: its INVITE's 2xx carries both tags.
    const ok = await traced(a, callId, response(200, 'INVITE'), '200 to the INVITE');
    // Above the caller's next CSeq: were it kept, the real BYE would be refused as out of order.
    const forgedCSeq = inviteCSeq(a, callId) + 100;
    const answer = await sendOverTls(FORGER, [
      `BYE sip:${b.user}@${PHONE_B} SIP/2.0`,
      `Via: SIP/2.0/TLS ${FORGER}:5061;branch=z9hG4bK-forged-${cases}`,
      'Max-Forwards: 70',
      `From: ${headerOf(ok, 'From')}`,
      `To: ${headerOf(ok, 'To')}`,
      `Call-ID: ${callId}`,
      `CSeq: ${forgedCSeq} BYE`,
      'Content-Length: 0',
    ]);
    // "Not A Party": the dialog exists and the forger is none of its parties.
    assert.equal(answer.split('\r\n')[0], 'SIP/2.0 481 Not A Party Of This Dialog', answer);
    assert.equal(headerOf(answer, 'Call-ID'), callId);
    // The forged BYE reached neither phone nor ended the call.
    for (const phone of [a, b]) {
      assert.equal(phone.baresip.allEvents().filter(isCall('CALL_CLOSED', callId)).length, 0);
      assert.ok(
        !phone.baresip.tracedMessages(callId).some((m) => m.includes(`CSeq: ${forgedCSeq} BYE`)),
        `the forged BYE reached ${phone.user}`,
      );
    }
    await hangUp(a, b, callId);
  });

  /** The CSeq number of the INVITE that `caller` sent to set up call `callId`. */
  function inviteCSeq(caller: Phone, callId: string): number {
    const invite = caller.baresip.tracedMessages(callId).find((m) => /^INVITE /m.test(m));
    assert.ok(invite, `no INVITE in ${caller.user}'s SIP trace`);
    return Number(headerOf(invite, 'CSeq').split(/\s+/)[0]);
  }

  /** Opens a TLS connection from `localAddress` to sipwarden, sends one request, resolves with the answer's head. */
  function sendOverTls(localAddress: string, lines: string[]): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      // The TCP connection from the forger's own address, then TLS over it (sipwarden's certificate checked).
      const tcp = createConnection({ host: HOST, port: tlsPort, localAddress });
      const socket = connect({ socket: tcp, host: HOST, ca: readFileSync(certificate.certPath) });
      tcp.once('error', (error) => socket.destroy(error));
      let received = '';
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`no answer to the forged BYE within 5000 ms; have: ${received}`));
      }, 5000);
      socket.setEncoding('latin1');
      socket.once('secureConnect', () => socket.write(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'));
      socket.on('data', (chunk: string) => {
        received = (received + chunk).slice(0, MAX_ANSWER_BYTES);
        const end = received.indexOf('\r\n\r\n');
        if (end < 0) return;
        clearTimeout(timer);
        socket.destroy();
        resolve(received.slice(0, end + 2));
      });
      socket.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
  }
});

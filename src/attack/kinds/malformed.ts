/**
 * malformed: a mutation fuzzer. Seeds are valid requests (OPTIONS, INVITE with SDP,
 * REGISTER, MESSAGE, BYE); each message sent is a seed broken by one mutation
 * (mutations.ts), chosen by a seeded generator so a run can be replayed. Every message is
 * judged by the project's own strict parser and validator first: only those it refuses
 * count as malformed. After each --batch, an observer at another address checks that the
 * target still answers OPTIONS; if it does not, the run stops and reports the messages of
 * that batch (with --batch 1: the very message). A target "accepts" a malformed message
 * when it answers it with a 1xx other than 100 or a 2xx; with our own callee behind the
 * target (--uas), malformed messages that reach the callee are counted too.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { parseMessage } from '../../sip/parse.ts';
import { validateMessage } from '../../sip/validate.ts';
import {
  achievedRate,
  type CommonOptions,
  DEFAULT_ANSWER_WAIT_MS,
  sourcesOf,
  waitForAnswers,
} from '../context.ts';
import { MAX_MUTATED_BYTES, MUTATIONS } from '../mutations.ts';
import { pace } from '../pacer.ts';
import { Random } from '../random.ts';
import type { AttackReport, JsonValue } from '../report.ts';
import { MAGIC_COOKIE, requestText, sdpOffer, sipUri } from '../sip-text.ts';
import { seqFromBranch, Tally } from '../tally.ts';
import { type Endpoint, formatEndpoint } from '../target.ts';
import { SipEndpoint } from '../ua/endpoint.ts';
import { legitAddress } from './tcp-exhaust.ts';
import { type CalleeChoice, openCallee } from './third-party.ts';

export interface MalformedOptions extends CommonOptions, CalleeChoice {
  /** Messages between liveness checks. */
  readonly batch: number;
}

const SEED_METHODS = ['OPTIONS', 'INVITE', 'REGISTER', 'MESSAGE', 'BYE'] as const;
const LIVENESS_TIMEOUT_MS = 2000;
/** Messages of a failed batch kept in the report. */
const MAX_REPORTED = 20;

export interface SentMutation {
  readonly seq: number;
  readonly mutation: string;
  readonly malformed: boolean;
  readonly bytes: number;
  /** The first bytes, escaped: enough to recognise and replay the message. */
  readonly excerpt: string;
}

/** Printable, bounded: control bytes and non-ASCII as \xNN. */
export function escapeExcerpt(text: string, max = 160): string {
  let out = '';
  for (let i = 0; i < text.length && out.length < max; i++) {
    const code = text.charCodeAt(i);
    if (code === 0x0d) out += '\\r';
    else if (code === 0x0a) out += '\\n';
    else if (code < 0x20 || code > 0x7e || code === 0x5c) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else out += text[i];
  }
  return text.length > max ? `${out}...` : out;
}

/** True when the project's parser or validator refuses the message. */
export function isMalformed(data: Buffer): boolean {
  const parsed = parseMessage(data);
  return !parsed.ok || !validateMessage(parsed.message).ok;
}

/** A valid request of `method` to the target, the seed a mutation breaks. */
export function seedMessage(
  method: string,
  target: Endpoint,
  via: { host: string; port: number; branch: string },
  random: Random,
): string {
  const user = String(100 + random.int(900));
  return requestText({
    method,
    requestUri: sipUri(method === 'REGISTER' ? undefined : user, target.address, target.port),
    via,
    from: sipUri('fuzz', target.address),
    fromTag: random.token(8),
    to: sipUri(user, target.address),
    ...(method === 'BYE' ? { toTag: random.token(8) } : {}),
    callId: `${random.token(16)}@${via.host}`,
    cseq: 1 + random.int(100),
    contact: sipUri('fuzz', via.host, via.port),
    userAgent: 'sipwarden-fuzz',
    ...(method === 'INVITE' ? { body: sdpOffer(via.host, 30000, 1) } : {}),
    ...(method === 'MESSAGE' ? { body: 'hello', contentType: 'text/plain' } : {}),
    ...(method === 'REGISTER' ? { expires: 60 } : {}),
  });
}

export async function runMalformed(options: MalformedOptions): Promise<AttackReport> {
  const { target, limits } = options;
  const random = new Random(options.seed);
  const runId = random.token(6);
  const branchPrefix = `${MAGIC_COOKIE}${runId}-`;
  const range = sourcesOf(options);
  const opened = await openCallee(options);
  const callee = opened.callee;
  // A shared callee has counted before this run: only what arrives now is ours.
  const malformedBefore = callee?.malformed ?? 0;
  const closers: (() => void)[] = [() => opened.release()];
  try {
    const fuzzer = await SipEndpoint.bind(range.at(0));
    closers.push(() => fuzzer.close());
    const observer = await SipEndpoint.bind(legitAddress(range));
    closers.push(() => observer.close());
    const tally = new Tally(limits.count);
    const sent: SentMutation[] = [];
    const byMutation: Record<string, number> = {};
    let malformedCount = 0;
    const acceptedSeqs = new Set<number>();
    const acceptedExamples: SentMutation[] = [];
    let stopped: { afterBatch: number; messages: SentMutation[]; recovered: boolean } | undefined;
    let livenessChecks = 0;

    fuzzer.onAnyResponse = (response) => {
      const seq = seqFromBranch(response.via[0]?.branch, branchPrefix);
      tally.answer(seq, response.status);
      if (seq === undefined) return;
      const info = sent[seq];
      const acceptsIt =
        (response.status > 100 && response.status < 200) || (response.status >= 200 && response.status < 300);
      if (info?.malformed && acceptsIt && !acceptedSeqs.has(seq)) {
        acceptedSeqs.add(seq);
        if (acceptedExamples.length < 10) acceptedExamples.push(info);
      }
    };

    const alive = async (): Promise<boolean> => {
      livenessChecks++;
      const branch = `${MAGIC_COOKIE}live${random.token(10)}`;
      const text = requestText({
        method: 'OPTIONS',
        requestUri: sipUri(undefined, target.address, target.port),
        via: { host: observer.address, port: observer.port, branch },
        from: sipUri('observer', target.address),
        fromTag: random.token(8),
        to: sipUri(undefined, target.address),
        callId: random.token(16),
        cseq: 1,
      });
      const exchange = await observer.request(text, target, {
        branch,
        method: 'OPTIONS',
        timeoutMs: LIVENESS_TIMEOUT_MS,
      });
      return exchange.final !== undefined;
    };

    const started = performance.now();
    const startedAt = new Date().toISOString();
    const initiallyAlive = await alive();
    let batchStart = 0;
    const paced = await pace(
      { ...limits, batch: 1, ...(options.signal ? { signal: options.signal } : {}) },
      async (seq) => {
        const mutation = MUTATIONS[random.int(MUTATIONS.length)]!;
        const method = random.pick(SEED_METHODS);
        const seed = seedMessage(
          method,
          target,
          { host: fuzzer.address, port: fuzzer.port, branch: `${branchPrefix}${seq}` },
          random,
        );
        const text = mutation.apply(seed, random).slice(0, MAX_MUTATED_BYTES);
        const data = Buffer.from(text, 'latin1');
        const malformed = isMalformed(data);
        if (malformed) malformedCount++;
        byMutation[mutation.name] = (byMutation[mutation.name] ?? 0) + 1;
        sent[seq] = {
          seq,
          mutation: mutation.name,
          malformed,
          bytes: data.length,
          excerpt: escapeExcerpt(text),
        };
        tally.sentOne(seq);
        fuzzer.send(data, target);
        if ((seq + 1) % options.batch !== 0 && seq + 1 < limits.count) return undefined;
        // End of a batch: does the target still answer?
        if (!initiallyAlive) return undefined;
        if (await alive()) {
          batchStart = seq + 1;
          return undefined;
        }
        await sleep(1000);
        const recovered = await alive();
        stopped = {
          afterBatch: Math.floor(seq / options.batch) + 1,
          messages: sent.slice(batchStart, seq + 1).slice(-MAX_REPORTED),
          recovered,
        };
        return false;
      },
    );
    await waitForAnswers(
      Math.min(options.answerWaitMs ?? DEFAULT_ANSWER_WAIT_MS, 1000),
      () => false,
      options.signal,
    );
    // Silence is the right answer to much of what a fuzzer sends: liveness, not silence, tells a block here.
    const { blockedAfter: _silence, ...answers } = tally.summary();
    const accepted = acceptedSeqs.size;
    const reachedCallee = (callee?.malformed ?? 0) - malformedBefore;
    const crashed = stopped !== undefined;
    const succeeded = crashed || accepted > 0 || reachedCallee > 0;
    const reasons: string[] = [];
    if (stopped) {
      reasons.push(
        `the target stopped answering after batch ${stopped.afterBatch} (message ${paced.sent})${stopped.recovered ? ', then recovered' : ''}`,
      );
    }
    if (accepted > 0) reasons.push(`it accepted ${accepted} malformed messages (1xx/2xx)`);
    if (reachedCallee > 0) reasons.push(`${reachedCallee} malformed messages reached the service behind it`);
    const outcome = !initiallyAlive
      ? 'the target did not answer OPTIONS before the run: nothing to check'
      : succeeded
        ? reasons.join('; ')
        : `the target answered throughout and accepted none of the ${malformedCount} malformed messages`;
    const asJson = (m: SentMutation): { [key: string]: JsonValue } => ({ ...m });
    return {
      kind: 'malformed',
      target: formatEndpoint(target),
      transport: 'udp',
      startedAt,
      seconds: Math.round((performance.now() - started) / 10) / 100,
      unit: 'message',
      rate: { asked: limits.rate, achieved: achievedRate(paced.sent, paced.elapsedMs) },
      sources: { count: 1, first: fuzzer.address, last: fuzzer.address },
      sendErrors: fuzzer.sendErrors,
      answers,
      succeeded: initiallyAlive && succeeded,
      applicable: initiallyAlive,
      outcome,
      details: {
        seed: random.seed,
        batch: options.batch,
        malformed: malformedCount,
        stillValid: paced.sent - malformedCount,
        accepted,
        reachedCallee,
        livenessChecks,
        byMutation,
        stoppedAnswering: stopped
          ? {
              afterBatch: stopped.afterBatch,
              recovered: stopped.recovered,
              messages: stopped.messages.map(asJson),
            }
          : null,
        acceptedExamples: acceptedExamples.map(asJson),
      },
      notes: [
        `judged    ${malformedCount} malformed by sipwarden's parser, ${paced.sent - malformedCount} still valid after mutation; ${livenessChecks} liveness checks from ${observer.address}`,
        ...(stopped
          ? [
              `stopped   after batch ${stopped.afterBatch}; its messages (replay with --seed ${random.seed}):`,
              ...stopped.messages.map((m) => `  #${m.seq} ${m.mutation} (${m.bytes} bytes): ${m.excerpt}`),
            ]
          : []),
        ...acceptedExamples
          .slice(0, 5)
          .map((m) => `accepted  #${m.seq} ${m.mutation}: ${m.excerpt.slice(0, 100)}`),
        ...(callee ? [`callee    ${reachedCallee} malformed messages reached our callee`] : []),
      ],
    };
  } finally {
    for (const close of closers.reverse()) close();
  }
}

/**
 * A flood sent by several worker threads at once (`--workers N`): the rate one thread can
 * reach is bounded by the cost of one send call, so the highest rates take several. Each
 * worker has its own share of the source addresses, count and rate (flood-worker.ts) and
 * sends prebuilt datagrams (flood-template.ts); the report merges theirs. The answers are
 * counted as in runFlood; judging by what reached our own callee (assess --uas) stays with
 * the single-thread flood.
 */
import { randomInt } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { achievedRate, DEFAULT_ANSWER_WAIT_MS, sourcesOf } from '../context.ts';
import { attackError } from '../errors.ts';
import type { PaceResult } from '../pacer.ts';
import { Random } from '../random.ts';
import { type AttackReport, plural, sourceSummary } from '../report.ts';
import { DEFAULT_MAX_SOURCES } from '../source-pool.ts';
import type { AnswerSummary } from '../tally.ts';
import { type Endpoint, formatEndpoint } from '../target.ts';
import { FLOOD_KIND, type FloodMethod, type FloodOptions } from './flood.ts';

/** The most worker threads one flood may use. */
export const MAX_FLOOD_WORKERS = 16;
/** The most requests one worker sends (its answer table: 2 bytes each). */
export const MAX_COUNT_PER_WORKER = 5_000_000;

export interface FloodWorkerInput {
  readonly worker: number;
  readonly workers: number;
  readonly method: FloodMethod;
  readonly target: Endpoint;
  /** The source range as text (parsed again in the worker). */
  readonly sources: string;
  /** Addresses of the range in use, all workers together. */
  readonly poolSize: number;
  /** Count, duration and rate of the whole flood (each worker takes its share). */
  readonly count: number;
  readonly durationMs: number;
  readonly rate: number;
  readonly seed: number;
  readonly runId: string;
  readonly answerWaitMs: number;
  readonly user?: string;
  readonly callId?: string;
  readonly userAgent?: string;
  readonly sendBufferBytes?: number;
}

export interface FloodWorkerOutput {
  readonly sent: number;
  readonly elapsedMs: number;
  readonly stoppedBy: PaceResult['stoppedBy'];
  readonly sourcesUsed: number;
  readonly sendErrors: number;
  readonly answers: AnswerSummary;
}

type WorkerReply = { ok: true; output: FloodWorkerOutput } | { ok: false; error: string };

/**
 * The worker, from the build (dist: flood-worker.js) or, run from TypeScript (tsx: tests,
 * benchmarks), through a bootstrap that registers tsx in the thread first (Node 20 does not
 * apply the parent's --import hooks before a worker's entry module is loaded).
 */
function startWorker(input: FloodWorkerInput): Worker {
  if (!import.meta.url.endsWith('.ts')) {
    return new Worker(new URL('./flood-worker.js', import.meta.url), { workerData: input });
  }
  const entry = new URL('./flood-worker.ts', import.meta.url).href;
  const tsx = import.meta.resolve('tsx/esm/api');
  const bootstrap = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(bootstrap, { eval: true, workerData: input });
}

function runWorker(input: FloodWorkerInput, signal: AbortSignal | undefined): Promise<FloodWorkerOutput> {
  return new Promise((resolve, reject) => {
    const worker = startWorker(input);
    let reply: WorkerReply | undefined;
    const onAbort = () => worker.postMessage('stop');
    signal?.addEventListener('abort', onAbort, { once: true });
    worker.on('message', (message: WorkerReply) => {
      reply = message;
    });
    worker.on('error', (error) => {
      reply ??= { ok: false, error: error.message };
    });
    worker.on('exit', () => {
      signal?.removeEventListener('abort', onAbort);
      if (reply?.ok) resolve(reply.output);
      else reject(attackError('SW_ERR_ATTACK_BIND', reply?.error ?? 'a flood worker ended without a report'));
    });
  });
}

function mergeAnswers(parts: readonly AnswerSummary[]): AnswerSummary {
  const byStatus: Record<string, number> = {};
  let sent = 0;
  let answered = 0;
  let provisionalOnly = 0;
  let silent = 0;
  let responses = 0;
  let unmatched = 0;
  for (const part of parts) {
    sent += part.sent;
    answered += part.answered;
    provisionalOnly += part.provisionalOnly;
    silent += part.silent;
    responses += part.responses;
    unmatched += part.unmatched;
    for (const [status, n] of Object.entries(part.byStatus)) byStatus[status] = (byStatus[status] ?? 0) + n;
  }
  // Silent after a while only when the target went silent for every worker's sources.
  const blocked = parts.length > 0 && parts.every((p) => p.blockedAfter !== undefined || p.sent === 0);
  const withBlock = parts.filter((p) => p.blockedAfter !== undefined);
  return {
    sent,
    answered,
    provisionalOnly,
    silent,
    byStatus,
    responses,
    unmatched,
    ...(blocked && withBlock.length > 0
      ? {
          blockedAfter: {
            messages: withBlock.reduce((n, p) => n + p.blockedAfter!.messages, 0),
            seconds: Math.max(...withBlock.map((p) => p.blockedAfter!.seconds)),
          },
        }
      : {}),
  };
}

export async function runFloodWorkers(
  options: FloodOptions & { readonly workers: number },
): Promise<AttackReport> {
  const { target, limits, method, workers } = options;
  if (!Number.isInteger(workers) || workers < 1 || workers > MAX_FLOOD_WORKERS) {
    throw attackError('SW_ERR_ATTACK_OPTION', `--workers ${workers}: must be 1..${MAX_FLOOD_WORKERS}`);
  }
  if (options.callee !== undefined) {
    throw attackError(
      'SW_ERR_ATTACK_OPTION',
      'a flood judged by its callee runs in one thread (no --workers)',
    );
  }
  const range = sourcesOf(options);
  const poolSize = Math.max(1, Math.min(range.size, options.maxSources ?? DEFAULT_MAX_SOURCES));
  // Fewer workers than addresses would leave a worker without a socket.
  const threads = Math.min(workers, poolSize, Math.max(1, limits.count));
  if (limits.count > threads * MAX_COUNT_PER_WORKER) {
    throw attackError(
      'SW_ERR_ATTACK_OPTION',
      `count ${limits.count}: at most ${MAX_COUNT_PER_WORKER} per worker (${threads} workers)`,
    );
  }
  const seed = options.seed ?? randomInt(0, 0x7fffffff);
  const runId = new Random(seed).token(8);
  const started = performance.now();
  const startedAt = new Date().toISOString();
  const outputs = await Promise.all(
    Array.from({ length: threads }, (_, worker) =>
      runWorker(
        {
          worker,
          workers: threads,
          method,
          target,
          sources: range.text,
          poolSize,
          count: limits.count,
          durationMs: limits.durationMs,
          rate: limits.rate,
          seed,
          runId,
          answerWaitMs: options.answerWaitMs ?? DEFAULT_ANSWER_WAIT_MS,
          ...(options.user === undefined ? {} : { user: options.user }),
          ...(options.callId === undefined ? {} : { callId: options.callId }),
          ...(options.userAgent === undefined ? {} : { userAgent: options.userAgent }),
          ...(options.sendBufferBytes === undefined ? {} : { sendBufferBytes: options.sendBufferBytes }),
        },
        options.signal,
      ),
    ),
  );
  const answers = mergeAnswers(outputs.map((o) => o.answers));
  const sent = answers.sent;
  const sendMs = Math.max(...outputs.map((o) => o.elapsedMs));
  const used = outputs.reduce((n, o) => n + o.sourcesUsed, 0);
  const addresses = used === 0 ? [] : [range.at(0), ...(used > 1 ? [range.at(used - 1)] : [])];
  let outcome: string;
  let succeeded: boolean;
  if (answers.blockedAfter) {
    succeeded = false;
    outcome = `the target went silent after ${answers.blockedAfter.messages} ${plural(method, answers.blockedAfter.messages)} (${answers.blockedAfter.seconds} s)`;
  } else if (answers.answered === 0) {
    succeeded = false;
    outcome = 'no answer at all: the target dropped every request, or nothing listens there';
  } else {
    succeeded = true;
    outcome = `the target answered the flood to the end (${answers.answered} of ${sent} requests)`;
  }
  const stoppedBy = outputs.some((o) => o.stoppedBy === 'stopped')
    ? 'stopped'
    : outputs.some((o) => o.stoppedBy === 'duration')
      ? 'duration'
      : 'count';
  return {
    kind: FLOOD_KIND[method],
    target: formatEndpoint(target),
    transport: 'udp',
    startedAt,
    seconds: Math.round((performance.now() - started) / 10) / 100,
    unit: method,
    rate: { asked: limits.rate, achieved: achievedRate(sent, sendMs) },
    sources: { ...sourceSummary(addresses), count: used },
    sendErrors: outputs.reduce((n, o) => n + o.sendErrors, 0),
    answers,
    succeeded,
    applicable: true,
    outcome,
    details: { seed, workers: threads, stoppedBy, sendSeconds: Math.round(sendMs) / 1000 },
    notes: [],
  };
}

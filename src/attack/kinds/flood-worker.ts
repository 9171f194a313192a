/**
 * One worker thread of a multi-worker flood (flood-workers.ts): its own share of the source
 * addresses, each with its own connected socket and a few prebuilt datagrams
 * (flood-template.ts), and its own share of the count and rate. Requests are numbered
 * across workers (worker w of n sends numbers w, w + n, w + 2n...), so every branch of the
 * run is distinct; answers are counted here and the summary posted to the parent.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { parseAddressRange } from '../address-range.ts';
import { readMessage, waitForAnswers } from '../context.ts';
import { buildTemplate, type FloodTemplate, stamp } from '../flood-template.ts';
import { pace } from '../pacer.ts';
import { Random } from '../random.ts';
import { ackForFailure, MAGIC_COOKIE } from '../sip-text.ts';
import { SourcePool } from '../source-pool.ts';
import { seqFromBranch, Tally } from '../tally.ts';
import type { FloodWorkerInput, FloodWorkerOutput } from './flood-workers.ts';

/** Prebuilt datagrams kept per worker at most (about 600 bytes each). */
const MAX_TEMPLATES = 16_384;
/** Datagrams per source, used in turn: a datagram still queued is not stamped again at once. */
const SLOTS_PER_SOURCE = 4;
/** Sends between two turns of the event loop (answers are read, time is checked). */
const BATCH = 256;

async function run(input: FloodWorkerInput): Promise<FloodWorkerOutput> {
  const { worker, workers, target, method } = input;
  const range = parseAddressRange(input.sources);
  const share = Math.floor((input.poolSize - 1 - worker) / workers) + 1;
  // This worker's addresses: worker, worker + n, worker + 2n... of the pool.
  const mine = {
    ...range,
    size: Math.max(0, share),
    at: (index: number) => range.at(worker + index * workers),
  };
  const count = Math.max(0, Math.ceil((input.count - worker) / workers));
  const tally = new Tally(Math.max(1, count));
  const prefix = `${MAGIC_COOKIE}${input.runId}-`;
  const random = new Random(input.seed + worker);
  const stop = new AbortController();
  parentPort?.on('message', (message: unknown) => {
    if (message === 'stop') stop.abort();
  });
  // Listening for 'stop' must not keep the thread alive once its sockets are closed.
  parentPort?.unref();
  const pool = new SourcePool({
    range: mine,
    maxSources: mine.size,
    connect: target,
    ...(input.sendBufferBytes === undefined ? {} : { sendBufferBytes: input.sendBufferBytes }),
    onMessage: (data, _from, source) => {
      const message = readMessage(data);
      if (message?.kind !== 'response') return tally.unreadable();
      const global = seqFromBranch(message.via[0]?.branch, prefix);
      const local =
        global === undefined || (global - worker) % workers !== 0 ? undefined : (global - worker) / workers;
      tally.answer(local, message.status);
      if (message.cseq.method === 'INVITE' && message.status >= 300 && local !== undefined) {
        pool.boundSocket(source)?.send(Buffer.from(ackForFailure(message, target), 'latin1'));
      }
    },
  });
  try {
    const used = Math.min(count, pool.size);
    await pool.open(used);
    const slots = Math.max(1, Math.min(SLOTS_PER_SOURCE, Math.floor(MAX_TEMPLATES / Math.max(1, used))));
    const templates: FloodTemplate[] = [];
    for (let source = 0; source < used; source++) {
      for (let slot = 0; slot < slots; slot++) {
        templates.push(
          buildTemplate(
            {
              method,
              target,
              address: pool.addressOf(source),
              port: pool.portOf(source),
              runId: input.runId,
              ...(input.user === undefined ? {} : { user: input.user }),
              ...(input.callId === undefined ? {} : { callId: input.callId }),
              ...(input.userAgent === undefined ? {} : { userAgent: input.userAgent }),
            },
            random,
          ),
        );
      }
    }
    const sockets = Array.from({ length: used }, (_, i) => pool.boundSocket(i)!);
    const paced = await pace(
      { count, durationMs: input.durationMs, rate: input.rate / workers, batch: BATCH, signal: stop.signal },
      (k) => {
        const source = k % used;
        const slot = Math.floor(k / used) % slots;
        tally.sentOne(k);
        // No callback: a failed send surfaces as the socket's 'error', counted by the pool.
        sockets[source]!.send(stamp(templates[source * slots + slot]!, worker + k * workers));
        return undefined;
      },
    );
    await waitForAnswers(
      input.answerWaitMs,
      () => {
        for (let i = 0; i < paced.sent; i++) if (tally.statusOf(i) < 200) return false;
        return true;
      },
      stop.signal,
    );
    return {
      sent: paced.sent,
      elapsedMs: paced.elapsedMs,
      stoppedBy: paced.stoppedBy,
      sourcesUsed: used,
      sendErrors: pool.sendErrors,
      answers: tally.summary(),
    };
  } finally {
    pool.close();
  }
}

const input = workerData as FloodWorkerInput;
run(input).then(
  (output) => parentPort?.postMessage({ ok: true, output }),
  (error: unknown) =>
    parentPort?.postMessage({ ok: false, error: error instanceof Error ? error.message : String(error) }),
);

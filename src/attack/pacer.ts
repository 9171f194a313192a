/**
 * The send loop every kind shares: calls `send(i)` for i = 0, 1, ... at `rate` per second
 * (0: as fast as possible, in batches, yielding to the event loop between them so answers
 * are read), and stops at `count` sends, after `durationMs`, or when told to stop.
 */
import { setTimeout as sleep, setImmediate as yieldNow } from 'node:timers/promises';

export interface PaceOptions {
  readonly count: number;
  readonly durationMs: number;
  readonly rate: number;
  /** Most sends per turn of the event loop; default 64. */
  readonly batch?: number;
  readonly signal?: AbortSignal;
}

export interface PaceResult {
  readonly sent: number;
  readonly elapsedMs: number;
  readonly stoppedBy: 'count' | 'duration' | 'stopped';
}

/**
 * `send` returns false to stop the run early (the kind has what it came for), or a promise
 * to wait for before the next send (serial kinds such as password guessing).
 */
export type SendOne = (index: number) => boolean | undefined | Promise<boolean | undefined>;

export async function pace(options: PaceOptions, send: SendOne): Promise<PaceResult> {
  const started = performance.now();
  const batch = options.batch ?? 64;
  const { count, durationMs, rate } = options;
  let sent = 0;
  const result = (stoppedBy: PaceResult['stoppedBy']): PaceResult => ({
    sent,
    elapsedMs: performance.now() - started,
    stoppedBy,
  });
  while (sent < count) {
    if (options.signal?.aborted) return result('stopped');
    const elapsed = performance.now() - started;
    if (elapsed >= durationMs) return result('duration');
    // How many sends are due by now: the first at once, then one every 1/rate s.
    const due = rate > 0 ? Math.min(count, Math.floor((elapsed * rate) / 1000) + 1) : count;
    if (sent >= due) {
      const nextAt = (sent * 1000) / rate;
      await sleep(Math.max(1, Math.min(50, nextAt - elapsed)));
      continue;
    }
    const end = Math.min(due, sent + batch);
    while (sent < end) {
      const outcome = send(sent);
      sent++;
      if (outcome instanceof Promise) {
        if ((await outcome) === false) return result('stopped');
      } else if (outcome === false) return result('stopped');
    }
    await yieldNow();
  }
  return result('count');
}

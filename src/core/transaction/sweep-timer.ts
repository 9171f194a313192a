/**
 * One timer for a table of deadlines: it stays armed for the earliest one asked for, so a
 * table of tens of thousands of entries costs one pending timer, not one per entry.
 */

/** How late past its time an entry may end, so that one sweep ends a batch (ms). */
const MAX_SLACK_MS = 250;

/** The lateness allowed for an entry that lingers `ms`: a sixteenth of it, at most 250 ms. */
export function sweepSlack(ms: number): number {
  return Math.min(MAX_SLACK_MS, Math.ceil(ms / 16));
}

export class SweepTimer {
  readonly #sweep: () => void;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  #at = Number.POSITIVE_INFINITY;

  /** `sweep` ends what is due and arms the timer again for what remains. */
  constructor(sweep: () => void, now: () => number) {
    this.#sweep = sweep;
    this.#now = now;
  }

  /** Makes sure a sweep runs by `at` (on the `now` clock). */
  arm(at: number): void {
    // A timer due no later than this will sweep and re-arm for what remains.
    if (this.#timer !== undefined && this.#at <= at) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#at = at;
    this.#timer = setTimeout(SweepTimer.#fire, Math.max(0, at - this.#now()), this);
    // The process may exit with entries still lingering.
    this.#timer.unref();
  }

  cancel(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#at = Number.POSITIVE_INFINITY;
  }

  static #fire = (timer: SweepTimer): void => {
    timer.#timer = undefined;
    timer.#at = Number.POSITIVE_INFINITY;
    timer.#sweep();
  };
}

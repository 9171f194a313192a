/**
 * A learned baseline for one global rate: "INVITEs per 10 s are normally about B; now there
 * are C". Kept simple enough to explain in an event:
 *
 * - time is cut into fixed windows of `windowMs`; the current window's count is kept;
 * - when a window closes, the baseline moves towards its count by `smoothing` (an
 *   exponentially weighted moving average: baseline += smoothing * (count - baseline)); a
 *   window with no traffic at all counts as 0;
 * - the threshold is `factor` x baseline, and never below `floor` (an absolute figure below
 *   which nothing is a flood, however quiet the night was);
 * - a window that went over its threshold feeds the baseline with the threshold, not its
 *   count, so that an attack raises what is normal only slowly.
 *
 * One instance per rule, in memory: a handful of numbers, not a per-key table.
 */

export interface BaselineSettings {
  readonly windowMs: number;
  readonly factor: number;
  readonly floor: number;
  /** Weight of the newest window in the average, 0..1. */
  readonly smoothing: number;
}

export interface BaselineReading {
  /** Count in the current window, this message included. */
  readonly count: number;
  /** The baseline learnt from the windows before. */
  readonly baseline: number;
  /** max(floor, factor x baseline). */
  readonly threshold: number;
}

/** Empty windows decayed at most this many times in one go (after that the baseline is 0 anyway). */
const MAX_DECAY_WINDOWS = 10_000;

export class BaselineRate {
  readonly settings: BaselineSettings;
  #index = Number.NaN;
  #count = 0;
  #baseline = 0;
  #learnt = false;

  constructor(settings: BaselineSettings) {
    this.settings = settings;
  }

  get baseline(): number {
    return this.#baseline;
  }

  threshold(): number {
    const s = this.settings;
    return Math.max(s.floor, s.factor * this.#baseline);
  }

  /** Counts one occurrence at `now` and reads the figures. */
  add(now: number): BaselineReading {
    const index = Math.floor(now / this.settings.windowMs);
    if (Number.isNaN(this.#index)) {
      this.#index = index;
    } else if (index > this.#index) {
      this.#close(index - this.#index - 1);
      this.#index = index;
    }
    // A clock step back counts in the current window.
    this.#count += 1;
    return { count: this.#count, baseline: this.#baseline, threshold: this.threshold() };
  }

  /** Folds the closed window, then `empty` windows without traffic, into the baseline. */
  #close(empty: number): void {
    const s = this.settings;
    const fed = Math.min(this.#count, this.threshold());
    this.#baseline = this.#learnt ? this.#baseline + s.smoothing * (fed - this.#baseline) : fed;
    this.#learnt = true;
    const decay = Math.min(empty, MAX_DECAY_WINDOWS);
    if (decay > 0) this.#baseline *= (1 - s.smoothing) ** decay;
    this.#count = 0;
  }
}

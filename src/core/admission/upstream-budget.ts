/**
 * The upstream's budget of new requests per second, exact over any sliding second: the
 * times of the last `perSecond` admissions are kept in a ring, and a request is admitted
 * only when fewer than its limit were admitted in the last 1000 ms (the limit-th newest
 * admission is older than that). Lower-priority requests have a lower limit (a share of
 * the budget), so the rest stays free for higher-priority ones: a flood of new requests
 * from untrusted sources can take its share and no more, while allowlisted peers,
 * authenticated sources and in-dialog requests still find room.
 */
export class UpstreamBudget {
  readonly #times: Float64Array;
  readonly #perSecond: number;
  readonly #lowLimit: number;
  #admitted = 0;

  /**
   * @param perSecond new requests the upstream may receive in any second, whatever their source
   * @param lowPercent the share of it (1..100) that low-priority requests may take
   */
  constructor(perSecond: number, lowPercent: number) {
    if (!Number.isSafeInteger(perSecond) || perSecond < 1)
      throw new RangeError('perSecond must be a positive integer');
    this.#perSecond = perSecond;
    this.#times = new Float64Array(perSecond);
    this.#lowLimit = Math.max(1, Math.floor((perSecond * Math.min(100, Math.max(1, lowPercent))) / 100));
  }

  /** Admits one request (and counts it) when its priority's limit allows; `now` in ms, monotonic. */
  take(highPriority: boolean, now: number): boolean {
    const limit = highPriority ? this.#perSecond : this.#lowLimit;
    if (this.#admitted >= limit) {
      // The limit-th newest admission: when it is still within the second, the limit is reached.
      const index = (this.#admitted - limit) % this.#perSecond;
      if (now - this.#times[index]! < 1000) return false;
    }
    this.#times[this.#admitted % this.#perSecond] = now;
    this.#admitted++;
    return true;
  }

  /** Admissions in the last second (for metrics and tests); O(budget), not for the hot path. */
  inLastSecond(now: number): number {
    let count = 0;
    const n = Math.min(this.#admitted, this.#perSecond);
    for (let i = 0; i < n; i++) if (now - this.#times[i]! < 1000) count++;
    return count;
  }
}

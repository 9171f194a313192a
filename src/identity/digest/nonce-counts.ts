/**
 * Nonce-count replay protection (RFC 7616 3.4: the server keeps the last nc it saw for each
 * nonce and refuses a request that does not count up). A captured request resent as it is,
 * or its credentials put on another request, carries an nc already seen and is refused for
 * as long as its nonce lives.
 *
 * Only a request whose response was verified against the user's password is recorded, so a
 * sender without a password cannot add an entry: the table holds what real users did. It is
 * still bounded. Room is made first from entries past their nonce's life (the nonce itself
 * is refused as stale then), else by forgetting the oldest entry; a forgotten count must not
 * open a replay, so the issue time of the newest nonce forgotten early becomes a floor: a
 * nonce issued at or before it that the table does not hold is refused as stale (its client
 * retries with a fresh nonce at the cost of one round trip).
 */

interface Count {
  nc: number;
  readonly issuedAt: number;
  readonly expiresAt: number;
}

export type CountCheck = 'counted' | 'replayed' | 'forgotten';

/** Expired entries removed per insertion at most: the work per request stays bounded. */
const SWEEP_PER_INSERT = 8;

export class NonceCounts {
  readonly #max: number;
  /** In order of first use (Map insertion order): the oldest first. */
  readonly #counts = new Map<string, Count>();
  #floor = Number.NEGATIVE_INFINITY;

  constructor(maxEntries: number) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1)
      throw new RangeError('maxEntries must be a positive integer');
    this.#max = maxEntries;
  }

  get size(): number {
    return this.#counts.size;
  }

  /**
   * Records `nc` for a verified nonce when it is above the last one seen for it:
   * `counted`; `replayed` when it is not; `forgotten` when the nonce's count may have been
   * dropped for room (see the module comment). Call only after the response was verified.
   */
  count(nonce: string, nc: number, issuedAt: number, expiresAt: number, now: number): CountCheck {
    const known = this.#counts.get(nonce);
    if (known !== undefined) {
      if (nc <= known.nc) return 'replayed';
      known.nc = nc;
      return 'counted';
    }
    if (issuedAt <= this.#floor) return 'forgotten';
    this.#makeRoom(now);
    this.#counts.set(nonce, { nc, issuedAt, expiresAt });
    return 'counted';
  }

  #makeRoom(now: number): void {
    let swept = 0;
    for (const [nonce, count] of this.#counts) {
      if (swept >= SWEEP_PER_INSERT || count.expiresAt >= now) break;
      this.#counts.delete(nonce);
      swept++;
    }
    while (this.#counts.size >= this.#max) {
      const [nonce, count] = this.#counts.entries().next().value as [string, Count];
      this.#counts.delete(nonce);
      if (count.expiresAt > now && count.issuedAt > this.#floor) this.#floor = count.issuedAt;
    }
  }
}

/**
 * The replay list of RFC 3711 section 3.3.2: a sliding window of the highest index
 * received and the WINDOW indices below it. An index older than the window, or one
 * already received, is a replay. The window is a fixed ring of flags: no allocation,
 * and the work per packet is bounded by the window size.
 */
export const REPLAY_WINDOW = 128;

export class ReplayWindow {
  /** The highest index accepted; -1 before the first. */
  #highest = -1;
  readonly #seen = new Uint8Array(REPLAY_WINDOW);

  get highest(): number {
    return this.#highest;
  }

  /** True when the index may be accepted (not seen, not too old). Changes nothing. */
  check(index: number): boolean {
    if (index > this.#highest) return true;
    if (this.#highest - index >= REPLAY_WINDOW) return false;
    return this.#seen[index % REPLAY_WINDOW] === 0;
  }

  /** Records an index that passed authentication. */
  accept(index: number): void {
    if (index > this.#highest) {
      // Slots between the old highest and the new one are for indices not received.
      const gap = Math.min(index - this.#highest, REPLAY_WINDOW);
      for (let i = 1; i < gap; i++) this.#seen[(index - i) % REPLAY_WINDOW] = 0;
      this.#highest = index;
    }
    this.#seen[index % REPLAY_WINDOW] = 1;
  }
}

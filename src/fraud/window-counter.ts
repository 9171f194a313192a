/**
 * A count over a sliding window in fixed slots (a ring): `slots` slots of `slotMs` each,
 * the oldest overwritten as time moves on. Calls per minute use 60 one-second slots, spend
 * velocity 60 one-minute slots of seconds. Constant memory; an amount can be taken back
 * (a call challenged by the upstream counts once, not again with its credentials).
 */
export class WindowCounter {
  readonly #values: Float64Array;
  readonly #slotMs: number;
  /** The slot index (time / slotMs) of the newest slot written. */
  #newest = 0;

  constructor(slots: number, slotMs: number) {
    this.#values = new Float64Array(slots);
    this.#slotMs = slotMs;
  }

  /** Clears the slots time has moved past since the newest write. */
  #advance(now: number): number {
    const index = Math.floor(now / this.#slotMs);
    const slots = this.#values.length;
    if (index > this.#newest) {
      const steps = Math.min(index - this.#newest, slots);
      for (let i = 1; i <= steps; i++) this.#values[(this.#newest + i) % slots] = 0;
      this.#newest = index;
    }
    return index;
  }

  /** Adds `amount` at `now` (negative to take back, never below zero in its slot). */
  add(now: number, amount = 1): void {
    const index = this.#advance(now);
    // A time older than the window (a clock step back) counts in the newest slot.
    const slot =
      (index < this.#newest - this.#values.length + 1 ? this.#newest : index) % this.#values.length;
    this.#values[slot] = Math.max(0, this.#values[slot]! + amount);
  }

  /** The sum over the window ending at `now`. */
  total(now: number): number {
    this.#advance(now);
    let sum = 0;
    for (const value of this.#values) sum += value;
    return sum;
  }
}

/**
 * The relay ports of one side: pairs of an even RTP port and the odd RTCP port above it
 * (RFC 3550 11), handed out from a configured range. A pair is the pool's until released;
 * a pair another process holds (its bind failed) is set aside for a while.
 */
export class PortPool {
  readonly #first: number;
  readonly #pairs: number;
  /** 0 free, 1 in use; a number above 1 is the time (ms) until which the pair is set aside. */
  readonly #state: Float64Array;
  #cursor = 0;
  #used = 0;

  constructor(portMin: number, portMax: number) {
    this.#first = portMin % 2 === 0 ? portMin : portMin + 1;
    this.#pairs = Math.max(0, Math.floor((portMax - this.#first + 1) / 2));
    this.#state = new Float64Array(this.#pairs);
    // A random start: two processes given the same range rarely pick the same pairs first.
    this.#cursor = this.#pairs === 0 ? 0 : Math.floor(Math.random() * this.#pairs);
  }

  get capacity(): number {
    return this.#pairs;
  }

  get used(): number {
    return this.#used;
  }

  /** An even port whose pair is free, or undefined when the range is exhausted. */
  take(now: number): number | undefined {
    for (let tried = 0; tried < this.#pairs; tried++) {
      const index = this.#cursor;
      this.#cursor = (this.#cursor + 1) % this.#pairs;
      const state = this.#state[index]!;
      if (state === 1 || state > now) continue;
      this.#state[index] = 1;
      this.#used++;
      return this.#first + index * 2;
    }
    return undefined;
  }

  release(port: number): void {
    const index = this.#index(port);
    if (index === undefined || this.#state[index] !== 1) return;
    this.#state[index] = 0;
    this.#used--;
  }

  /** The pair could not be bound (another process has it): not offered again until `until`. */
  setAside(port: number, until: number): void {
    const index = this.#index(port);
    if (index === undefined) return;
    if (this.#state[index] === 1) this.#used--;
    this.#state[index] = Math.max(2, until);
  }

  #index(port: number): number | undefined {
    const offset = port - this.#first;
    if (offset < 0 || offset % 2 !== 0 || offset / 2 >= this.#pairs) return undefined;
    return offset / 2;
  }
}

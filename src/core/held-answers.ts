/**
 * Answers held back before they are sent (a tarpit: a scanner or a flood tool waits for
 * each answer, and its sweep slows down with it). Bounded: at most `capacity` answers are
 * held at once, and one timer serves them all. When full, the answer due soonest is sent at
 * once to make room (with one delay for every rule, the oldest), so a flood can neither
 * grow the table nor make the gateway forget to answer.
 */
import { ExpiryHeap } from '../state/expiry-heap.ts';
import { SweepTimer } from './transaction/sweep-timer.ts';

export class HeldAnswers {
  readonly #capacity: number;
  readonly #now: () => number;
  readonly #heap = new ExpiryHeap<() => void>();
  readonly #timer: SweepTimer;
  #size = 0;
  /** Answers sent before their time because the table was full. */
  releasedEarly = 0;

  constructor(capacity: number, now: () => number = Date.now) {
    this.#capacity = capacity;
    this.#now = now;
    this.#timer = new SweepTimer(() => this.#sweep(), now);
  }

  get size(): number {
    return this.#size;
  }

  /** Sends `send`'s answer `delayMs` from now. */
  hold(delayMs: number, send: () => void): void {
    if (this.#size >= this.#capacity) {
      this.#releaseTop();
      this.releasedEarly++;
    }
    const at = this.#now() + delayMs;
    this.#heap.push(at, send);
    this.#size++;
    this.#timer.arm(at);
  }

  /** Drops every held answer (the gateway is closing: nothing can be sent any more). */
  clear(): void {
    this.#timer.cancel();
    this.#heap.rebuild([]);
    this.#size = 0;
  }

  #sweep(): void {
    const now = this.#now();
    while (this.#size > 0 && this.#heap.peekTime() <= now) this.#releaseTop();
    if (this.#size > 0) this.#timer.arm(this.#heap.peekTime());
  }

  #releaseTop(): void {
    const send = this.#heap.peek(() => true);
    if (send === undefined) return;
    this.#heap.removeTop();
    this.#size--;
    send();
  }
}

/**
 * Finished transactions kept only to absorb retransmissions (RFC 3261 Timers D, I, J, K and
 * RFC 6026 Timers L, M), ended by one shared timer instead of one timer each.
 *
 * At a steady call rate tens of thousands of transactions linger at once (two per call for
 * 32 s). A Node timer per transaction costs an object and a closure that live as long as the
 * transaction, so the heap the garbage collector must trace grows with them. The linger
 * times are few (64*T1, T4) and each one is the same for every entry, so a queue per
 * duration is already ordered by expiry: the sweep only looks at queue heads.
 */

import { SweepTimer, sweepSlack } from './sweep-timer.ts';

export interface Lingering {
  /** Ends the entry; it is already out of the queue when this runs. */
  expire(): void;
}

export class LingerQueue<T extends Lingering> {
  /** Per linger duration, entries in the order they were added, with their expiry times. */
  readonly #queues = new Map<number, Map<T, number>>();
  readonly #where = new Map<T, Map<T, number>>();
  readonly #maxSize: number;
  readonly #now: () => number;
  readonly #timer: SweepTimer;

  constructor(options: { maxSize: number; now?: () => number }) {
    this.#maxSize = options.maxSize;
    this.#now = options.now ?? (() => performance.now());
    this.#timer = new SweepTimer(() => this.#sweep(), this.#now);
  }

  get size(): number {
    return this.#where.size;
  }

  /** Keeps the entry for `ms` from now; an entry added again moves to the young end of its new queue. */
  add(entry: T, ms: number): void {
    this.delete(entry);
    let queue = this.#queues.get(ms);
    if (queue === undefined) {
      queue = new Map();
      this.#queues.set(ms, queue);
    }
    const expiresAt = this.#now() + ms;
    queue.set(entry, expiresAt);
    this.#where.set(entry, queue);
    // Bounded: past the cap the entry closest to its end goes first.
    while (this.#where.size > this.#maxSize) this.#expireEarliest();
    this.#timer.arm(expiresAt + sweepSlack(ms));
  }

  delete(entry: T): void {
    const queue = this.#where.get(entry);
    if (queue === undefined) return;
    queue.delete(entry);
    this.#where.delete(entry);
  }

  /** Ends every entry at once (shutdown). */
  clear(): void {
    this.#timer.cancel();
    const entries = [...this.#where.keys()];
    for (const queue of this.#queues.values()) queue.clear();
    this.#where.clear();
    for (const entry of entries) entry.expire();
  }

  #expireEarliest(): void {
    let earliest: T | undefined;
    let earliestAt = Number.POSITIVE_INFINITY;
    for (const queue of this.#queues.values()) {
      for (const [entry, at] of queue) {
        if (at < earliestAt) {
          earliest = entry;
          earliestAt = at;
        }
        break; // the head is the earliest of its queue
      }
    }
    if (earliest === undefined) return;
    this.delete(earliest);
    earliest.expire();
  }

  #sweep(): void {
    const now = this.#now();
    let next = Number.POSITIVE_INFINITY;
    for (const [ms, queue] of this.#queues) {
      for (const [entry, at] of queue) {
        if (at > now) {
          next = Math.min(next, at + sweepSlack(ms));
          break;
        }
        this.delete(entry);
        entry.expire();
      }
    }
    if (next !== Number.POSITIVE_INFINITY) this.#timer.arm(next);
  }
}

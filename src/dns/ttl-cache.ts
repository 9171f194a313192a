/**
 * A bounded cache of DNS answers, positive and negative, each kept for its own time to
 * live. Beyond `maxEntries` the entry used least recently goes first (a Map keeps
 * insertion order; a hit re-inserts), so whatever names are asked for, the cache stays
 * the same size.
 */
export type Cached<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: string };

interface Entry<T> {
  readonly answer: Cached<T>;
  readonly expiresAt: number;
}

export class TtlCache<T> {
  readonly #entries = new Map<string, Entry<T>>();
  readonly #maxEntries: number;
  readonly #now: () => number;

  constructor(maxEntries: number, now: () => number = Date.now) {
    this.#maxEntries = Math.max(1, maxEntries);
    this.#now = now;
  }

  /** The answer still valid for `key`, or undefined when none is (absent or expired). */
  get(key: string): Cached<T> | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= this.#now()) {
      this.#entries.delete(key);
      return undefined;
    }
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    return entry.answer;
  }

  set(key: string, answer: Cached<T>, ttlMs: number): void {
    this.#entries.delete(key);
    if (ttlMs <= 0) return;
    while (this.#entries.size >= this.#maxEntries) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#entries.delete(oldest);
    }
    this.#entries.set(key, { answer, expiresAt: this.#now() + ttlMs });
  }

  get size(): number {
    return this.#entries.size;
  }

  clear(): void {
    this.#entries.clear();
  }
}

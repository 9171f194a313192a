/**
 * A Map with a cap that keeps the most recently used entries: every per-identity table of
 * the fraud stage is one, so that callers who make up new identities (unverified From
 * users) evict old ones instead of growing memory.
 */
export class BoundedMap<K, V> {
  readonly #map = new Map<K, V>();
  readonly #max: number;
  readonly #onEvict: ((key: K, value: V) => void) | undefined;
  evictions = 0;

  constructor(max: number, onEvict?: (key: K, value: V) => void) {
    this.#max = max;
    this.#onEvict = onEvict;
  }

  get size(): number {
    return this.#map.size;
  }

  /** The entry, now the most recently used. */
  get(key: K): V | undefined {
    const value = this.#map.get(key);
    if (value !== undefined) {
      this.#map.delete(key);
      this.#map.set(key, value);
    }
    return value;
  }

  /** The entry, created with `create` when absent (the least recently used gives way when full). */
  obtain(key: K, create: () => V): V {
    const found = this.get(key);
    if (found !== undefined) return found;
    if (this.#map.size >= this.#max) {
      const oldest = this.#map.entries().next().value;
      if (oldest !== undefined) {
        this.#map.delete(oldest[0]);
        this.evictions++;
        this.#onEvict?.(oldest[0], oldest[1]);
      }
    }
    const value = create();
    this.#map.set(key, value);
    return value;
  }

  delete(key: K): boolean {
    return this.#map.delete(key);
  }

  /** Entries from the least to the most recently used. */
  entries(): IterableIterator<[K, V]> {
    return this.#map.entries();
  }
}

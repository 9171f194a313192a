import { getRandomValues } from 'node:crypto';

/** A random seed for `seededHash`, one per table. */
export function randomHashSeed(): number {
  return getRandomValues(new Uint32Array(1))[0]! | 0;
}

/**
 * FNV-1a over the code units from a secret starting value, then the murmur3 finaliser so
 * that every bit reaches the low bits a table indexes by. Keys that a remote party chooses
 * (branches, Call-IDs) cannot be made to collide in a table without knowing its seed.
 */
export function seededHash(key: string, seed: number): number {
  let h = seed;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

/**
 * A hash table from string keys to values, for the tables that take an insert and a delete
 * for every call (transactions by key, dialogs by id). A JavaScript `Map` is not used there:
 * V8 links each backing store a `Map` outgrows or compacts to its successor and keeps the
 * entries it held, so in a long-lived `Map` with steady churn every entry ever stored stays
 * reachable from the old generation until the next full collection. Every transaction and
 * dialog was then promoted, and the old generation filled in a second or two under load:
 * full collections every 1.5-2 s at 2,400 calls/s, each a pause of several milliseconds.
 *
 * Here the entries sit in plain arrays whose slots are cleared on delete (open addressing,
 * linear probing, backward-shift deletion: no tombstone markers, probe runs stay short).
 * The hash is seeded per table, so keys chosen by a remote party cannot be made to collide
 * without knowing the seed. Iteration order is unspecified.
 */
export class StringTable<V> {
  #keys: (string | undefined)[];
  #values: (V | undefined)[];
  #hashes: Int32Array;
  #mask: number;
  #size = 0;
  readonly #minCapacity: number;
  readonly #seed: number;

  /** `initialCapacity` is rounded up to a power of two (at least 8); the table grows and shrinks. */
  constructor(initialCapacity = 16) {
    let capacity = 8;
    while (capacity < initialCapacity) capacity *= 2;
    this.#minCapacity = capacity;
    this.#keys = new Array<string | undefined>(capacity).fill(undefined);
    this.#values = new Array<V | undefined>(capacity).fill(undefined);
    this.#hashes = new Int32Array(capacity);
    this.#mask = capacity - 1;
    this.#seed = randomHashSeed();
  }

  get size(): number {
    return this.#size;
  }

  get(key: string): V | undefined {
    const i = this.#find(key, this.#hash(key));
    return i < 0 ? undefined : this.#values[i];
  }

  has(key: string): boolean {
    return this.#find(key, this.#hash(key)) >= 0;
  }

  set(key: string, value: V): void {
    const hash = this.#hash(key);
    const found = this.#find(key, hash);
    if (found >= 0) {
      this.#values[found] = value;
      return;
    }
    // At most half full: linear probing stays short.
    if ((this.#size + 1) * 2 > this.#keys.length) this.#resize(this.#keys.length * 2);
    this.#place(key, value, hash);
    this.#size++;
  }

  delete(key: string): boolean {
    const i = this.#find(key, this.#hash(key));
    if (i < 0) return false;
    this.#removeAt(i);
    this.#size--;
    // A table that held a burst gives its memory back once it is mostly empty.
    if (this.#keys.length > this.#minCapacity && this.#size * 8 < this.#keys.length) {
      this.#resize(this.#keys.length / 2);
    }
    return true;
  }

  clear(): void {
    this.#keys.fill(undefined);
    this.#values.fill(undefined);
    this.#size = 0;
  }

  /** The values present now, as an array (safe to delete from the table while walking it). */
  valuesSnapshot(): V[] {
    const out: V[] = [];
    const keys = this.#keys;
    for (let i = 0; i < keys.length; i++) if (keys[i] !== undefined) out.push(this.#values[i]!);
    return out;
  }

  #hash(key: string): number {
    return seededHash(key, this.#seed);
  }

  #find(key: string, hash: number): number {
    const keys = this.#keys;
    const hashes = this.#hashes;
    const mask = this.#mask;
    for (let i = hash & mask; ; i = (i + 1) & mask) {
      const k = keys[i];
      if (k === undefined) return -1;
      if (hashes[i] === hash && k === key) return i;
    }
  }

  #place(key: string, value: V, hash: number): void {
    const keys = this.#keys;
    const mask = this.#mask;
    let i = hash & mask;
    while (keys[i] !== undefined) i = (i + 1) & mask;
    keys[i] = key;
    this.#values[i] = value;
    this.#hashes[i] = hash;
  }

  /** Backward-shift deletion: later entries of the probe run move up so no run is broken. */
  #removeAt(slot: number): void {
    const keys = this.#keys;
    const values = this.#values;
    const hashes = this.#hashes;
    const mask = this.#mask;
    let hole = slot;
    for (let j = (hole + 1) & mask; keys[j] !== undefined; j = (j + 1) & mask) {
      const home = hashes[j]! & mask;
      // The entry at j may move into the hole when its home is not cyclically in (hole, j].
      const between = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!between) {
        keys[hole] = keys[j];
        values[hole] = values[j];
        hashes[hole] = hashes[j]!;
        hole = j;
      }
    }
    keys[hole] = undefined;
    values[hole] = undefined;
  }

  #resize(capacity: number): void {
    const keys = this.#keys;
    const values = this.#values;
    const hashes = this.#hashes;
    this.#keys = new Array<string | undefined>(capacity).fill(undefined);
    this.#values = new Array<V | undefined>(capacity).fill(undefined);
    this.#hashes = new Int32Array(capacity);
    this.#mask = capacity - 1;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i];
      if (key !== undefined) this.#place(key, values[i]!, hashes[i]!);
    }
    // The old arrays may already be in the old generation: emptied, they hold nothing alive.
    keys.fill(undefined);
    values.fill(undefined);
  }
}

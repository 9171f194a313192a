/**
 * A bounded table of entries keyed by (source address, nonce), oldest first. Three bounds,
 * so that no sender can grow it nor cheaply push out what others put in:
 * - an entry lives at most `ttlMs`;
 * - one source holds at most `perSource` entries: past it, that source's own oldest gives
 *   way, never another source's;
 * - past `maxEntries` in all, the oldest entry gives way.
 */

export interface SourceNonceTableOptions {
  readonly maxEntries: number;
  readonly perSource: number;
  readonly ttlMs: number;
}

interface Entry<V> {
  readonly source: string;
  readonly at: number;
  readonly value: V;
}

/** `\n` occurs in no address: the key splits one way only. */
function keyOf(source: string, nonce: string): string {
  return `${source}\n${nonce}`;
}

export class SourceNonceTable<V> {
  readonly #options: SourceNonceTableOptions;
  /** Key -> entry; insertion order is age order (a set moves an entry to the end). */
  readonly #entries = new Map<string, Entry<V>>();
  /** Source -> its keys, oldest first (at most perSource). */
  readonly #bySource = new Map<string, string[]>();

  constructor(options: SourceNonceTableOptions) {
    this.#options = options;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Entries one source holds now (expired ones not yet removed included). */
  countFor(source: string): number {
    return this.#bySource.get(source)?.length ?? 0;
  }

  set(source: string, nonce: string, value: V, now: number): void {
    const key = keyOf(source, nonce);
    this.#remove(key);
    this.#expire(now);
    const own = this.#bySource.get(source);
    if (own !== undefined && own.length >= this.#options.perSource) this.#remove(own[0]!);
    if (this.#entries.size >= this.#options.maxEntries) {
      const oldest = this.#entries.keys().next();
      if (oldest.done !== true) this.#remove(oldest.value);
    }
    // Looked up again: a removal above drops a list it leaves empty.
    const list = this.#bySource.get(source);
    if (list === undefined) this.#bySource.set(source, [key]);
    else list.push(key);
    this.#entries.set(key, { source, at: now, value });
  }

  /** The live entry's value, if any; an expired one is removed. */
  get(source: string, nonce: string, now: number): V | undefined {
    const key = keyOf(source, nonce);
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (now - entry.at < this.#options.ttlMs) return entry.value;
    this.#remove(key);
    return undefined;
  }

  delete(source: string, nonce: string): void {
    this.#remove(keyOf(source, nonce));
  }

  /** Removes expired entries from the oldest end; stops at the first live one. */
  #expire(now: number): void {
    for (const [key, entry] of this.#entries) {
      if (now - entry.at < this.#options.ttlMs) return;
      this.#remove(key);
    }
  }

  #remove(key: string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#entries.delete(key);
    const keys = this.#bySource.get(entry.source);
    if (keys === undefined) return;
    const index = keys.indexOf(key);
    if (index >= 0) keys.splice(index, 1);
    if (keys.length === 0) this.#bySource.delete(entry.source);
  }
}

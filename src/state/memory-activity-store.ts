import { createHash, randomInt } from 'node:crypto';
import { StringTable } from '../util/string-table.ts';
import { DistinctSketch } from './distinct-sketch.ts';
import { StateError } from './errors.ts';
import { hash32 } from './hash.ts';
import type { ActivityStore, ActivityStoreStats } from './types.ts';

/**
 * The activity store in process memory, bounded by key count.
 *
 * Counters are sliding window counters: per key the count of the current fixed window and
 * of the previous one; the estimate weights the previous count by the share of the previous
 * window the sliding window still covers. Distinct counts are `DistinctSketch`es (see there).
 *
 * Eviction is CLOCK (second chance): keys live in a fixed ring of at most `maxKeys` slots;
 * a touch sets the slot's reference bit; when the ring is full, the hand clears set bits
 * until it finds a clear one and gives that slot, and its objects, to the new key. A key
 * seen only once is evicted before a key seen repeatedly, so a flood of made-up keys
 * recycles its own slots first. No per-hit allocation: a new key reuses an evicted key's
 * objects (and its sketch buffers) once the ring is full.
 *
 * Left out on purpose: a count-min sketch to carry an evicted key's count over to its next
 * appearance. Under the flood that causes evictions (a million made-up sources) every cell
 * of such a sketch fills with the flood's counts, and a legitimate source seen for the first
 * time would start from them: blocked for what others did. A key evicted and seen again
 * starts from zero instead; CLOCK keeps the keys that keep coming back (a real attacker's)
 * resident, so size `maxKeys` for the sources you expect to track at once.
 */

export interface MemoryActivityStoreOptions {
  /** The most keys held, counters and sketches together. */
  readonly maxKeys: number;
  /** HyperLogLog precision p (2^p registers per window): 4..14, default 10 (2.7% error). */
  readonly hllPrecision?: number;
  /**
   * Longer keys are folded to a prefix and a SHA-256 digest, so that bytes per key are
   * bounded whatever the caller builds keys from. Default 256.
   */
  readonly maxKeyLength?: number;
  /** Seed of the value hash; random by default. Fixed in tests for repeatable estimates. */
  readonly hashSeed?: number;
}

/** Estimated bytes per key beyond its text: the entry object, its Map entry, its ring slot. */
const ENTRY_BYTES = 160;
/** Estimated bytes of a string beyond its characters. */
const STRING_HEADER_BYTES = 24;

class Entry {
  key = '';
  /** Reference bit for CLOCK. */
  referenced = false;
  /** Counter: window length, fixed window index, current and previous counts. */
  windowMs = 0;
  index = 0;
  current = 0;
  previous = 0;
  sketchWindowMs = 0;
  sketch: DistinctSketch | undefined = undefined;
}

function keyBytes(key: string): number {
  // Two bytes per character is V8's worst case; most keys are one-byte strings.
  return STRING_HEADER_BYTES + key.length;
}

function checkInteger(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new StateError('SW_ERR_STATE_OPTION', `${name} must be an integer from ${min} to ${max}`);
  }
}

/** Share of the previous fixed window still inside the sliding window ending at `now`. */
function previousWeight(now: number, index: number, windowMs: number): number {
  const w = 1 - (now - index * windowMs) / windowMs;
  return Math.min(1, Math.max(0, w));
}

export interface MemoryActivityStore extends ActivityStore {
  /** The distinct estimate without adding a value. */
  peekDistinct(key: string, windowMs: number, now: number): number;
  /** `maxBytes`: the most `approxBytes` can reach (every key at the longest, with a full sketch). */
  stats(): ActivityStoreStats & { readonly maxBytes: number };
}

export function createMemoryActivityStore(options: MemoryActivityStoreOptions): MemoryActivityStore {
  const maxKeys = options.maxKeys;
  const precision = options.hllPrecision ?? 10;
  const maxKeyLength = options.maxKeyLength ?? 256;
  checkInteger('maxKeys', maxKeys, 1, 50_000_000);
  checkInteger('hllPrecision', precision, 4, 14);
  checkInteger('maxKeyLength', maxKeyLength, 64, 65_536);
  const seed = options.hashSeed ?? randomInt(0, 2 ** 32 - 1);
  const sketchMaxBytes = new DistinctSketch(precision).bytes() + 160 + 2 * (1 << precision);
  const maxBytes = maxKeys * (ENTRY_BYTES + keyBytes('x'.repeat(maxKeyLength)) + sketchMaxBytes);

  // Not a Map: keys come and go with the traffic (see StringTable).
  const table = new StringTable<Entry>(Math.min(maxKeys, 1024));
  const ring: Entry[] = [];
  /** Ring slots freed by `reset`, reused before the hand evicts. */
  const free: Entry[] = [];
  let hand = 0;
  let evictions = 0;
  let bytes = 0;

  function fold(key: string): string {
    if (key.length <= maxKeyLength) return key;
    const digest = createHash('sha256').update(key).digest('base64url');
    return `${key.slice(0, maxKeyLength - 44)}#${digest}`;
  }

  function take(key: string): Entry {
    let e = free.pop();
    if (e === undefined && ring.length < maxKeys) {
      e = new Entry();
      ring.push(e);
      bytes += ENTRY_BYTES;
    }
    if (e === undefined) {
      // CLOCK: at most one full turn clearing bits, then a clear one is found.
      for (;;) {
        const candidate = ring[hand]!;
        hand = hand + 1 === ring.length ? 0 : hand + 1;
        if (!candidate.referenced) {
          e = candidate;
          break;
        }
        candidate.referenced = false;
      }
      table.delete(e.key);
      bytes -= keyBytes(e.key);
      evictions++;
    }
    e.key = key;
    e.referenced = false;
    e.windowMs = 0;
    e.index = 0;
    e.current = 0;
    e.previous = 0;
    e.sketchWindowMs = 0;
    bytes += keyBytes(key);
    table.set(key, e);
    return e;
  }

  /** Brings the counter to the fixed window of `now`. */
  function advance(e: Entry, windowMs: number, index: number): void {
    if (e.windowMs !== windowMs) {
      e.windowMs = windowMs;
      e.index = index;
      e.current = 0;
      e.previous = 0;
    } else if (index > e.index) {
      e.previous = index === e.index + 1 ? e.current : 0;
      e.current = 0;
      e.index = index;
    }
    // A `now` before the counter's window (a clock step back) counts in the current one.
  }

  function lookup(rawKey: string): Entry | undefined {
    return table.get(rawKey.length <= maxKeyLength ? rawKey : fold(rawKey));
  }

  function valid(windowMs: number, now: number): boolean {
    return windowMs > 0 && windowMs < Number.POSITIVE_INFINITY && Number.isFinite(now);
  }

  return {
    hit(rawKey, windowMs, now, weight = 1) {
      if (!valid(windowMs, now)) return 0;
      const key = rawKey.length <= maxKeyLength ? rawKey : fold(rawKey);
      let e = table.get(key);
      if (e === undefined) e = take(key);
      else e.referenced = true;
      const index = Math.floor(now / windowMs);
      advance(e, windowMs, index);
      // Counts never go negative nor NaN whatever the caller passes.
      if (weight > 0 && weight < Number.POSITIVE_INFINITY) e.current += weight;
      return e.current + e.previous * previousWeight(now, e.index, windowMs);
    },

    peek(rawKey, windowMs, now) {
      if (!valid(windowMs, now)) return 0;
      const e = lookup(rawKey);
      if (e === undefined || e.windowMs !== windowMs) return 0;
      const index = Math.floor(now / windowMs);
      if (index <= e.index) return e.current + e.previous * previousWeight(now, e.index, windowMs);
      if (index === e.index + 1) return e.current * previousWeight(now, index, windowMs);
      return 0;
    },

    distinct(rawKey, value, windowMs, now) {
      if (!valid(windowMs, now)) return 0;
      const key = rawKey.length <= maxKeyLength ? rawKey : fold(rawKey);
      let e = table.get(key);
      if (e === undefined) e = take(key);
      else e.referenced = true;
      const index = Math.floor(now / windowMs);
      let s = e.sketch;
      if (s === undefined) {
        s = new DistinctSketch(precision);
        e.sketch = s;
        bytes += s.bytes();
        s.clear(index);
        e.sketchWindowMs = windowMs;
      } else if (e.sketchWindowMs !== windowMs) {
        s.clear(index);
        e.sketchWindowMs = windowMs;
      } else if (index === s.index + 1) {
        s.shift();
      } else if (index > s.index) {
        s.clear(index);
      }
      const before = s.bytes();
      s.add(hash32(value, seed));
      bytes += s.bytes() - before;
      return s.estimate(previousWeight(now, s.index, windowMs));
    },

    peekDistinct(rawKey, windowMs, now) {
      if (!valid(windowMs, now)) return 0;
      const e = lookup(rawKey);
      const s = e?.sketch;
      if (s === undefined || e!.sketchWindowMs !== windowMs) return 0;
      const index = Math.floor(now / windowMs);
      if (index <= s.index) return s.estimate(previousWeight(now, s.index, windowMs));
      if (index === s.index + 1) return s.estimateShifted(previousWeight(now, index, windowMs));
      return 0;
    },

    reset(rawKey) {
      const key = rawKey.length <= maxKeyLength ? rawKey : fold(rawKey);
      const e = table.get(key);
      if (e === undefined) return;
      table.delete(key);
      bytes -= keyBytes(key);
      e.key = '';
      e.referenced = false;
      e.windowMs = 0;
      e.sketchWindowMs = 0;
      free.push(e);
    },

    stats() {
      return { keys: table.size, maxKeys, approxBytes: bytes, evictions, maxBytes };
    },
  };
}

import { createHash } from 'node:crypto';
import type { MemoryActivityStore } from './memory-activity-store.ts';
import type { RedisLink } from './redis-link.ts';
import type { ActivityStore, ActivityStoreStats } from './types.ts';

/**
 * Activity counters shared by several nodes, merged in the background.
 *
 * Each hit is counted in the node's own store (the answer on the hot path never waits on
 * Redis) and its weight is added to a local delta. Every `sync()` (the owner's timer, a short
 * interval) adds each key's delta to a Redis counter per fixed window
 * (`c:<window ms>:<window index>:<key>`, INCRBYFLOAT, expiring after two windows) and reads
 * back the cluster's total for the current and the previous window; the part of those totals
 * that other nodes added is kept per key and added to the local estimate, weighted as the
 * local sliding window weights its previous window. So a flood split across nodes reaches
 * every node's threshold as if one node saw it all, one interval late. Distinct counts go to
 * Redis HyperLogLogs per window (PFADD) and the cluster's union estimate (PFCOUNT) is taken
 * when it is larger than the local one.
 *
 * Bounded: keys tracked for merging (`maxTrackedKeys`; keys beyond are counted locally only,
 * in `untracked`, until the next sync frees the keys whose windows have passed), values of a
 * distinct key per interval (`maxValuesPerSync`), and keys per sync (`maxKeysPerSync`, those
 * waiting longest first: a sent key goes to the back of the line).
 */

export interface RedisActivityStoreOptions {
  readonly maxTrackedKeys: number;
  readonly maxKeysPerSync?: number;
  readonly maxValuesPerSync?: number;
}

export interface RedisActivityStore extends ActivityStore {
  /** Sends the deltas and reads back the totals; resolves when done (or failed). */
  sync(now: number): Promise<void>;
  syncStats(): { readonly tracked: number; readonly untracked: number; readonly syncErrors: number };
}

const MAX_REDIS_KEY_TEXT = 256;

class Track {
  /** Window length and fixed window index of `delta`, `sent` and `others`. */
  windowMs = 0;
  index = 0;
  /** Weight counted here and not yet sent, for window `index`. */
  delta = 0;
  /** Weight this node has sent for window `index` and for the one before. */
  sent = 0;
  sentPrevious = 0;
  /** What the other nodes counted in window `index` and in the one before, as last read. */
  others = 0;
  othersPrevious = 0;
  /** Distinct: values not yet sent for window `index`, and the cluster's estimates as last read. */
  values: Set<string> | undefined = undefined;
  distinctWindowMs = 0;
  distinctIndex = 0;
  clusterCurrent = 0;
  clusterUnion = 0;
  /**
   * Syncs still due for the counter: a hit makes it 2, so that the key is read back once more
   * after the sync that sent the hit (other nodes' counts that arrived meanwhile).
   */
  due = 0;
  /** Likewise for the distinct count. */
  distinctDue = 0;
}

/** A delta left from a window that ended before it was sent. */
interface Carry {
  readonly key: string;
  readonly windowMs: number;
  readonly index: number;
  readonly delta: number;
}

function previousWeight(now: number, index: number, windowMs: number): number {
  const w = 1 - (now - index * windowMs) / windowMs;
  return Math.min(1, Math.max(0, w));
}

export function createRedisActivityStore(
  local: MemoryActivityStore,
  link: RedisLink,
  options: RedisActivityStoreOptions,
): RedisActivityStore {
  const prefix = link.keyPrefix;
  const maxTracked = options.maxTrackedKeys;
  const maxPerSync = options.maxKeysPerSync ?? 2000;
  const maxValues = options.maxValuesPerSync ?? 256;
  const tracks = new Map<string, Track>();
  let carry: Carry[] = [];
  const resets: {
    key: string;
    windowMs: number;
    index: number;
    distinctWindowMs: number;
    distinctIndex: number;
  }[] = [];
  let untracked = 0;
  let syncErrors = 0;
  let syncing = false;

  /** Redis key text for a rule key: long keys folded to a digest. */
  function redisName(key: string): string {
    if (key.length <= MAX_REDIS_KEY_TEXT) return key;
    return `#${createHash('sha256').update(key).digest('base64url')}`;
  }
  const counterKey = (windowMs: number, index: number, key: string) =>
    `${prefix}c:${windowMs}:${index}:${redisName(key)}`;
  const distinctKey = (windowMs: number, index: number, key: string) =>
    `${prefix}d:${windowMs}:${index}:${redisName(key)}`;

  function track(key: string): Track | undefined {
    let t = tracks.get(key);
    if (t === undefined) {
      if (tracks.size >= maxTracked) {
        untracked++;
        return undefined;
      }
      t = new Track();
      tracks.set(key, t);
    }
    return t;
  }

  /** Brings the counter part of `t` to window `index`, carrying an unsent delta over. */
  function advance(key: string, t: Track, windowMs: number, index: number): void {
    // The same window, or a clock step back (counted in the current window, as locally).
    if (t.windowMs === windowMs && index <= t.index) return;
    if (t.delta > 0 && t.windowMs > 0 && carry.length < maxPerSync) {
      carry.push({ key, windowMs: t.windowMs, index: t.index, delta: t.delta });
    }
    const next = t.windowMs === windowMs && index === t.index + 1;
    t.sentPrevious = next ? t.sent : 0;
    t.othersPrevious = next ? t.others : 0;
    t.windowMs = windowMs;
    t.index = index;
    t.delta = 0;
    t.sent = 0;
    t.others = 0;
  }

  function othersEstimate(t: Track | undefined, windowMs: number, now: number): number {
    if (t === undefined || t.windowMs !== windowMs) return 0;
    const index = Math.floor(now / windowMs);
    if (index === t.index) return t.others + t.othersPrevious * previousWeight(now, index, windowMs);
    if (index === t.index + 1) return t.others * previousWeight(now, index, windowMs);
    return 0;
  }

  function clusterDistinct(t: Track | undefined, windowMs: number, now: number): number {
    if (t === undefined || t.distinctWindowMs !== windowMs) return 0;
    const index = Math.floor(now / windowMs);
    if (index !== t.distinctIndex) return 0;
    const w = previousWeight(now, index, windowMs);
    return t.clusterCurrent + w * Math.max(0, t.clusterUnion - t.clusterCurrent);
  }

  function valid(windowMs: number, now: number): boolean {
    return windowMs > 0 && windowMs < Number.POSITIVE_INFINITY && Number.isFinite(now);
  }

  async function syncOnce(now: number): Promise<void> {
    const pipeline = link.commands.pipeline();
    type Reply = (result: unknown) => void;
    const replies: Reply[] = [];
    const expiry = (windowMs: number) => String(2 * windowMs + 10_000);

    for (const r of resets.splice(0)) {
      pipeline.del(
        counterKey(r.windowMs, r.index, r.key),
        counterKey(r.windowMs, r.index - 1, r.key),
        distinctKey(r.distinctWindowMs, r.distinctIndex, r.key),
        distinctKey(r.distinctWindowMs, r.distinctIndex - 1, r.key),
      );
      replies.push(() => undefined);
    }
    for (const c of carry) {
      pipeline.incrbyfloat(counterKey(c.windowMs, c.index, c.key), c.delta);
      pipeline.pexpire(counterKey(c.windowMs, c.index, c.key), expiry(c.windowMs));
      replies.push(
        () => undefined,
        () => undefined,
      );
    }
    carry = [];

    let sent = 0;
    const done: [string, Track][] = [];
    for (const [key, t] of tracks) {
      if (sent >= maxPerSync) break;
      const counterDue = t.due > 0 && t.windowMs > 0;
      const distinctDue = t.distinctDue > 0 && t.values !== undefined;
      if (!counterDue && !distinctDue) {
        // Nothing new: forget the key once its windows have passed.
        const last = Math.max(t.index, t.distinctIndex);
        const windowMs = Math.max(t.windowMs, t.distinctWindowMs);
        if (windowMs === 0 || Math.floor(now / windowMs) > last + 1) tracks.delete(key);
        continue;
      }
      sent++;
      done.push([key, t]);
      if (counterDue) {
        t.due--;
        const { windowMs, index } = t;
        const delta = t.delta;
        t.delta = 0;
        t.sent += delta;
        const mine = t.sent;
        const minePrevious = t.sentPrevious;
        pipeline.incrbyfloat(counterKey(windowMs, index, key), delta);
        pipeline.pexpire(counterKey(windowMs, index, key), expiry(windowMs));
        pipeline.get(counterKey(windowMs, index - 1, key));
        replies.push(
          (total) => {
            const others = Math.max(0, Number(total) - mine);
            // The track may have moved on to the next window while the reply was on its way.
            if (t.windowMs !== windowMs) return;
            if (t.index === index) t.others = others;
            else if (t.index === index + 1) t.othersPrevious = others;
          },
          () => undefined,
          (previous) => {
            if (t.windowMs === windowMs && t.index === index && previous !== null) {
              t.othersPrevious = Math.max(0, Number(previous) - minePrevious);
            }
          },
        );
      }
      if (distinctDue) {
        t.distinctDue--;
        const values = [...t.values!];
        t.values!.clear();
        const { distinctWindowMs: windowMs, distinctIndex: index } = t;
        const current = distinctKey(windowMs, index, key);
        const previous = distinctKey(windowMs, index - 1, key);
        if (values.length > 0) {
          pipeline.pfadd(current, ...values);
          pipeline.pexpire(current, expiry(windowMs));
          replies.push(
            () => undefined,
            () => undefined,
          );
        }
        pipeline.pfcount(current);
        pipeline.pfcount(current, previous);
        let counted = 0;
        replies.push(
          (n) => {
            counted = Number(n);
          },
          (union) => {
            if (t.distinctWindowMs !== windowMs || t.distinctIndex !== index) return;
            t.clusterCurrent = counted;
            t.clusterUnion = Number(union);
          },
        );
      }
    }
    // Sent keys go to the back of the line: the next sync starts with those waiting longest.
    for (const [key, t] of done) {
      tracks.delete(key);
      tracks.set(key, t);
    }
    if (replies.length === 0) return;
    const results = await pipeline.exec();
    if (results === null) return;
    results.forEach(([error, value], i) => {
      if (error !== null) {
        syncErrors++;
        return;
      }
      replies[i]?.(value);
    });
  }

  return {
    hit(key, windowMs, now, weight = 1) {
      const count = local.hit(key, windowMs, now, weight);
      if (!valid(windowMs, now)) return count;
      const t = track(key);
      if (t === undefined) return count;
      advance(key, t, windowMs, Math.floor(now / windowMs));
      if (weight > 0 && weight < Number.POSITIVE_INFINITY) t.delta += weight;
      t.due = 2;
      return count + othersEstimate(t, windowMs, now);
    },

    peek(key, windowMs, now) {
      const count = local.peek(key, windowMs, now);
      if (!valid(windowMs, now)) return count;
      return count + othersEstimate(tracks.get(key), windowMs, now);
    },

    distinct(key, value, windowMs, now) {
      const estimate = local.distinct(key, value, windowMs, now);
      if (!valid(windowMs, now)) return estimate;
      const t = track(key);
      if (t === undefined) return estimate;
      const index = Math.floor(now / windowMs);
      if (t.distinctWindowMs !== windowMs || t.distinctIndex !== index) {
        // A new window: values of the last one not sent yet are lost to the cluster's count
        // (the local count has them).
        t.distinctWindowMs = windowMs;
        t.distinctIndex = index;
        if (t.values === undefined) t.values = new Set();
        else t.values.clear();
        t.clusterCurrent = 0;
        t.clusterUnion = 0;
      }
      if (t.values!.size < maxValues) t.values!.add(value);
      t.distinctDue = 2;
      return Math.max(estimate, clusterDistinct(t, windowMs, now));
    },

    reset(key) {
      local.reset(key);
      const t = tracks.get(key);
      if (t === undefined) return;
      tracks.delete(key);
      // Forgotten by the cluster too: the next sync deletes the key's counters of the windows
      // this node counted in (other nodes then count from what they add next).
      if (resets.length < maxPerSync) {
        const { windowMs, index, distinctWindowMs, distinctIndex } = t;
        resets.push({ key, windowMs, index, distinctWindowMs, distinctIndex });
      }
    },

    stats(): ActivityStoreStats {
      return local.stats();
    },

    async sync(now) {
      if (syncing || link.state !== 'up') return;
      syncing = true;
      try {
        await syncOnce(now);
      } catch {
        syncErrors++;
      } finally {
        syncing = false;
      }
    },

    syncStats: () => ({ tracked: tracks.size, untracked, syncErrors }),
  };
}

import type { RedisLink } from './redis-link.ts';

/**
 * Records one node writes and every node holds (the dialogs a node confirmed, so that another
 * node can serve their in-dialog requests): replicated through Redis, never read from it on
 * the hot path.
 *
 * A record put or removed here is queued and written in the next turn of the event loop, in
 * one pipeline: one key per record (`<prefix><name>:<id>`, expiring with the record) and one
 * message on the `<name>` channel carrying every change of the batch; each other node applies
 * the message to its own table. A node that starts later or comes back after an outage reads
 * every stored record (`resync`, run on each `up`). Redis down: the changes wait in a bounded
 * outbox (the latest change per id), written on `up`.
 *
 * The values are opaque text here; the owner checks what it receives (hostile until proven
 * otherwise: Redis is shared).
 */

export interface RedisRecordsOptions {
  /** The key and channel name under the link's prefix (`dialogs`). */
  readonly name: string;
  /** Changes waiting at most while Redis is down (the oldest give way). */
  readonly maxPending: number;
  /** Records read at most by a resynchronisation. */
  readonly maxLoad: number;
  /** Another node's record, received or read back. */
  readonly onPut: (id: string, value: string, expiresAt: number) => void;
  /** Another node removed a record. */
  readonly onRemove: (id: string) => void;
  readonly now?: () => number;
}

export interface RedisRecords {
  put(id: string, value: string, expiresAt: number): void;
  remove(id: string): void;
  /** Writes what waits; resolves when done (failed: it stays queued). */
  flush(): Promise<void>;
  /** Writes what waits, then applies every record stored in Redis. */
  resync(): Promise<void>;
  stats(): {
    readonly pending: number;
    readonly published: number;
    readonly received: number;
    readonly loaded: number;
    readonly rejected: number;
    readonly dropped: number;
  };
}

export const MAX_RECORD_ID = 1024;
export const MAX_RECORD_VALUE = 16_384;
/** Changes per published message and per pipeline. */
const BATCH = 256;

type Change = { readonly value: string; readonly expiresAt: number } | null;

interface Message {
  readonly o: string;
  /** Records put: [id, value, expiresAt]. */
  readonly p?: readonly (readonly [string, string, number])[];
  /** Ids removed. */
  readonly r?: readonly string[];
}

export function createRedisRecords(link: RedisLink, options: RedisRecordsOptions): RedisRecords {
  const now = options.now ?? Date.now;
  const keyOf = (id: string): string => `${link.keyPrefix}${options.name}:${id}`;
  // Insertion-ordered: the oldest change gives way when full.
  const pending = new Map<string, Change>();
  let scheduled = false;
  let flushing: Promise<void> | undefined;
  let published = 0;
  let received = 0;
  let loaded = 0;
  let rejected = 0;
  let dropped = 0;

  function queue(id: string, change: Change): void {
    if (id.length > MAX_RECORD_ID) return;
    pending.delete(id);
    if (pending.size >= options.maxPending) {
      const oldest = pending.keys().next().value;
      if (oldest !== undefined) pending.delete(oldest);
      dropped++;
    }
    pending.set(id, change);
    if (!scheduled && link.state === 'up') {
      scheduled = true;
      setImmediate(() => {
        scheduled = false;
        void flush();
      });
    }
  }

  async function write(): Promise<void> {
    while (pending.size > 0 && link.state === 'up') {
      const batch = [...pending.entries()].slice(0, BATCH);
      const at = now();
      const pipeline = link.commands.pipeline();
      const message: { o: string; p: [string, string, number][]; r: string[] } = {
        o: link.nodeId,
        p: [],
        r: [],
      };
      for (const [id, change] of batch) {
        if (change === null) {
          pipeline.del(keyOf(id));
          message.r.push(id);
        } else if (change.expiresAt > at) {
          pipeline.set(keyOf(id), JSON.stringify([change.value, change.expiresAt]), 'PXAT', change.expiresAt);
          message.p.push([id, change.value, change.expiresAt]);
        }
      }
      pipeline.publish(link.keyPrefix + options.name, JSON.stringify(message));
      const results = await pipeline.exec();
      if (results === null || results.some(([error]) => error !== null)) throw new Error('write failed');
      // Only what was written leaves the outbox (a newer change to the same id stays).
      for (const [id, change] of batch) if (pending.get(id) === change) pending.delete(id);
      published += batch.length;
    }
  }

  function flush(): Promise<void> {
    if (flushing !== undefined) return flushing;
    flushing = write()
      .catch(() => {
        // Kept queued: written on the next flush or `up`.
      })
      .finally(() => {
        flushing = undefined;
        // Changes queued while this flush ran.
        if (pending.size > 0 && link.state === 'up' && !scheduled) {
          scheduled = true;
          setImmediate(() => {
            scheduled = false;
            void flush();
          });
        }
      });
    return flushing;
  }

  function accept(id: unknown, value: unknown, expiresAt: unknown): void {
    if (
      typeof id !== 'string' ||
      id.length === 0 ||
      id.length > MAX_RECORD_ID ||
      typeof value !== 'string' ||
      value.length > MAX_RECORD_VALUE ||
      typeof expiresAt !== 'number' ||
      !Number.isFinite(expiresAt)
    ) {
      rejected++;
      return;
    }
    if (expiresAt <= now()) return;
    options.onPut(id, value, expiresAt);
  }

  link.subscribe(options.name, (text) => {
    let message: Message;
    try {
      message = JSON.parse(text) as Message;
    } catch {
      rejected++;
      return;
    }
    if (typeof message !== 'object' || message === null || message.o === link.nodeId) return;
    received++;
    if (Array.isArray(message.p)) {
      for (const entry of message.p.slice(0, BATCH)) {
        if (Array.isArray(entry)) accept(entry[0], entry[1], entry[2]);
        else rejected++;
      }
    }
    if (Array.isArray(message.r)) {
      for (const id of message.r.slice(0, BATCH)) {
        if (typeof id === 'string' && id.length <= MAX_RECORD_ID) options.onRemove(id);
        else rejected++;
      }
    }
  });

  async function resync(): Promise<void> {
    await flush();
    const prefix = keyOf('');
    let cursor = '0';
    let read = 0;
    do {
      const [next, keys] = await link.commands.scan(cursor, 'MATCH', `${escapeGlob(prefix)}*`, 'COUNT', 500);
      cursor = next;
      const wanted = keys.slice(0, options.maxLoad - read);
      if (wanted.length > 0) {
        const values = await link.commands.mget(...wanted);
        wanted.forEach((key, index) => {
          const stored = values[index];
          if (stored === null || stored === undefined) return;
          try {
            const [value, expiresAt] = JSON.parse(stored) as [unknown, unknown];
            accept(key.slice(prefix.length), value, expiresAt);
            loaded++;
          } catch {
            rejected++;
          }
        });
        read += wanted.length;
      }
    } while (cursor !== '0' && read < options.maxLoad);
  }

  return {
    put(id, value, expiresAt) {
      queue(id, { value, expiresAt });
    },
    remove(id) {
      queue(id, null);
    },
    flush,
    resync,
    stats: () => ({ pending: pending.size, published, received, loaded, rejected, dropped }),
  };
}

/** The prefix taken literally in a SCAN pattern. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

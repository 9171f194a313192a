import type { MemoryBlockTable } from './memory-block-table.ts';
import { parseBlockKey } from './memory-block-table.ts';
import type { RedisLink } from './redis-link.ts';
import type { BlockEntry, BlockScope } from './types.ts';

/**
 * The block table shared by several nodes through Redis.
 *
 * Every decision is local: `match` and `matchKey` read the node's own table (any
 * MemoryBlockTable, or a table that wraps one and mirrors it elsewhere), never Redis. A block
 * or unblock made on this node is applied locally at once, then written to Redis and
 * published on a channel by one script (atomic: the stored table and the message agree);
 * every other node applies what it receives to its own table. Blocks that could not be
 * written (Redis down) wait in a bounded outbox.
 *
 * In Redis: a hash (canonical key -> entry as JSON) with a sorted set of expiries beside it,
 * which the write script uses to drop expired entries and, past `maxEntries`, the entries
 * expiring soonest (the local table's own rule); and a sorted set of unblock times
 * (tombstones, bounded), so that a node that missed an unblock during an outage does not
 * bring the block back.
 *
 * After every (re)connection the node resynchronises, union first so that no block is lost
 * even when Redis itself restarted empty: it writes every block it holds (dropping those an
 * unblock made elsewhere since their creation), then applies every block Redis holds.
 */

export interface RedisBlockTableOptions {
  readonly maxEntries: number;
  /** Unblock tombstones kept (the most recent). */
  readonly maxTombstones?: number;
  /** Called after a resynchronisation with what it did. */
  readonly onResync?: (result: { readonly written: number; readonly loaded: number }) => void;
  /** The clock of unblock times and of the expiry sweep in Redis; Date.now by default. */
  readonly now?: () => number;
}

export interface RedisBlockTable extends MemoryBlockTable {
  /** Writes what waits in the outbox; resolves when done (or failed: it stays queued). */
  flush(): Promise<void>;
  /** Brings the local table and Redis together (union); called on every `up`. */
  resync(): Promise<void>;
  syncStats(): {
    readonly pending: number;
    readonly published: number;
    readonly received: number;
    readonly rejected: number;
    readonly writeErrors: number;
    readonly dropped: number;
  };
}

/** Infinity cannot be a JSON number nor compare in Lua: the largest safe integer stands for it. */
const FOREVER = Number.MAX_SAFE_INTEGER;
const MAX_KEY_LENGTH = 512;
const MAX_TEXT_LENGTH = 512;
const SCOPES: ReadonlySet<string> = new Set<BlockScope>(['address', 'network', 'key']);

type Op =
  | { readonly kind: 'block'; readonly entry: Omit<BlockEntry, 'hits'> }
  | { readonly kind: 'unblock'; readonly key: string; readonly at: number };

/** The message published for a block or an unblock. */
interface Message {
  readonly o: string;
  readonly b?: WireEntry;
  readonly u?: string;
  readonly t?: number;
}

interface WireEntry {
  readonly key: string;
  readonly scope: BlockScope;
  readonly reason: string;
  readonly rule: string;
  readonly createdAt: number;
  readonly expiresAt: number | null;
}

// KEYS: hash, expiries, tombstones. ARGV: key, entry JSON, expiry score, now, maxEntries,
// channel, message. The later expiry wins in Redis as it does in every local table.
const BLOCK_SCRIPT = `
local old = redis.call('ZSCORE', KEYS[2], ARGV[1])
if (not old) or tonumber(old) <= tonumber(ARGV[3]) then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
end
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[4], 'LIMIT', 0, 256)
for _, k in ipairs(expired) do
  redis.call('HDEL', KEYS[1], k)
  redis.call('ZREM', KEYS[2], k)
end
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[5])
if over > 0 then
  local soonest = redis.call('ZRANGE', KEYS[2], 0, over - 1)
  for _, k in ipairs(soonest) do
    redis.call('HDEL', KEYS[1], k)
    redis.call('ZREM', KEYS[2], k)
  end
end
redis.call('PUBLISH', ARGV[6], ARGV[7])
return 1
`;

// KEYS: hash, expiries, tombstones. ARGV: time, maxTombstones, channel, message, keys...
const UNBLOCK_SCRIPT = `
for i = 5, #ARGV do
  redis.call('HDEL', KEYS[1], ARGV[i])
  redis.call('ZREM', KEYS[2], ARGV[i])
  redis.call('ZADD', KEYS[3], 'GT', ARGV[1], ARGV[i])
end
redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -tonumber(ARGV[2]) - 1)
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
`;

function toWire(entry: Omit<BlockEntry, 'hits'>): WireEntry {
  return {
    key: entry.key,
    scope: entry.scope,
    reason: entry.reason,
    rule: entry.rule,
    createdAt: entry.createdAt,
    expiresAt: entry.expiresAt === Number.POSITIVE_INFINITY ? null : entry.expiresAt,
  };
}

const isText = (value: unknown, max: number): value is string =>
  typeof value === 'string' && value.length > 0 && value.length <= max;

/** An entry from Redis or another node, checked field by field; undefined when malformed. */
export function fromWire(value: unknown): Omit<BlockEntry, 'hits'> | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const w = value as Record<string, unknown>;
  if (!isText(w.key, MAX_KEY_LENGTH) || typeof w.scope !== 'string' || !SCOPES.has(w.scope)) return undefined;
  if (!isText(w.reason, MAX_TEXT_LENGTH) || !isText(w.rule, MAX_TEXT_LENGTH)) return undefined;
  if (typeof w.createdAt !== 'number' || !Number.isFinite(w.createdAt)) return undefined;
  const expiresAt = w.expiresAt === null ? Number.POSITIVE_INFINITY : w.expiresAt;
  if (typeof expiresAt !== 'number' || Number.isNaN(expiresAt)) return undefined;
  return {
    key: w.key,
    scope: w.scope as BlockScope,
    reason: w.reason,
    rule: w.rule,
    createdAt: w.createdAt,
    expiresAt,
  };
}

/** Every text form under which a block on `key` may be stored (as `unblock` accepts it). */
function storedForms(key: string): string[] {
  const forms = new Set([key]);
  for (const scope of ['address', 'network'] as const) {
    if (scope === 'network' && !key.includes('/')) continue;
    const target = parseBlockKey(scope, key);
    if (target !== undefined) forms.add(target.key);
  }
  return [...forms].filter((k) => k.length <= MAX_KEY_LENGTH);
}

export function createRedisBlockTable(
  local: MemoryBlockTable,
  link: RedisLink,
  options: RedisBlockTableOptions,
): RedisBlockTable {
  const prefix = link.keyPrefix;
  const hashKey = `${prefix}blocks`;
  const expiryKey = `${prefix}blocks:expiry`;
  const tombstoneKey = `${prefix}blocks:unblocked`;
  const channel = 'blocks';
  const maxTombstones = options.maxTombstones ?? 10_000;
  const now = options.now ?? Date.now;
  /** Canonical key -> the latest operation on it not yet in Redis; bounded by maxEntries. */
  const outbox = new Map<string, Op>();
  let flushing: Promise<void> | undefined;
  let flushAgain = false;
  let published = 0;
  let received = 0;
  let rejected = 0;
  let writeErrors = 0;
  let dropped = 0;

  function enqueue(key: string, op: Op): void {
    outbox.delete(key);
    outbox.set(key, op);
    if (outbox.size > options.maxEntries) {
      // The oldest waiting operation gives way; the resync after reconnection writes every
      // block the local table holds anyway, so only an unblock can be lost here.
      const oldest = outbox.keys().next();
      if (oldest.done !== true) outbox.delete(oldest.value);
      dropped++;
    }
    if (link.state === 'up') void flush();
  }

  function write(op: Op): Promise<unknown> {
    if (op.kind === 'block') {
      const wire = toWire(op.entry);
      const message: Message = { o: link.nodeId, b: wire };
      const score = op.entry.expiresAt === Number.POSITIVE_INFINITY ? FOREVER : op.entry.expiresAt;
      return link.commands.eval(
        BLOCK_SCRIPT,
        3,
        hashKey,
        expiryKey,
        tombstoneKey,
        op.entry.key,
        JSON.stringify(wire),
        String(score),
        String(now()),
        String(options.maxEntries),
        prefix + channel,
        JSON.stringify(message),
      );
    }
    const message: Message = { o: link.nodeId, u: op.key, t: op.at };
    return link.commands.eval(
      UNBLOCK_SCRIPT,
      3,
      hashKey,
      expiryKey,
      tombstoneKey,
      String(op.at),
      String(maxTombstones),
      prefix + channel,
      JSON.stringify(message),
      ...storedForms(op.key),
    );
  }

  async function drain(): Promise<void> {
    while (outbox.size > 0 && link.state === 'up') {
      const batch = [...outbox.entries()].slice(0, 500);
      for (const [key] of batch) outbox.delete(key);
      const results = await Promise.allSettled(batch.map(([, op]) => write(op)));
      let failed = false;
      results.forEach((result, i) => {
        if (result.status === 'fulfilled') {
          published++;
          return;
        }
        failed = true;
        writeErrors++;
        const [key, op] = batch[i]!;
        // Back in the queue unless a newer operation on the key came meanwhile.
        if (!outbox.has(key)) outbox.set(key, op);
      });
      if (failed) return;
    }
  }

  function flush(): Promise<void> {
    if (flushing !== undefined) {
      flushAgain = true;
      return flushing;
    }
    const run = async (): Promise<void> => {
      do {
        flushAgain = false;
        await drain();
      } while (flushAgain && link.state === 'up');
    };
    // Cleared after it settles (always a later turn).
    flushing = run().finally(() => {
      flushing = undefined;
    });
    return flushing;
  }

  function apply(entry: Omit<BlockEntry, 'hits'>): boolean {
    try {
      local.block(entry);
      return true;
    } catch {
      rejected++;
      return false;
    }
  }

  link.subscribe(channel, (text) => {
    let message: Message;
    try {
      message = JSON.parse(text) as Message;
    } catch {
      rejected++;
      return;
    }
    if (typeof message !== 'object' || message === null || message.o === link.nodeId) return;
    received++;
    if (message.b !== undefined) {
      const entry = fromWire(message.b);
      if (entry === undefined) rejected++;
      else apply(entry);
    } else if (isText(message.u, MAX_KEY_LENGTH)) {
      // A block made here after the unblock (a newer creation time) stays.
      const key = message.u;
      const at = typeof message.t === 'number' ? message.t : Number.POSITIVE_INFINITY;
      const held = local.list(now()).find((entry) => storedForms(key).includes(entry.key));
      if (held === undefined || held.createdAt <= at) local.unblock(key);
    } else {
      rejected++;
    }
  });

  async function resync(): Promise<void> {
    const at = now();
    const tombstones = new Map<string, number>();
    const stones = await link.commands.zrange(tombstoneKey, 0, -1, 'WITHSCORES');
    for (let i = 0; i + 1 < stones.length; i += 2) tombstones.set(stones[i]!, Number(stones[i + 1]));
    // Union: every block held here goes to Redis (unless unblocked elsewhere since it was made).
    let written = 0;
    for (const entry of local.list(at)) {
      const unblockedAt = tombstones.get(entry.key);
      if (unblockedAt !== undefined && unblockedAt >= entry.createdAt) {
        local.unblock(entry.key);
        continue;
      }
      if (!outbox.has(entry.key)) outbox.set(entry.key, { kind: 'block', entry });
      written++;
    }
    await flush();
    // Then every block Redis holds comes here.
    const stored = await link.commands.hgetall(hashKey);
    let loaded = 0;
    for (const text of Object.values(stored)) {
      let entry: Omit<BlockEntry, 'hits'> | undefined;
      try {
        entry = fromWire(JSON.parse(text));
      } catch {
        entry = undefined;
      }
      if (entry === undefined) {
        rejected++;
        continue;
      }
      if (entry.expiresAt > at && apply(entry)) loaded++;
    }
    options.onResync?.({ written, loaded });
  }

  return {
    match: (address, at) => local.match(address, at),
    matchKey: (key, at) => local.matchKey(key, at),
    hasKeyBlocks: () => local.hasKeyBlocks(),
    list: (at) => local.list(at),
    sweep: (at) => local.sweep(at),
    stats: () => local.stats(),
    block(entry) {
      const held = local.block(entry);
      enqueue(held.key, {
        kind: 'block',
        entry: {
          key: held.key,
          scope: held.scope,
          reason: held.reason,
          rule: held.rule,
          createdAt: held.createdAt,
          expiresAt: held.expiresAt,
        },
      });
      return held;
    },
    unblock(key) {
      const removed = local.unblock(key);
      // Published even when this node held no such block: another node may.
      enqueue(key, { kind: 'unblock', key, at: now() });
      return removed;
    },
    flush,
    resync,
    syncStats: () => ({ pending: outbox.size, published, received, rejected, writeErrors, dropped }),
  };
}

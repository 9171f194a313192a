import type { RedisLink } from './redis-link.ts';
import type { TrustTable } from './types.ts';

/**
 * Known-good sources shared by several nodes through Redis: a source that proved a password
 * on one node is trusted on all. Lookups read the local table only. A success is applied
 * locally at once, then written to a sorted set (member: address and user, score: time of
 * the success; entries older than the trust period and past `maxEntries` removed by the same
 * script) and published; the other nodes apply it to their own table. Successes made while
 * Redis is down wait in a bounded outbox; after every (re)connection the outbox is written
 * and the stored successes still in force are applied.
 */

export interface RedisTrustTableOptions {
  readonly maxEntries: number;
  readonly ttlMs: number;
  readonly now?: () => number;
}

export interface RedisTrustTable extends TrustTable {
  flush(): Promise<void>;
  resync(): Promise<void>;
  syncStats(): { readonly pending: number; readonly published: number; readonly received: number };
}

const MAX_ADDRESS_LENGTH = 64;
const MAX_USER_LENGTH = 128;

// KEYS: set. ARGV: member, time, oldest time kept, maxEntries, channel, message.
const SUCCEED_SCRIPT = `
redis.call('ZADD', KEYS[1], 'GT', ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -tonumber(ARGV[4]) - 1)
redis.call('PUBLISH', ARGV[5], ARGV[6])
return 1
`;

interface Success {
  readonly address: string;
  readonly user: string | undefined;
  readonly at: number;
}

/** `[address, user?]` checked; undefined when malformed. */
function parseMember(text: string): Omit<Success, 'at'> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!Array.isArray(value) || value.length < 1 || value.length > 2) return undefined;
  const [address, user] = value as unknown[];
  if (typeof address !== 'string' || address.length === 0 || address.length > MAX_ADDRESS_LENGTH)
    return undefined;
  if (user !== undefined && (typeof user !== 'string' || user.length > MAX_USER_LENGTH)) return undefined;
  return { address, user };
}

export function createRedisTrustTable(
  local: TrustTable,
  link: RedisLink,
  options: RedisTrustTableOptions,
): RedisTrustTable {
  const setKey = `${link.keyPrefix}trust`;
  const channel = 'trust';
  const now = options.now ?? Date.now;
  const outbox = new Map<string, Success>();
  let flushing: Promise<void> | undefined;
  let published = 0;
  let received = 0;

  const member = (s: Omit<Success, 'at'>): string =>
    JSON.stringify(s.user === undefined ? [s.address] : [s.address, s.user.slice(0, MAX_USER_LENGTH)]);

  function write(s: Success): Promise<unknown> {
    const m = member(s);
    return link.commands.eval(
      SUCCEED_SCRIPT,
      1,
      setKey,
      m,
      String(s.at),
      String(now() - options.ttlMs),
      String(options.maxEntries),
      link.keyPrefix + channel,
      JSON.stringify({ o: link.nodeId, m, t: s.at }),
    );
  }

  function flush(): Promise<void> {
    if (flushing !== undefined) return flushing;
    const run = async (): Promise<void> => {
      while (outbox.size > 0 && link.state === 'up') {
        const batch = [...outbox.entries()].slice(0, 500);
        for (const [key] of batch) outbox.delete(key);
        const results = await Promise.allSettled(batch.map(([, s]) => write(s)));
        let failed = false;
        results.forEach((result, i) => {
          if (result.status === 'fulfilled') published++;
          else {
            failed = true;
            const [key, s] = batch[i]!;
            if (!outbox.has(key)) outbox.set(key, s);
          }
        });
        if (failed) return;
      }
    };
    // Cleared after it settles (always a later turn, even when nothing was to be written).
    flushing = run().finally(() => {
      flushing = undefined;
    });
    return flushing;
  }

  function apply(m: Omit<Success, 'at'>, at: number): void {
    if (!Number.isFinite(at) || now() - at >= options.ttlMs) return;
    local.succeed(m.address, m.user, at);
  }

  link.subscribe(channel, (text) => {
    let message: { o?: unknown; m?: unknown; t?: unknown };
    try {
      message = JSON.parse(text) as typeof message;
    } catch {
      return;
    }
    if (typeof message !== 'object' || message === null || message.o === link.nodeId) return;
    if (typeof message.m !== 'string' || typeof message.t !== 'number') return;
    const m = parseMember(message.m);
    if (m === undefined) return;
    received++;
    apply(m, message.t);
  });

  return {
    succeed(address, user, at) {
      local.succeed(address, user, at);
      if (address.length === 0 || address.length > MAX_ADDRESS_LENGTH || !Number.isFinite(at)) return;
      const s: Success = { address, user: user === undefined || user.length === 0 ? undefined : user, at };
      const key = member(s);
      outbox.delete(key);
      outbox.set(key, s);
      if (outbox.size > options.maxEntries) {
        const oldest = outbox.keys().next();
        if (oldest.done !== true) outbox.delete(oldest.value);
      }
      if (link.state === 'up') void flush();
    },
    isTrusted: (address, at) => local.isTrusted(address, at),
    isKnownFor: (address, user, at) => local.isKnownFor(address, user, at),
    stats: () => local.stats(),
    flush,
    async resync() {
      await flush();
      const stored = await link.commands.zrangebyscore(
        setKey,
        String(now() - options.ttlMs),
        '+inf',
        'WITHSCORES',
        'LIMIT',
        0,
        options.maxEntries,
      );
      for (let i = 0; i + 1 < stored.length; i += 2) {
        const m = parseMember(stored[i]!);
        if (m !== undefined) apply(m, Number(stored[i + 1]));
      }
    },
    syncStats: () => ({ pending: outbox.size, published, received }),
  };
}

import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

/**
 * The connection of one node to the Redis that several sipwarden nodes share: one client for
 * commands and one for pub/sub (a subscribed connection takes no other commands).
 *
 * Nothing on the hot path waits on it. Commands fail at once while the connection is down
 * (no offline queue: the callers keep their work and retry after `up`), and within
 * `commandTimeoutMs` when Redis stops answering. ioredis reconnects by itself with a capped
 * back-off and subscribes again; the link reports `down` once per outage and `up` once both
 * clients are back, so that the state it carries can resynchronise.
 */

export interface RedisLinkOptions {
  /** `redis://[user:password@]host:port[/db]` (or `rediss://` for TLS). */
  readonly url: string;
  /** Prepended to every key and channel, so that clusters can share one Redis. */
  readonly keyPrefix: string;
  readonly connectTimeoutMs: number;
  readonly commandTimeoutMs: number;
  /** Longest wait between reconnection attempts. */
  readonly maxReconnectDelayMs: number;
  /** This node's name in published messages (its own messages are ignored); random by default. */
  readonly nodeId?: string;
}

export type LinkState = 'connecting' | 'up' | 'down' | 'closed';

export interface RedisLink {
  readonly nodeId: string;
  readonly keyPrefix: string;
  /** The command client; check `state` first, commands reject while it is not `up`. */
  readonly commands: Redis;
  readonly state: LinkState;
  /** Calls `handler` with each message on `channel` (prefixed here) from other nodes' publishes. */
  subscribe(channel: string, handler: (message: string) => void): void;
  /** `up`: both clients ready (after every reconnection); `down`: once per outage. */
  onChange(handler: (state: 'up' | 'down', reason: string) => void): void;
  /**
   * Resolves once this node's subscriber has received every message published before the
   * call (Redis delivers a connection's messages in order): publishes a token and waits for
   * it, rejecting after `timeoutMs`. For tests and for an orderly close.
   */
  barrier(timeoutMs: number): Promise<void>;
  /**
   * Checks that Redis answers (PING, at most one outstanding): one that stopped answering
   * within the command timeout while its connection stays open (a hung server, a network
   * that drops silently) is treated as lost: the connections are dropped and made again,
   * which reports `down`, and `up` (with a resynchronisation) once it answers again.
   */
  probe(): void;
  /** Starts connecting; returns at once. */
  open(): void;
  close(): Promise<void>;
}

export function createRedisLink(options: RedisLinkOptions): RedisLink {
  const nodeId = options.nodeId ?? randomBytes(8).toString('hex');
  const common = {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: options.connectTimeoutMs,
    retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 10), options.maxReconnectDelayMs),
  };
  const commands = new Redis(options.url, { ...common, commandTimeout: options.commandTimeoutMs });
  // The subscriber has a queue of its own (SUBSCRIBE before ready); it takes no other command.
  const subscriber = new Redis(options.url, { ...common, enableOfflineQueue: true, autoResubscribe: true });
  const handlers = new Map<string, (message: string) => void>();
  const barriers = new Map<string, () => void>();
  let barrierSequence = 0;
  const listeners: ((state: 'up' | 'down', reason: string) => void)[] = [];
  let state: LinkState = 'connecting';
  let lastError = '';
  let probing = false;

  const ready = (): boolean => commands.status === 'ready' && subscriber.status === 'ready';

  function change(next: 'up' | 'down', reason: string): void {
    if (state === 'closed' || state === next) return;
    state = next;
    for (const listener of listeners) listener(next, reason);
  }

  function onReady(): void {
    if (ready()) change('up', 'connected');
  }

  function onLost(): void {
    if (state === 'closed') return;
    // The first failure to connect at start is an outage as well.
    change('down', lastError === '' ? 'connection lost' : lastError);
  }

  for (const client of [commands, subscriber]) {
    client.on('ready', onReady);
    client.on('close', onLost);
    client.on('error', (error: Error) => {
      // Kept for the `down` event's reason; ioredis retries by itself.
      lastError = error.message.slice(0, 200);
    });
  }
  const barrierChannel = `${options.keyPrefix}barrier`;
  handlers.set(barrierChannel, (token) => barriers.get(token)?.());
  subscriber.subscribe(barrierChannel).catch(() => undefined);
  subscriber.on('message', (channel: string, message: string) => {
    handlers.get(channel)?.(message);
  });

  return {
    nodeId,
    keyPrefix: options.keyPrefix,
    commands,
    get state() {
      return state;
    },
    subscribe(channel, handler) {
      const name = options.keyPrefix + channel;
      handlers.set(name, handler);
      // Queued until connected; ioredis subscribes again after each reconnection.
      subscriber.subscribe(name).catch(() => undefined);
    },
    onChange(handler) {
      listeners.push(handler);
    },
    async barrier(timeoutMs) {
      const token = `${nodeId}:${++barrierSequence}`;
      let timer: NodeJS.Timeout | undefined;
      const arrived = new Promise<void>((resolve, reject) => {
        barriers.set(token, resolve);
        timer = setTimeout(() => reject(new Error(`no barrier message within ${timeoutMs} ms`)), timeoutMs);
      });
      try {
        await commands.publish(barrierChannel, token);
        await arrived;
      } finally {
        clearTimeout(timer);
        barriers.delete(token);
      }
    },
    probe() {
      if (probing || state !== 'up') return;
      probing = true;
      commands
        .ping()
        .catch((error: Error) => {
          if (state !== 'up') return;
          lastError = `no answer: ${error.message.slice(0, 160)}`;
          // Reconnecting both: the subscriber of a hung server receives nothing either.
          commands.disconnect(true);
          subscriber.disconnect(true);
        })
        .finally(() => {
          probing = false;
        });
    },
    open() {
      commands.connect().catch(() => undefined);
      subscriber.connect().catch(() => undefined);
    },
    async close() {
      state = 'closed';
      await Promise.allSettled([commands.quit(), subscriber.quit()]);
      commands.disconnect();
      subscriber.disconnect();
    },
  };
}

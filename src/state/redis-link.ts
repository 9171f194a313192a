import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

/**
 * The connection of one node to the Redis that several sipwarden nodes share: one client for
 * commands and one for pub/sub (a subscribed connection takes no other commands).
 *
 * Nothing on the hot path waits on it. Commands fail at once while the connection is down
 * (no offline queue: the callers keep their work and retry after `up`), and within
 * `commandTimeoutMs` when Redis stops answering. ioredis reconnects by itself with a capped
 * back-off; the link subscribes again itself and reports `up` only once Redis has confirmed
 * every subscription, so that a resynchronisation run on `up` leaves no gap in which another
 * node's publish is neither in what it read nor received. `down` comes once per outage.
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
  // Subscriptions are made again by `onSubscriberReady`, which knows when Redis confirmed them.
  const subscriber = new Redis(options.url, { ...common, autoResubscribe: false });
  const handlers = new Map<string, (message: string) => void>();
  const barriers = new Map<string, () => void>();
  let barrierSequence = 0;
  const listeners: ((state: 'up' | 'down', reason: string) => void)[] = [];
  let state: LinkState = 'connecting';
  let lastError = '';
  let probing = false;
  /** Every channel in `handlers` is confirmed subscribed on the current subscriber connection. */
  let subscribed = false;

  const ready = (): boolean => commands.status === 'ready' && subscriber.status === 'ready' && subscribed;

  function change(next: 'up' | 'down', reason: string): void {
    if (state === 'closed' || state === next) return;
    state = next;
    for (const listener of listeners) listener(next, reason);
  }

  function onReady(): void {
    if (ready()) change('up', 'connected');
  }

  function onSubscriberReady(): void {
    subscriber
      .subscribe(...handlers.keys())
      .then(() => {
        subscribed = true;
        onReady();
      })
      // A failure here means the connection went again; its next `ready` subscribes anew.
      .catch(() => undefined);
  }

  function onLost(): void {
    subscribed = false;
    if (state === 'closed') return;
    // The first failure to connect at start is an outage as well.
    change('down', lastError === '' ? 'connection lost' : lastError);
  }

  commands.on('ready', onReady);
  subscriber.on('ready', onSubscriberReady);
  for (const client of [commands, subscriber]) {
    client.on('close', onLost);
    client.on('error', (error: Error) => {
      // Kept for the `down` event's reason; ioredis retries by itself.
      lastError = error.message.slice(0, 200);
    });
  }
  const barrierChannel = `${options.keyPrefix}barrier`;
  handlers.set(barrierChannel, (token) => barriers.get(token)?.());
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
      // Before the connection is ready, `onSubscriberReady` subscribes to it with the others.
      if (subscriber.status === 'ready') subscriber.subscribe(name).catch(() => undefined);
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
      // Published again every half second: a token lost with a dropped connection is sent anew.
      const publish = (): void => {
        commands.publish(barrierChannel, token).catch(() => undefined);
      };
      const again = setInterval(publish, 500);
      try {
        publish();
        await arrived;
      } finally {
        clearTimeout(timer);
        clearInterval(again);
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

/**
 * `GET /api/live`: the console's live feed as Server-Sent Events (HTML Living Standard,
 * "Server-sent events"). Every second one `stats` event:
 *   { at, messagesPerSecond: { received, forwarded, refused, dropped, ... }, calls,
 *     registrations, blockedSources }
 * and one `event` event per security event as the event bus reports it (an aggregate when
 * it opens and again, final, when its window closes; the same `aggregateId` names both).
 *
 * Bounded: at most `maxClients` streams at once (503 beyond), and a client that does not
 * read has its events dropped (counted in the next `stats` as `eventsDropped`) rather than
 * queued without end; one timer serves every client.
 */
import type { ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import type { EventSink, SecurityEvent } from '../events/types.ts';
import { ApiError } from './errors.ts';

/** Cumulative message counters by outcome; the route turns them into rates. */
export type MessageCounters = Readonly<Record<string, number>>;

/** What the gateway knows now. */
export interface LiveReadings {
  /** INVITE dialogs in progress (each call once). */
  readonly calls: number;
  /** Registrations held; null where sipwarden does not keep them (the registrar does). */
  readonly registrations: number | null;
  readonly blockedSources: number;
}

export interface LiveFeed {
  /** The event bus (or anything that hands batches of reported events to sinks). */
  readonly events: { subscribe(sink: EventSink): () => void };
  readonly counters: () => MessageCounters;
  readonly readings: () => LiveReadings;
}

export interface LiveStats extends LiveReadings {
  /** Epoch ms. */
  readonly at: number;
  readonly messagesPerSecond: Readonly<Record<string, number>>;
  /** Events not sent to this client since the last stats: it read too slowly. */
  readonly eventsDropped: number;
}

export interface LiveRouteOptions {
  readonly maxClients?: number;
  readonly intervalMs?: number;
  readonly now?: () => number;
}

export const DEFAULT_MAX_LIVE_CLIENTS = 32;
/** Bytes buffered for a client before its events are dropped. */
const MAX_BUFFERED_BYTES = 256 * 1024;
/** Keeps proxies and the browser from timing the stream out when nothing happens. */
const HEARTBEAT = ': keep-alive\n\n';

interface Client {
  readonly raw: ServerResponse;
  dropped: number;
}

export function registerLiveRoute(
  app: FastifyInstance,
  feed: LiveFeed,
  options: LiveRouteOptions = {},
): void {
  const maxClients = options.maxClients ?? DEFAULT_MAX_LIVE_CLIENTS;
  const intervalMs = options.intervalMs ?? 1000;
  const now = options.now ?? Date.now;
  const clients = new Set<Client>();
  let timer: NodeJS.Timeout | undefined;
  let unsubscribe: (() => void) | undefined;
  let last: { at: number; counters: MessageCounters } | undefined;

  const send = (client: Client, frame: string, droppable: boolean): void => {
    if (client.raw.destroyed || client.raw.writableEnded) return;
    if (droppable && client.raw.writableLength > MAX_BUFFERED_BYTES) {
      client.dropped++;
      return;
    }
    client.raw.write(frame);
  };

  const tick = (): void => {
    const at = now();
    const counters = feed.counters();
    const seconds = last === undefined ? 0 : (at - last.at) / 1000;
    const rates: Record<string, number> = {};
    for (const [name, value] of Object.entries(counters)) {
      const before = last?.counters[name] ?? value;
      rates[name] = seconds > 0 ? Math.max(0, Math.round(((value - before) / seconds) * 10) / 10) : 0;
    }
    last = { at, counters };
    const readings = feed.readings();
    for (const client of clients) {
      const stats: LiveStats = { at, messagesPerSecond: rates, ...readings, eventsDropped: client.dropped };
      client.dropped = 0;
      send(client, `event: stats\ndata: ${JSON.stringify(stats)}\n\n`, false);
      send(client, HEARTBEAT, true);
    }
  };

  const sink: EventSink = {
    write(batch: readonly SecurityEvent[]) {
      for (const event of batch) {
        const frame = `event: event\ndata: ${JSON.stringify(event)}\n\n`;
        for (const client of clients) send(client, frame, true);
      }
    },
  };

  const start = (): void => {
    if (timer !== undefined) return;
    last = { at: now(), counters: feed.counters() };
    timer = setInterval(tick, intervalMs);
    timer.unref();
    unsubscribe = feed.events.subscribe(sink);
  };

  const stop = (): void => {
    if (timer !== undefined) clearInterval(timer);
    timer = undefined;
    unsubscribe?.();
    unsubscribe = undefined;
  };

  app.addHook('onClose', async () => {
    stop();
    for (const client of clients) client.raw.end();
    clients.clear();
  });

  app.get('/api/live', { config: { role: 'viewer' as const } }, (request, reply) => {
    if (clients.size >= maxClients) {
      reply.header('retry-after', '5');
      throw new ApiError('SW_ERR_TOO_MANY_LIVE', `at most ${maxClients} live streams at once`);
    }
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-content-type-options': 'nosniff',
    });
    // The browser reconnects after 2 s when the stream breaks.
    raw.write('retry: 2000\n\n');
    const client: Client = { raw, dropped: 0 };
    clients.add(client);
    start();
    request.raw.socket.setTimeout(0);
    raw.on('close', () => {
      clients.delete(client);
      if (clients.size === 0) stop();
    });
    // First figures at once, so a page is live without waiting a whole interval.
    const readings = feed.readings();
    const first: LiveStats = {
      at: now(),
      messagesPerSecond: Object.fromEntries(Object.keys(feed.counters()).map((name) => [name, 0])),
      ...readings,
      eventsDropped: 0,
    };
    send(client, `event: stats\ndata: ${JSON.stringify(first)}\n\n`, false);
  });
}

import type { EventEmitter } from '../events/types.ts';
import type { MemoryActivityStore } from './memory-activity-store.ts';
import type { MemoryBlockTable } from './memory-block-table.ts';
import { createRedisActivityStore, type RedisActivityStore } from './redis-activity-store.ts';
import { createRedisBlockTable, type RedisBlockTable } from './redis-block-table.ts';
import { createRedisLink, type RedisLink } from './redis-link.ts';
import { createRedisRecords, type RedisRecords } from './redis-records.ts';
import { createRedisTrustTable, type RedisTrustTable } from './redis-trust-table.ts';
import type { TrustTable } from './types.ts';

/**
 * The state of one node shared with the other nodes through Redis (`state.backend: redis`):
 * the local tables wrapped so that blocks and trust are published to every node and the
 * activity counters merged at `syncIntervalMs`; the dialogs this node confirms replicated to
 * the others (src/state/redis-records.ts). Redis unreachable: every decision goes on
 * from the local tables, a `cluster` event says so (and another when it is back), and the
 * node resynchronises on reconnection (src/state/redis-block-table.ts: no block lost).
 */

export interface RedisStateSettings {
  readonly url: string;
  readonly keyPrefix: string;
  readonly syncIntervalMs: number;
  readonly connectTimeoutMs: number;
  readonly commandTimeoutMs: number;
  readonly maxReconnectDelayMs: number;
  /** Activity keys tracked for merging at once. */
  readonly maxTrackedKeys: number;
  /** Activity keys sent per merge. */
  readonly maxKeysPerSync: number;
  /** How long a trust record lasts (the local table's trust period). */
  readonly trustTtlMs: number;
  readonly maxBlocks: number;
  readonly maxTrusted: number;
  /**
   * The cluster secret as stored under `<keyPrefix>secret`, when this node read it there: put
   * back (SET NX) on every reconnection, in case Redis returned empty.
   */
  readonly storedSecret?: string;
  /** Dialogs read back at most by a resynchronisation (the local table's bound). */
  readonly maxDialogs?: number;
  readonly nodeId?: string;
}

/** Where the dialogs other nodes confirmed go: the proxy's table (attached once it exists). */
export interface DialogSink {
  put(id: string, value: string, expiresAt: number): void;
  remove(id: string): void;
}

export interface RedisState {
  readonly link: RedisLink;
  readonly blocks: RedisBlockTable;
  readonly trust: RedisTrustTable;
  readonly activity: RedisActivityStore;
  /** This node's dialogs, replicated to the others (src/state/redis-records.ts). */
  readonly dialogs: RedisRecords;
  /** Starts applying other nodes' dialogs to `sink`, beginning with every one Redis holds. */
  attachDialogs(sink: DialogSink): void;
  /** Connects and starts the merge timer; `events` receives the `cluster` events. */
  start(events: EventEmitter): void;
  close(): Promise<void>;
}

export function createRedisState(
  local: { activity: MemoryActivityStore; blocks: MemoryBlockTable; trust: TrustTable },
  settings: RedisStateSettings,
): RedisState {
  const link = createRedisLink({
    url: settings.url,
    keyPrefix: settings.keyPrefix,
    connectTimeoutMs: settings.connectTimeoutMs,
    commandTimeoutMs: settings.commandTimeoutMs,
    maxReconnectDelayMs: settings.maxReconnectDelayMs,
    ...(settings.nodeId === undefined ? {} : { nodeId: settings.nodeId }),
  });
  let events: EventEmitter | undefined;
  let resynced = { written: 0, loaded: 0 };
  const blocks = createRedisBlockTable(local.blocks, link, {
    maxEntries: settings.maxBlocks,
    onResync: (result) => {
      resynced = result;
    },
  });
  const trust = createRedisTrustTable(local.trust, link, {
    maxEntries: settings.maxTrusted,
    ttlMs: settings.trustTtlMs,
  });
  const activity = createRedisActivityStore(local.activity, link, {
    maxTrackedKeys: settings.maxTrackedKeys,
    maxKeysPerSync: settings.maxKeysPerSync,
  });
  let dialogSink: DialogSink | undefined;
  const dialogs = createRedisRecords(link, {
    name: 'dialogs',
    maxPending: settings.maxDialogs ?? 100_000,
    maxLoad: settings.maxDialogs ?? 100_000,
    onPut: (id, value, expiresAt) => dialogSink?.put(id, value, expiresAt),
    onRemove: (id) => dialogSink?.remove(id),
  });
  let timer: NodeJS.Timeout | undefined;
  let downSince: number | undefined;

  function report(rule: 'redis-down' | 'redis-up', reason: string, details: Record<string, string | number>) {
    events?.emit(
      {
        type: 'cluster',
        stage: 'state',
        rule,
        action: 'alert',
        key: `redis:${link.nodeId}`,
        reason,
        details,
      },
      Date.now(),
    );
  }

  link.onChange((state, why) => {
    if (state === 'down') {
      downSince = Date.now();
      report('redis-down', 'Redis unreachable: this node decides on its own state until it returns', {
        node: link.nodeId,
        error: why.replace(/[^\x20-\x7e]/g, '?').slice(0, 120),
      });
      return;
    }
    const outage = downSince === undefined ? 0 : Date.now() - downSince;
    const wasDown = downSince !== undefined;
    downSince = undefined;
    if (settings.storedSecret !== undefined) {
      link.commands.set(`${link.keyPrefix}secret`, settings.storedSecret, 'NX').catch(() => undefined);
    }
    void Promise.all([
      blocks.resync(),
      trust.resync(),
      dialogSink === undefined ? undefined : dialogs.resync(),
    ]).then(
      () => {
        if (wasDown) {
          report('redis-up', 'Redis reachable again: blocks and trust resynchronised', {
            node: link.nodeId,
            outageMs: outage,
            blocksWritten: resynced.written,
            blocksLoaded: resynced.loaded,
          });
        }
      },
      () => {
        // Lost again meanwhile: the next `up` resynchronises.
      },
    );
  });

  return {
    link,
    blocks,
    trust,
    activity,
    dialogs,
    attachDialogs(sink) {
      dialogSink = sink;
      if (link.state === 'up') void dialogs.resync().catch(() => undefined);
    },
    start(emitter) {
      events = emitter;
      link.open();
      timer = setInterval(() => {
        link.probe();
        if (link.state !== 'up') return;
        void activity.sync(Date.now());
        void blocks.flush();
        void trust.flush();
        void dialogs.flush();
      }, settings.syncIntervalMs);
      timer.unref();
    },
    async close() {
      clearInterval(timer);
      if (link.state === 'up') {
        await Promise.allSettled([blocks.flush(), trust.flush(), dialogs.flush(), activity.sync(Date.now())]);
      }
      await link.close();
    },
  };
}

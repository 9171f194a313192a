import { createManagementServer, type ManagementServer } from '../../../src/api/management-server.ts';
import type { UserAdmin } from '../../../src/api/user-routes.ts';
import type { AuditLog } from '../../../src/audit/audit-log.ts';
import { EventBus } from '../../../src/events/event-bus.ts';
import { FraudHolds } from '../../../src/fraud/holds.ts';
import { silentLogger } from '../../../src/log/logger.ts';
import { createMetrics, type Metrics } from '../../../src/metrics/metrics.ts';
import { createMemoryBlockTable, type MemoryBlockTable } from '../../../src/state/memory-block-table.ts';
import { createEventStore, type EventStore } from '../../../src/store/event-store.ts';

export const T0 = 1_750_000_000_000;

export interface TestStack {
  readonly server: ManagementServer;
  readonly blocks: MemoryBlockTable;
  readonly store: EventStore;
  readonly bus: EventBus;
  readonly metrics: Metrics;
  readonly holds: FraudHolds;
  /** The server's clock: tests move it. */
  readonly clock: { now: number };
  close(): Promise<void>;
}

/** A management server on a memory block table and an in-memory event store, at port 0. */
export function testStack(options: { host?: string; users?: UserAdmin; audit?: AuditLog } = {}): TestStack {
  const clock = { now: T0 };
  const blocks = createMemoryBlockTable({ maxEntries: 1000 });
  const store = createEventStore({ database: ':memory:', retentionDays: 30 });
  const metrics = createMetrics({ processMetrics: false });
  const bus = new EventBus({ windowMs: 10_000, clock: () => clock.now });
  bus.subscribe(store);
  metrics.setProvider(() => ({ blocks: blocks.stats().active }));
  const holds = new FraudHolds();
  const server = createManagementServer({
    host: options.host ?? '127.0.0.1',
    port: 0,
    blocks,
    events: store,
    metrics,
    bus,
    log: silentLogger,
    now: () => clock.now,
    ...(options.users === undefined ? {} : { users: options.users }),
    ...(options.audit === undefined ? {} : { audit: options.audit }),
    fraudHolds: holds,
  });
  return {
    server,
    holds,
    blocks,
    store,
    bus,
    metrics,
    clock,
    async close() {
      await server.close();
      bus.stop();
      store.close();
    },
  };
}

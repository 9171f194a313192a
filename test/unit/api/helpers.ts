import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { AccessControl } from '../../../src/api/auth/access-control.ts';
import { AccountStore } from '../../../src/api/auth/account-store.ts';
import type { AuditRecord, AuditRecorder } from '../../../src/api/auth/audit.ts';
import { ROLES, type Role } from '../../../src/api/auth/roles.ts';
import { createManagementServer, type ManagementServer } from '../../../src/api/management-server.ts';
import type { UserAdmin } from '../../../src/api/user-routes.ts';
import type { AssessmentStore } from '../../../src/assessments/assessment-store.ts';
import type { AuditLog } from '../../../src/audit/audit-log.ts';
import { EventBus } from '../../../src/events/event-bus.ts';
import { FraudHolds } from '../../../src/fraud/holds.ts';
import { silentLogger } from '../../../src/log/logger.ts';
import { createMetrics, type Metrics } from '../../../src/metrics/metrics.ts';
import { parseCidr } from '../../../src/state/cidr.ts';
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
  readonly access: AccessControl;
  /** An API token of each role. */
  readonly tokens: Readonly<Record<Role, string>>;
  /** What the access control audited, in order. */
  readonly audited: AuditRecord[];
  /** app.inject with an admin token, unless the options name their own authorization. */
  inject(options: InjectOptions): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

/** An access control on an in-memory account store, loopback allowed, recording its audit. */
export function testAccess(
  clock: { now: number } = { now: Date.now() },
  audited: AuditRecord[] = [],
  auditLog?: AuditRecorder,
): AccessControl {
  return new AccessControl({
    store: new AccountStore({ database: ':memory:', clock: () => clock.now }),
    allow: [parseCidr('127.0.0.0/8')!, parseCidr('::1')!],
    totpRequired: ['admin'],
    now: () => clock.now,
    audit: {
      record: (entry) => {
        audited.push(entry);
        auditLog?.record(entry);
      },
    },
  });
}

/** `{ authorization: 'Bearer ...' }` for a token. */
export function bearer(token: string): { authorization: string } {
  return { authorization: `Bearer ${token}` };
}

/** A management server on a memory block table and an in-memory event store, at port 0. */
export function testStack(
  options: { host?: string; users?: UserAdmin; audit?: AuditLog; assessments?: AssessmentStore } = {},
): TestStack {
  const clock = { now: T0 };
  const audited: AuditRecord[] = [];
  const access = testAccess(clock, audited, options.audit);
  const tokens = Object.fromEntries(
    ROLES.map((role) => [role, access.store.createToken({ name: role, role, createdBy: 'test' }).token]),
  ) as Record<Role, string>;
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
    ...(options.assessments === undefined ? {} : { assessments: options.assessments }),
    fraudHolds: holds,
    access,
  });
  return {
    server,
    holds,
    blocks,
    store,
    bus,
    metrics,
    clock,
    access,
    tokens,
    audited,
    inject(request) {
      const headers = { ...bearer(tokens.admin), ...(request.headers ?? {}) };
      return server.app.inject({ ...request, headers });
    },
    async close() {
      await server.close();
      access.store.close();
      bus.stop();
      store.close();
    },
  };
}

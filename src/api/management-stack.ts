/**
 * The management side of a gateway in one piece, built from the `management` and `events`
 * config sections: the event bus (with its log and SQLite sinks and the event counter), the
 * event store, the metrics registry and, when enabled, the management HTTP API.
 *
 * Order: creating it opens the store; start() starts the bus's flush timer and the
 * store's pruning, then listens;
 * close() stops listening, flushes the bus (every open aggregate reported final, so the
 * store has the last counts), then closes the store.
 */

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { type AssessmentStore, openAssessmentStore } from '../assessments/assessment-store.ts';
import { createAuditLog, type SqliteAuditLog } from '../audit/audit-log.ts';
import { CdrStore } from '../cdr/cdr-store.ts';
import type { SipwardenConfig } from '../config/schema.ts';
import { EventBus } from '../events/event-bus.ts';
import { buildExportSinks } from '../events/export/export-sinks.ts';
import { HepCapture } from '../events/export/hep-capture.ts';
import { createLogSink } from '../events/log-sink.ts';
import type { FraudHolds } from '../fraud/holds.ts';
import type { Logger } from '../log/logger.ts';
import { createMetrics, type Metrics, type ReadingsProvider } from '../metrics/metrics.ts';
import type { ReloadFunction } from '../reload/reload-route.ts';
import { parseCidr } from '../state/cidr.ts';
import type { BlockTable } from '../state/types.ts';
import { createEventStore, type EventStore } from '../store/event-store.ts';
import { AccessControl } from './auth/access-control.ts';
import { AccountStore } from './auth/account-store.ts';
import type { CallSource } from './calls-route.ts';
import type { LiveFeed } from './live-route.ts';
import { createManagementServer, type ManagementServer } from './management-server.ts';
import type { UserAdmin } from './user-routes.ts';

export interface ManagementStackDependencies {
  readonly blocks: BlockTable;
  readonly log: Logger;
  readonly now?: () => number;
  /** Gauge readings of the gateway (transactions, dialogs, blocks, transport, activity store). */
  readonly readings?: ReadingsProvider;
  /** Node's process metrics on /metrics; default true. */
  readonly processMetrics?: boolean;
  /** Open event aggregates at most; default 10,000. */
  readonly maxEventAggregates?: number;
  /** The user store, for the /api/users routes (the stack does not close it). */
  readonly users?: UserAdmin;
  /** Identities the fraud stage holds: listed and released through the API. */
  readonly fraudHolds?: FraudHolds;
  /** Call detail records in the same database (table `cdrs`), when enabled. */
  readonly cdrs?: Pick<SipwardenConfig['cdrs'], 'retentionDays' | 'maxRows'>;
  /** Reloads the gateway's configuration (POST /api/config/reload). */
  readonly reload?: ReloadFunction;
  /** The console's live figures (GET /api/live); its events come from the stack's bus. */
  readonly live?: Omit<LiveFeed, 'events'>;
  /** The built console's directory (tests); default dist/console of this installation. */
  readonly consoleDirectory?: string;
  /** The proxy's open calls, for GET /api/calls (read when asked: the proxy starts later). */
  readonly calls?: () => CallSource | undefined;
  /** The data directory: where `management.socket` is (default `sipwarden.sock`); no socket without it. */
  readonly dataDir?: string;
}

export interface ManagementStack {
  /** Where stages and the proxy emit events. */
  readonly bus: EventBus;
  readonly store: EventStore;
  /** The call detail records' store; undefined when CDRs are off. */
  readonly cdrs: CdrStore | undefined;
  /** The audit log (table `audit` in the events database), for every administrative action. */
  readonly audit: SqliteAuditLog;
  /** Signalling capture to Homer (`events.hep`): the gateway hands it the SIP messages. */
  readonly hep: HepCapture | undefined;
  /** Where the pipeline counts messages (`metrics.message(stage, verdict)`) and times them. */
  readonly metrics: Metrics;
  /** Undefined when `management.enabled` is false. */
  readonly server: ManagementServer | undefined;
  /** Accounts, tokens and sessions (in the events database, table mgmt_accounts, mgmt_tokens). */
  readonly access: AccessControl;
  /** Starts the timers and the API; resolves to the API's bound address, if enabled. */
  start(): Promise<{ host: string; port: number } | undefined>;
  /**
   * Reports every open event aggregate as final and writes every waiting row now, without
   * waiting for anything: for the exits that cannot wait for close() (a fatal error).
   */
  flushEvents(): void;
  close(): Promise<void>;
}

/** The `events` section with its database located (config/data-dir.ts): a file path or `:memory:`. */
export type LocatedEventsConfig = SipwardenConfig['events'] & { readonly database: string };

export function createManagementStack(
  management: SipwardenConfig['management'],
  events: LocatedEventsConfig,
  deps: ManagementStackDependencies,
): ManagementStack {
  const now = deps.now ?? Date.now;
  const eventLog = deps.log.child({ module: 'events' });
  const metrics = createMetrics({ processMetrics: deps.processMetrics ?? true });
  const bus = new EventBus({
    windowMs: events.aggregateWindowMs,
    clock: now,
    log: eventLog,
    onEmit: (event) => metrics.event(event.type, event.action),
    ...(deps.maxEventAggregates === undefined ? {} : { maxAggregates: deps.maxEventAggregates }),
  });
  // Throws EventStoreError (SW_ERR_EVENT_STORE_OPEN) naming the file when it cannot be opened.
  const store = createEventStore({
    database: events.database,
    retentionDays: events.retentionDays,
    log: eventLog,
    clock: now,
  });
  let cdrs: CdrStore | undefined;
  try {
    cdrs =
      deps.cdrs === undefined
        ? undefined
        : new CdrStore({
            database: events.database,
            retentionDays: deps.cdrs.retentionDays,
            maxRows: deps.cdrs.maxRows,
            log: deps.log.child({ module: 'cdrs' }),
            clock: now,
          });
  } catch (error) {
    store.close();
    throw error;
  }
  let audit: SqliteAuditLog;
  try {
    audit = createAuditLog({
      database: events.database,
      log: deps.log.child({ module: 'audit' }),
      clock: now,
    });
  } catch (error) {
    store.close();
    cdrs?.close();
    throw error;
  }
  let assessments: AssessmentStore;
  try {
    assessments = openAssessmentStore(events.database);
  } catch (error) {
    store.close();
    cdrs?.close();
    audit.close();
    throw error;
  }
  bus.subscribe(createLogSink(eventLog));
  bus.subscribe(store);
  const exported = buildExportSinks(events, eventLog);
  for (const sink of exported.sinks) bus.subscribe(sink);
  let hep: HepCapture | undefined;
  try {
    hep =
      events.hep === undefined
        ? undefined
        : new HepCapture(events.hep, deps.log.child({ module: 'hep' }), now);
  } catch (error) {
    store.close();
    cdrs?.close();
    audit.close();
    throw error;
  }
  if (hep !== undefined) bus.subscribe(hep);
  metrics.setProvider(() => {
    const busStats = bus.stats();
    return {
      eventAggregates: busStats.open,
      eventsOverflowed: busStats.overflowed,
      eventStoreWriteErrors: store.stats().writeErrors,
      ...(cdrs === undefined ? {} : { cdrStoreWriteErrors: cdrs.stats().writeErrors }),
      ...(exported.sinks.length === 0
        ? {}
        : { eventsExported: exported.stats().sent, eventsExportDropped: exported.stats().dropped }),
      blocks: deps.blocks.stats().active,
      auditNotWritten: audit.stats().writeErrors + audit.stats().dropped,
      ...(hep === undefined
        ? {}
        : { hepSent: hep.stats().sent, hepDropped: hep.stats().dropped + hep.stats().sendErrors }),
    };
  }, 'management');
  if (deps.readings !== undefined) metrics.setProvider(deps.readings, 'gateway');
  let server: ManagementServer | undefined;
  let accounts: AccountStore | undefined;
  let access: AccessControl;
  try {
    accounts = new AccountStore({ database: events.database, clock: now });
    access = new AccessControl({
      store: accounts,
      allow: management.allow.map((text) => parseCidr(text.trim())!),
      totpRequired: management.totpRequired,
      now,
      audit,
    });
    const socket = socketOf(management, deps.dataDir);
    server = management.enabled
      ? createManagementServer({
          host: management.host,
          port: management.port,
          blocks: deps.blocks,
          events: store,
          ...(cdrs === undefined ? {} : { cdrs }),
          metrics,
          bus,
          log: deps.log.child({ module: 'api' }),
          now,
          ...(deps.users === undefined ? {} : { users: deps.users }),
          ...(deps.fraudHolds === undefined ? {} : { fraudHolds: deps.fraudHolds }),
          ...(deps.live === undefined ? {} : { live: { ...deps.live, events: bus } }),
          ...(deps.consoleDirectory === undefined ? {} : { consoleDirectory: deps.consoleDirectory }),
          ...(deps.calls === undefined ? {} : { calls: deps.calls }),
          access,
          ...(management.tls === undefined ? {} : { https: readManagementTls(management.tls) }),
          ...(socket === undefined
            ? {}
            : { socket: { path: socket, required: management.socket !== undefined } }),
          audit,
          assessments,
          ...(deps.reload === undefined ? {} : { reload: deps.reload }),
        })
      : undefined;
  } catch (error) {
    accounts?.close();
    store.close();
    cdrs?.close();
    audit.close();
    throw error;
  }
  let started = false;
  let closed = false;
  return {
    bus,
    store,
    cdrs,
    audit,
    hep,
    metrics,
    server,
    access,
    async start() {
      if (!started) {
        started = true;
        bus.start();
        store.start();
        cdrs?.start();
      }
      return server?.listen();
    },
    flushEvents() {
      bus.stop();
      store.drain();
      cdrs?.drain();
    },
    async close() {
      if (closed) return;
      closed = true;
      try {
        await server?.close();
      } finally {
        bus.stop();
        store.close();
        cdrs?.close();
        accounts?.close();
        audit.close();
        assessments.close();
        await hep?.close();
        await Promise.all(exported.sinks.map((sink) => sink.close?.()));
      }
    },
  };
}

/** The unix socket's path: `management.socket` (relative to the data directory), by default
 * `sipwarden.sock` there; none when set to false or without a data directory. */
export function socketOf(
  management: SipwardenConfig['management'],
  dataDir: string | undefined,
): string | undefined {
  if (management.socket === false || dataDir === undefined) return undefined;
  return resolve(dataDir, management.socket ?? DEFAULT_SOCKET);
}

export const DEFAULT_SOCKET = 'sipwarden.sock';

function readManagementTls(tls: { cert: string; key: string }): { cert: Buffer; key: Buffer } {
  const read = (path: string, key: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (error) {
      throw new Error(
        `management.tls.${key}: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
      );
    }
  };
  return { cert: read(tls.cert, 'cert'), key: read(tls.key, 'key') };
}

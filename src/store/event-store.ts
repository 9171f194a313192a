/**
 * The event store: security events in SQLite (one file, or `:memory:`), as a sink of the
 * event bus and for queries by the management API.
 *
 * One row per aggregate: the bus reports an aggregate when it opens and again with its
 * final count, both with the same aggregate id, and the store upserts on that id. Rows are
 * written in transactions of at most WRITE_CHUNK rows with prepared statements; a larger
 * batch (a distributed attack opens thousands of aggregates a second) is written a chunk
 * per event-loop turn, so the proxy is never held up for more than one chunk (about 10 ms),
 * and at most MAX_PENDING rows wait (beyond that they are counted as dropped). Write
 * failures (disk full, file removed) are logged and counted, never thrown into the bus. Rows older than the retention
 * period, and the oldest beyond `maxRows`, are deleted at start and every hour. A file the
 * store creates is its owner's only (mode 0600), and so are SQLite's -wal and -shm files.
 */
import { closeSync, openSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { EventAction, EventSink, EventType, SecurityEvent } from '../events/types.ts';
import type { Logger } from '../log/logger.ts';
import { silentLogger } from '../log/logger.ts';
import { ChunkedWriter, DEFAULT_WRITE_CHUNK } from './chunked-writer.ts';
import { EventStoreError } from './errors.ts';

export interface EventStoreOptions {
  /** A file path, or `:memory:`. */
  readonly database: string;
  readonly retentionDays: number;
  /** A bound on rows whatever the retention: the oldest go first. */
  readonly maxRows?: number;
  readonly log?: Logger;
  readonly clock?: () => number;
}

export interface EventQuery {
  /** Epoch ms: events whose last occurrence is at or after this. */
  readonly since?: number;
  /** Epoch ms: events whose first occurrence is at or before this. */
  readonly until?: number;
  readonly type?: EventType;
  /** A source address, exactly. */
  readonly source?: string;
  /** 1..1000, default 100. */
  readonly limit?: number;
}

export interface EventStoreStats {
  readonly rowsWritten: number;
  readonly writeErrors: number;
  readonly rowsPruned: number;
  /** Rows waiting for the next chunk. */
  readonly pending: number;
  /** Rows dropped because MAX_PENDING were already waiting. */
  readonly rowsDropped: number;
}

/** What the management API needs of the store. */
export interface EventReader {
  query(query: EventQuery): SecurityEvent[];
}

export const DEFAULT_QUERY_LIMIT = 100;
export const MAX_QUERY_LIMIT = 1000;
export const DEFAULT_MAX_ROWS = 5_000_000;
const DAY_MS = 86_400_000;
const PRUNE_INTERVAL_MS = 3_600_000;
/** Rows per transaction and event-loop turn: about 10 ms of writing. */
export const WRITE_CHUNK = DEFAULT_WRITE_CHUNK;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY,
  aggregate_id TEXT UNIQUE,
  type TEXT NOT NULL,
  stage TEXT NOT NULL,
  rule TEXT,
  action TEXT NOT NULL,
  source_address TEXT,
  source_port INTEGER,
  source_transport TEXT,
  key TEXT,
  reason TEXT NOT NULL,
  status INTEGER,
  details TEXT,
  first_seen INTEGER NOT NULL,
  last_seen INTEGER NOT NULL,
  count INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS events_last_seen ON events (last_seen);
CREATE INDEX IF NOT EXISTS events_type_last_seen ON events (type, last_seen);
CREATE INDEX IF NOT EXISTS events_source_last_seen ON events (source_address, last_seen);
`;

// A later report of the same aggregate carries the final count and last occurrence.
const UPSERT = `
INSERT INTO events (aggregate_id, type, stage, rule, action, source_address, source_port,
  source_transport, key, reason, status, details, first_seen, last_seen, count)
VALUES (@aggregateId, @type, @stage, @rule, @action, @sourceAddress, @sourcePort,
  @sourceTransport, @key, @reason, @status, @details, @firstSeen, @lastSeen, @count)
ON CONFLICT (aggregate_id) DO UPDATE SET
  last_seen = max(last_seen, excluded.last_seen),
  count = max(count, excluded.count)`;

interface EventRow {
  id: number;
  aggregate_id: string | null;
  type: string;
  stage: string;
  rule: string | null;
  action: string;
  source_address: string | null;
  source_port: number | null;
  source_transport: string | null;
  key: string | null;
  reason: string;
  status: number | null;
  details: string | null;
  first_seen: number;
  last_seen: number;
  count: number;
}

interface RowParameters {
  aggregateId: string | null;
  type: string;
  stage: string;
  rule: string | null;
  action: string;
  sourceAddress: string | null;
  sourcePort: number | null;
  sourceTransport: string | null;
  key: string | null;
  reason: string;
  status: number | null;
  details: string | null;
  firstSeen: number;
  lastSeen: number;
  count: number;
}

export class EventStore implements EventSink, EventReader {
  readonly #db: Database.Database;
  readonly #log: Logger;
  readonly #clock: () => number;
  readonly #retentionMs: number;
  readonly #maxRows: number;
  readonly #writer: ChunkedWriter<SecurityEvent>;
  readonly #pruneOld: Database.Statement<[number]>;
  readonly #pruneExcess: Database.Statement<[number]>;
  /** Prepared query statements, one per combination of filters. */
  readonly #queries = new Map<string, Database.Statement<unknown[], EventRow>>();
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #rowsPruned = 0;

  constructor(options: EventStoreOptions) {
    this.#log = options.log ?? silentLogger;
    this.#clock = options.clock ?? Date.now;
    this.#retentionMs = options.retentionDays * DAY_MS;
    this.#maxRows = options.maxRows ?? DEFAULT_MAX_ROWS;
    try {
      createOwnerOnly(options.database);
      this.#db = new Database(options.database);
    } catch (error) {
      throw new EventStoreError(
        'SW_ERR_EVENT_STORE_OPEN',
        `events.database: cannot open ${options.database}: ${(error as Error).message}`,
        { cause: error },
      );
    }
    try {
      // WAL: readers (the API) do not wait for the writer, and a crash loses at most the
      // last transaction; NORMAL sync is durable enough for events with WAL.
      this.#db.pragma('journal_mode = WAL');
      this.#db.pragma('synchronous = NORMAL');
      this.#db.exec(SCHEMA);
      const upsert = this.#db.prepare<RowParameters>(UPSERT);
      const writeBatch = this.#db.transaction((events: readonly SecurityEvent[]) => {
        for (const event of events) upsert.run(toRow(event));
      });
      this.#writer = new ChunkedWriter({ writeBatch, log: this.#log, store: 'event store', rows: 'events' });
      this.#pruneOld = this.#db.prepare<[number]>('DELETE FROM events WHERE last_seen < ?');
      this.#pruneExcess = this.#db.prepare<[number]>(
        'DELETE FROM events WHERE id <= (SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET ?)',
      );
    } catch (error) {
      this.#db.close();
      throw new EventStoreError(
        'SW_ERR_EVENT_STORE_OPEN',
        `events.database: cannot use ${options.database}: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }

  /** Prunes now and then every hour, on a timer that does not keep the process alive. */
  start(): void {
    if (this.#timer !== undefined || this.#closed) return;
    this.prune(this.#clock());
    this.#timer = setInterval(() => this.prune(this.#clock()), PRUNE_INTERVAL_MS);
    this.#timer.unref();
  }

  /** EventSink: writes the first chunk now, the rest on later event-loop turns. Never throws. */
  write(events: readonly SecurityEvent[]): void {
    if (!this.#closed) this.#writer.write(events);
  }

  /** Writes every waiting row now (before close, and for tests). */
  drain(): void {
    this.#writer.drain();
  }

  /** Newest first (by last occurrence). Throws EventStoreError when the database fails. */
  query(query: EventQuery): SecurityEvent[] {
    if (this.#closed) throw new EventStoreError('SW_ERR_EVENT_STORE_CLOSED', 'the event store is closed');
    const conditions: string[] = [];
    const values: (string | number)[] = [];
    if (query.since !== undefined) {
      conditions.push('last_seen >= ?');
      values.push(query.since);
    }
    if (query.until !== undefined) {
      conditions.push('first_seen <= ?');
      values.push(query.until);
    }
    if (query.type !== undefined) {
      conditions.push('type = ?');
      values.push(query.type);
    }
    if (query.source !== undefined) {
      conditions.push('source_address = ?');
      values.push(query.source);
    }
    values.push(clampLimit(query.limit));
    const where = conditions.length === 0 ? '' : ` WHERE ${conditions.join(' AND ')}`;
    try {
      let statement = this.#queries.get(where);
      if (statement === undefined) {
        statement = this.#db.prepare<unknown[], EventRow>(
          `SELECT * FROM events${where} ORDER BY last_seen DESC, id DESC LIMIT ?`,
        );
        this.#queries.set(where, statement);
      }
      return statement.all(...values).map(fromRow);
    } catch (error) {
      throw new EventStoreError(
        'SW_ERR_EVENT_STORE_QUERY',
        `cannot read events: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
  }

  /** Deletes rows past the retention period and the oldest beyond maxRows. Never throws. */
  prune(now: number): number {
    if (this.#closed) return 0;
    try {
      const old = this.#pruneOld.run(now - this.#retentionMs).changes;
      const excess = this.#pruneExcess.run(this.#maxRows).changes;
      this.#rowsPruned += old + excess;
      if (old + excess > 0) this.#log.info({ old, excess }, 'event store: pruned events');
      return old + excess;
    } catch (error) {
      this.#log.error({ err: error }, 'event store: cannot prune events');
      return 0;
    }
  }

  stats(): EventStoreStats {
    return {
      ...this.#writer.stats(),
      rowsPruned: this.#rowsPruned,
    };
  }

  /** Writes what is waiting, then closes the database. */
  close(): void {
    if (this.#closed) return;
    this.#writer.close();
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#db.close();
  }
}

/**
 * Creates the database file readable and writable by its owner only, unless it exists (an
 * existing file keeps the mode its owner gave it). SQLite gives the -wal and -shm files it
 * creates beside it the mode of the database file, so they are owner-only too.
 */
export function createOwnerOnly(database: string): void {
  if (database === ':memory:' || database === '' || database.startsWith('file:')) return;
  try {
    closeSync(openSync(database, 'wx', 0o600));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return;
    throw new Error(FILE_ERRORS[code ?? ''] ?? `cannot create the file (${code ?? 'error'})`, {
      cause: error,
    });
  }
}

const FILE_ERRORS: Readonly<Record<string, string>> = {
  ENOENT: 'the directory does not exist',
  ENOTDIR: 'a part of the path is not a directory',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'the file system is read-only',
  EISDIR: 'it is a directory',
};

export function createEventStore(options: EventStoreOptions): EventStore {
  return new EventStore(options);
}

function clampLimit(limit: number | undefined): number {
  if (limit === undefined || !Number.isFinite(limit)) return DEFAULT_QUERY_LIMIT;
  return Math.min(MAX_QUERY_LIMIT, Math.max(1, Math.trunc(limit)));
}

function toRow(event: SecurityEvent): RowParameters {
  return {
    aggregateId: event.aggregateId ?? null,
    type: event.type,
    stage: event.stage,
    rule: event.rule ?? null,
    action: event.action,
    sourceAddress: event.source?.address ?? null,
    sourcePort: event.source?.port ?? null,
    sourceTransport: event.source?.transport ?? null,
    key: event.key ?? null,
    reason: event.reason,
    status: event.status ?? null,
    details: event.details === undefined ? null : JSON.stringify(event.details),
    firstSeen: event.firstSeen,
    lastSeen: event.lastSeen,
    count: event.count,
  };
}

function fromRow(row: EventRow): SecurityEvent {
  const details = parseDetails(row.details);
  return {
    id: row.id,
    ...(row.aggregate_id === null ? {} : { aggregateId: row.aggregate_id }),
    type: row.type as EventType,
    stage: row.stage,
    ...(row.rule === null ? {} : { rule: row.rule }),
    action: row.action as EventAction,
    ...(row.source_address === null
      ? {}
      : {
          source: {
            address: row.source_address,
            port: row.source_port ?? 0,
            transport: row.source_transport ?? '',
          },
        }),
    ...(row.key === null ? {} : { key: row.key }),
    reason: row.reason,
    ...(row.status === null ? {} : { status: row.status }),
    ...(details === undefined ? {} : { details }),
    firstSeen: row.first_seen,
    lastSeen: row.last_seen,
    count: row.count,
  };
}

function parseDetails(text: string | null): Record<string, string | number> | undefined {
  if (text === null) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
    const out: Record<string, string | number> = {};
    for (const [name, entry] of Object.entries(value)) {
      if (typeof entry === 'string' || typeof entry === 'number') out[name] = entry;
    }
    return out;
  } catch {
    return undefined;
  }
}

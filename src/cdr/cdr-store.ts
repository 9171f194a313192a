/**
 * The call detail records in SQLite: table `cdrs` in the same database file as the events
 * (its own connection), written and pruned as the event store does: rows in transactions
 * of at most WRITE_CHUNK, a larger batch a chunk per event-loop turn; at most MAX_PENDING
 * rows waiting (beyond, counted as dropped); write failures logged and counted, never
 * thrown; rows older than the retention period, and the oldest beyond `maxRows`, deleted
 * at start and every hour. A file it creates is its owner's only (mode 0600).
 *
 * `openCdrReader` opens the same table read-only for `sipwarden cdrs`.
 */
import Database from 'better-sqlite3';
import type { Logger } from '../log/logger.ts';
import { silentLogger } from '../log/logger.ts';
import { ChunkedWriter, DEFAULT_WRITE_CHUNK } from '../store/chunked-writer.ts';
import { EventStoreError } from '../store/errors.ts';
import { createOwnerOnly } from '../store/event-store.ts';
import type { CdrSink } from './call-recorder.ts';
import type { CallDetailRecord, Disposition, EndedBy, EndReason } from './cdr.ts';

export interface CdrStoreOptions {
  /** A file path, or `:memory:`. */
  readonly database: string;
  readonly retentionDays: number;
  /** A bound on rows whatever the retention: the oldest go first. */
  readonly maxRows: number;
  readonly log?: Logger;
  readonly clock?: () => number;
}

export interface CdrQuery {
  /** Epoch ms: calls that started at or after this. */
  readonly since?: number;
  /** Epoch ms: calls that started at or before this. */
  readonly until?: number;
  /**
   * Calls where this user is the caller or callee, as signalled (From, To, Request-URI)
   * or as authenticated; `user@domain` matches the user and domain together.
   */
  readonly user?: string;
  /** 1..MAX_CDR_QUERY_LIMIT, default DEFAULT_CDR_QUERY_LIMIT. */
  readonly limit?: number;
}

export interface CdrReader {
  /** Newest first (by start time). Throws EventStoreError (SW_ERR_CDR_STORE_QUERY) when the database fails. */
  query(query: CdrQuery): CallDetailRecord[];
}

export interface CdrStoreStats {
  readonly rowsWritten: number;
  readonly writeErrors: number;
  readonly rowsPruned: number;
  readonly pending: number;
  readonly rowsDropped: number;
}

export const DEFAULT_CDR_QUERY_LIMIT = 1000;
export const MAX_CDR_QUERY_LIMIT = 1_000_000;
const DAY_MS = 86_400_000;
const PRUNE_INTERVAL_MS = 3_600_000;
export const CDR_WRITE_CHUNK = DEFAULT_WRITE_CHUNK;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS cdrs (
  id INTEGER PRIMARY KEY,
  call_id TEXT NOT NULL,
  direction TEXT NOT NULL,
  legs INTEGER NOT NULL,
  start_time INTEGER NOT NULL,
  answer_time INTEGER,
  end_time INTEGER NOT NULL,
  duration_ms INTEGER,
  from_user TEXT,
  from_domain TEXT,
  to_user TEXT,
  to_domain TEXT,
  request_user TEXT,
  request_domain TEXT,
  auth_user TEXT,
  auth_domain TEXT,
  auth_method TEXT,
  source_address TEXT NOT NULL,
  source_port INTEGER NOT NULL,
  source_transport TEXT NOT NULL,
  disposition TEXT NOT NULL,
  status INTEGER,
  ended_by TEXT,
  end_reason TEXT NOT NULL,
  refusal_stage TEXT,
  refusal_rule TEXT,
  refusal_reason TEXT
);
CREATE INDEX IF NOT EXISTS cdrs_start_time ON cdrs (start_time);
CREATE INDEX IF NOT EXISTS cdrs_end_time ON cdrs (end_time);
`;

const INSERT = `
INSERT INTO cdrs (call_id, direction, legs, start_time, answer_time, end_time, duration_ms,
  from_user, from_domain, to_user, to_domain, request_user, request_domain, auth_user,
  auth_domain, auth_method, source_address, source_port, source_transport, disposition,
  status, ended_by, end_reason, refusal_stage, refusal_rule, refusal_reason)
VALUES (@callId, @direction, @legs, @startTime, @answerTime, @endTime, @durationMs,
  @fromUser, @fromDomain, @toUser, @toDomain, @requestUser, @requestDomain, @authUser,
  @authDomain, @authMethod, @sourceAddress, @sourcePort, @sourceTransport, @disposition,
  @status, @endedBy, @endReason, @refusalStage, @refusalRule, @refusalReason)`;

interface CdrRow {
  id: number;
  call_id: string;
  direction: string;
  legs: number;
  start_time: number;
  answer_time: number | null;
  end_time: number;
  duration_ms: number | null;
  from_user: string | null;
  from_domain: string | null;
  to_user: string | null;
  to_domain: string | null;
  request_user: string | null;
  request_domain: string | null;
  auth_user: string | null;
  auth_domain: string | null;
  auth_method: string | null;
  source_address: string;
  source_port: number;
  source_transport: string;
  disposition: string;
  status: number | null;
  ended_by: string | null;
  end_reason: string;
  refusal_stage: string | null;
  refusal_rule: string | null;
  refusal_reason: string | null;
}

type RowParameters = Omit<CallDetailRecord, 'id'>;

export class CdrStore implements CdrSink, CdrReader {
  readonly #db: Database.Database;
  readonly #log: Logger;
  readonly #clock: () => number;
  readonly #retentionMs: number;
  readonly #maxRows: number;
  readonly #writer: ChunkedWriter<CallDetailRecord>;
  readonly #pruneOld: Database.Statement<[number]>;
  readonly #pruneExcess: Database.Statement<[number]>;
  readonly #queries: QueryCache;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #rowsPruned = 0;

  constructor(options: CdrStoreOptions) {
    this.#log = options.log ?? silentLogger;
    this.#clock = options.clock ?? Date.now;
    this.#retentionMs = options.retentionDays * DAY_MS;
    this.#maxRows = options.maxRows;
    try {
      createOwnerOnly(options.database);
      this.#db = new Database(options.database);
    } catch (error) {
      throw new EventStoreError(
        'SW_ERR_CDR_STORE_OPEN',
        `cdrs: cannot open ${options.database}: ${(error as Error).message}`,
        { cause: error },
      );
    }
    try {
      this.#db.pragma('journal_mode = WAL');
      this.#db.pragma('synchronous = NORMAL');
      // The events' connection may hold the write lock for a chunk: wait that long, not fail.
      this.#db.pragma('busy_timeout = 1000');
      this.#db.exec(SCHEMA);
      const insert = this.#db.prepare<RowParameters>(INSERT);
      const writeBatch = this.#db.transaction((records: readonly CallDetailRecord[]) => {
        for (const record of records) insert.run(toRow(record));
      });
      this.#writer = new ChunkedWriter({
        writeBatch,
        log: this.#log,
        store: 'cdr store',
        rows: 'call detail records',
      });
      this.#pruneOld = this.#db.prepare<[number]>('DELETE FROM cdrs WHERE end_time < ?');
      this.#pruneExcess = this.#db.prepare<[number]>(
        'DELETE FROM cdrs WHERE id <= (SELECT id FROM cdrs ORDER BY id DESC LIMIT 1 OFFSET ?)',
      );
      this.#queries = new QueryCache(this.#db);
    } catch (error) {
      this.#db.close();
      throw new EventStoreError(
        'SW_ERR_CDR_STORE_OPEN',
        `cdrs: cannot use ${options.database}: ${(error as Error).message}`,
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

  /** CdrSink: writes the first chunk now, the rest on later event-loop turns. Never throws. */
  write(records: readonly CallDetailRecord[]): void {
    if (!this.#closed) this.#writer.write(records);
  }

  /** Writes every waiting row now (before close, and for tests). */
  drain(): void {
    this.#writer.drain();
  }

  query(query: CdrQuery): CallDetailRecord[] {
    if (this.#closed) throw new EventStoreError('SW_ERR_CDR_STORE_QUERY', 'the CDR store is closed');
    return this.#queries.run(query);
  }

  /** Deletes rows past the retention period and the oldest beyond maxRows. Never throws. */
  prune(now: number): number {
    if (this.#closed) return 0;
    try {
      const old = this.#pruneOld.run(now - this.#retentionMs).changes;
      const excess = this.#pruneExcess.run(this.#maxRows).changes;
      this.#rowsPruned += old + excess;
      if (old + excess > 0) this.#log.info({ old, excess }, 'cdr store: pruned call detail records');
      return old + excess;
    } catch (error) {
      this.#log.error({ err: error }, 'cdr store: cannot prune call detail records');
      return 0;
    }
  }

  stats(): CdrStoreStats {
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
 * The records table of a database file, read-only (`sipwarden cdrs`). A database without
 * the table (no call recorded yet) reads as empty. Throws EventStoreError when the file
 * cannot be opened.
 */
export function openCdrReader(database: string): CdrReader & { close(): void } {
  let db: Database.Database;
  try {
    db = new Database(database, { readonly: true, fileMustExist: true });
  } catch (error) {
    throw new EventStoreError(
      'SW_ERR_CDR_STORE_OPEN',
      `cannot open ${database}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'cdrs'").get();
  const queries = exists === undefined ? undefined : new QueryCache(db);
  return {
    query: (query) => queries?.run(query) ?? [],
    close: () => db.close(),
  };
}

/** Prepared statements, one per combination of filters. */
class QueryCache {
  readonly #db: Database.Database;
  readonly #statements = new Map<string, Database.Statement<unknown[], CdrRow>>();

  constructor(db: Database.Database) {
    this.#db = db;
  }

  run(query: CdrQuery): CallDetailRecord[] {
    const conditions: string[] = [];
    const values: (string | number)[] = [];
    if (query.since !== undefined) {
      conditions.push('start_time >= ?');
      values.push(query.since);
    }
    if (query.until !== undefined) {
      conditions.push('start_time <= ?');
      values.push(query.until);
    }
    if (query.user !== undefined) {
      const at = query.user.lastIndexOf('@');
      if (at > 0) {
        conditions.push(
          '((from_user = ? AND from_domain = ?) OR (to_user = ? AND to_domain = ?) OR ' +
            '(request_user = ? AND request_domain = ?) OR (auth_user = ? AND auth_domain = ?))',
        );
        const user = query.user.slice(0, at);
        const domain = query.user.slice(at + 1).toLowerCase();
        values.push(user, domain, user, domain, user, domain, user, domain);
      } else {
        conditions.push('(from_user = ? OR to_user = ? OR request_user = ? OR auth_user = ?)');
        values.push(query.user, query.user, query.user, query.user);
      }
    }
    values.push(clampLimit(query.limit));
    const where = conditions.length === 0 ? '' : ` WHERE ${conditions.join(' AND ')}`;
    try {
      let statement = this.#statements.get(where);
      if (statement === undefined) {
        statement = this.#db.prepare<unknown[], CdrRow>(
          `SELECT * FROM cdrs${where} ORDER BY start_time DESC, id DESC LIMIT ?`,
        );
        this.#statements.set(where, statement);
      }
      return statement.all(...values).map(fromRow);
    } catch (error) {
      throw new EventStoreError(
        'SW_ERR_CDR_STORE_QUERY',
        `cannot read call detail records: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }
}

export function clampLimit(limit: number | undefined): number {
  if (limit === undefined || !Number.isFinite(limit)) return DEFAULT_CDR_QUERY_LIMIT;
  return Math.min(MAX_CDR_QUERY_LIMIT, Math.max(1, Math.trunc(limit)));
}

function toRow(record: CallDetailRecord): RowParameters {
  const { id: _id, ...row } = record;
  return row;
}

function fromRow(row: CdrRow): CallDetailRecord {
  return {
    id: row.id,
    callId: row.call_id,
    direction: row.direction === 'upstream' ? 'upstream' : 'client',
    legs: row.legs,
    startTime: row.start_time,
    answerTime: row.answer_time,
    endTime: row.end_time,
    durationMs: row.duration_ms,
    fromUser: row.from_user,
    fromDomain: row.from_domain,
    toUser: row.to_user,
    toDomain: row.to_domain,
    requestUser: row.request_user,
    requestDomain: row.request_domain,
    authUser: row.auth_user,
    authDomain: row.auth_domain,
    authMethod: row.auth_method,
    sourceAddress: row.source_address,
    sourcePort: row.source_port,
    sourceTransport: row.source_transport,
    disposition: row.disposition as Disposition,
    status: row.status,
    endedBy: row.ended_by as EndedBy | null,
    endReason: row.end_reason as EndReason,
    refusalStage: row.refusal_stage,
    refusalRule: row.refusal_rule,
    refusalReason: row.refusal_reason,
  };
}

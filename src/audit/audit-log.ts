/**
 * The audit log: who did what to the gateway, when and from where (logins, blocks, account
 * and token changes, configuration reloads). Table `audit` in the events database file,
 * on a connection of its own, kept apart from the security events and never pruned by
 * their retention. The table is append-only: triggers refuse UPDATE and DELETE, so neither
 * this code nor a mistaken query can rewrite the record.
 *
 * Administrative actions are rare, so each entry is written at once (no batching: an
 * entry must survive a crash right after the action). What the network can cause (failed
 * logins) is bounded twice: each field is cut to a fixed length, and at most
 * MAX_ENTRIES_PER_SECOND entries are written a second; beyond that they are counted, and an
 * `audit.dropped` entry written before the next admitted one says how many went unwritten. A write failure (disk full) is logged
 * and counted, never thrown into the action being audited.
 *
 * `openAuditReader` opens the same table read-only for `sipwarden audit`.
 */
import Database from 'better-sqlite3';
import type { Logger } from '../log/logger.ts';
import { silentLogger } from '../log/logger.ts';
import { createOwnerOnly } from '../store/event-store.ts';
import { AuditLogError } from './errors.ts';

export interface AuditEntry {
  /** Epoch ms. */
  readonly at: number;
  /** The account name; `local` for the unix socket or a signal; `-` when unknown. */
  readonly actor: string;
  /** The client's address; `-` when there is none (a signal). */
  readonly address: string;
  /** A dotted name: `session.login`, `block.add`, `config.reload`, ... */
  readonly action: string;
  /** What the action was on: an address, an account, a token id. */
  readonly target?: string;
  /** What changed, as JSON-serialisable data. */
  readonly detail?: Record<string, unknown>;
  readonly outcome: 'ok' | 'refused' | 'failed';
}

export interface AuditQuery {
  /** Epoch ms: entries at or after this. */
  readonly since?: number;
  /** Epoch ms: entries at or before this. */
  readonly until?: number;
  readonly actor?: string;
  /** An action exactly (`block.add`), or a family with `.*` (`session.*`). */
  readonly action?: string;
  /** 1..MAX_AUDIT_QUERY_LIMIT, default DEFAULT_AUDIT_QUERY_LIMIT. */
  readonly limit?: number;
}

export interface AuditLog {
  /** Writes the entry now (`at` defaults to the clock). Never throws. */
  record(entry: Omit<AuditEntry, 'at'> & { at?: number }): void;
  /** Newest first. Throws AuditLogError when the database cannot answer. */
  list(query: AuditQuery): AuditEntry[];
}

export interface AuditLogStats {
  readonly written: number;
  readonly writeErrors: number;
  /** Entries beyond MAX_ENTRIES_PER_SECOND, not written. */
  readonly dropped: number;
}

export interface AuditLogOptions {
  /** A file path, or `:memory:`. */
  readonly database: string;
  readonly log?: Logger;
  readonly clock?: () => number;
}

export const AUDIT_OUTCOMES = ['ok', 'refused', 'failed'] as const;
export const DEFAULT_AUDIT_QUERY_LIMIT = 100;
export const MAX_AUDIT_QUERY_LIMIT = 10_000;
export const MAX_ENTRIES_PER_SECOND = 50;
const MAX_ACTOR = 128;
const MAX_ADDRESS = 64;
const MAX_ACTION = 64;
const MAX_TARGET = 300;
const MAX_DETAIL_JSON = 4096;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS audit (
  id INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,
  actor TEXT NOT NULL,
  address TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT,
  detail TEXT,
  outcome TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_at ON audit (at);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
`;

const INSERT = `INSERT INTO audit (at, actor, address, action, target, detail, outcome)
VALUES (@at, @actor, @address, @action, @target, @detail, @outcome)`;

interface AuditRow {
  id: number;
  at: number;
  actor: string;
  address: string;
  action: string;
  target: string | null;
  detail: string | null;
  outcome: string;
}

type RowParameters = Omit<AuditRow, 'id'>;

export class SqliteAuditLog implements AuditLog {
  readonly #db: Database.Database;
  readonly #log: Logger;
  readonly #clock: () => number;
  readonly #insert: Database.Statement<RowParameters>;
  readonly #queries: AuditQueries;
  #closed = false;
  #written = 0;
  #writeErrors = 0;
  #dropped = 0;
  /** Dropped entries not yet reported by an `audit.dropped` entry. */
  #unreported = 0;
  #second = -1;
  #inSecond = 0;

  constructor(options: AuditLogOptions) {
    this.#log = options.log ?? silentLogger;
    this.#clock = options.clock ?? Date.now;
    try {
      createOwnerOnly(options.database);
      this.#db = new Database(options.database);
    } catch (error) {
      throw new AuditLogError(
        'SW_ERR_AUDIT_OPEN',
        `audit log: cannot open ${options.database}: ${(error as Error).message}`,
        { cause: error },
      );
    }
    try {
      this.#db.pragma('journal_mode = WAL');
      // FULL: an audit entry is on disk when record() returns, whatever happens next.
      this.#db.pragma('synchronous = FULL');
      // The events' connection may hold the write lock for a chunk: wait that long, not fail.
      this.#db.pragma('busy_timeout = 1000');
      this.#db.exec(SCHEMA);
      this.#insert = this.#db.prepare<RowParameters>(INSERT);
      this.#queries = new AuditQueries(this.#db);
    } catch (error) {
      this.#db.close();
      throw new AuditLogError(
        'SW_ERR_AUDIT_OPEN',
        `audit log: cannot use ${options.database}: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }

  record(entry: Omit<AuditEntry, 'at'> & { at?: number }): void {
    if (this.#closed) {
      this.#log.error({ action: entry.action }, 'audit log: entry after close, not written');
      this.#writeErrors += 1;
      return;
    }
    const at = entry.at ?? this.#clock();
    const second = Math.floor(at / 1000);
    if (second !== this.#second) {
      this.#second = second;
      this.#inSecond = 0;
    }
    if (this.#inSecond >= MAX_ENTRIES_PER_SECOND) {
      if (this.#unreported === 0) {
        this.#log.warn(
          { limitPerSecond: MAX_ENTRIES_PER_SECOND },
          'audit log: too many entries this second; counting, not writing, the rest',
        );
      }
      this.#dropped += 1;
      this.#unreported += 1;
      return;
    }
    if (this.#unreported > 0) {
      const count = this.#unreported;
      this.#unreported = 0;
      this.#write({
        at,
        actor: '-',
        address: '-',
        action: 'audit.dropped',
        detail: { count, limitPerSecond: MAX_ENTRIES_PER_SECOND },
        outcome: 'failed',
      });
    }
    this.#write({ ...entry, at });
  }

  list(query: AuditQuery): AuditEntry[] {
    if (this.#closed) throw new AuditLogError('SW_ERR_AUDIT_QUERY', 'the audit log is closed');
    return this.#queries.run(query);
  }

  stats(): AuditLogStats {
    return { written: this.#written, writeErrors: this.#writeErrors, dropped: this.#dropped };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
  }

  #write(entry: AuditEntry): void {
    this.#inSecond += 1;
    try {
      this.#insert.run(toRow(entry));
      this.#written += 1;
    } catch (error) {
      this.#writeErrors += 1;
      this.#log.error({ err: error, action: entry.action }, 'audit log: cannot write an entry');
    }
  }
}

export function createAuditLog(options: AuditLogOptions): SqliteAuditLog {
  return new SqliteAuditLog(options);
}

/**
 * The audit table of a database file, read-only (`sipwarden audit`). A database without
 * the table (nothing audited yet) reads as empty. Throws AuditLogError when the file
 * cannot be opened.
 */
export function openAuditReader(database: string): Pick<AuditLog, 'list'> & { close(): void } {
  let db: Database.Database;
  try {
    db = new Database(database, { readonly: true, fileMustExist: true });
  } catch (error) {
    throw new AuditLogError('SW_ERR_AUDIT_OPEN', `cannot open ${database}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit'").get();
  const queries = exists === undefined ? undefined : new AuditQueries(db);
  return {
    list: (query) => queries?.run(query) ?? [],
    close: () => db.close(),
  };
}

/** Prepared statements, one per combination of filters. */
class AuditQueries {
  readonly #db: Database.Database;
  readonly #statements = new Map<string, Database.Statement<unknown[], AuditRow>>();

  constructor(db: Database.Database) {
    this.#db = db;
  }

  run(query: AuditQuery): AuditEntry[] {
    const conditions: string[] = [];
    const values: (string | number)[] = [];
    if (query.since !== undefined) {
      conditions.push('at >= ?');
      values.push(query.since);
    }
    if (query.until !== undefined) {
      conditions.push('at <= ?');
      values.push(query.until);
    }
    if (query.actor !== undefined) {
      conditions.push('actor = ?');
      values.push(query.actor);
    }
    if (query.action !== undefined) {
      if (query.action.endsWith('.*')) {
        // A family: the prefix up to and with the dot, compared without LIKE's wildcards.
        const prefix = query.action.slice(0, -1);
        conditions.push('substr(action, 1, ?) = ?');
        values.push(prefix.length, prefix);
      } else {
        conditions.push('action = ?');
        values.push(query.action);
      }
    }
    const limit = Math.min(
      Math.max(1, Math.trunc(query.limit ?? DEFAULT_AUDIT_QUERY_LIMIT)),
      MAX_AUDIT_QUERY_LIMIT,
    );
    const where = conditions.length === 0 ? '' : `WHERE ${conditions.join(' AND ')}`;
    const sql = `SELECT * FROM audit ${where} ORDER BY at DESC, id DESC LIMIT ?`;
    let statement = this.#statements.get(sql);
    try {
      if (statement === undefined) {
        statement = this.#db.prepare<unknown[], AuditRow>(sql);
        this.#statements.set(sql, statement);
      }
      return statement.all(...values, limit).map(fromRow);
    } catch (error) {
      throw new AuditLogError('SW_ERR_AUDIT_QUERY', `audit log: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }
}

function toRow(entry: AuditEntry): RowParameters {
  return {
    at: Math.trunc(entry.at),
    actor: cut(entry.actor, MAX_ACTOR) || '-',
    address: cut(entry.address, MAX_ADDRESS) || '-',
    action: cut(entry.action, MAX_ACTION),
    target: entry.target === undefined ? null : cut(entry.target, MAX_TARGET),
    detail: entry.detail === undefined ? null : detailJson(entry.detail),
    outcome: entry.outcome,
  };
}

function fromRow(row: AuditRow): AuditEntry {
  return {
    at: row.at,
    actor: row.actor,
    address: row.address,
    action: row.action,
    ...(row.target === null ? {} : { target: row.target }),
    ...(row.detail === null ? {} : { detail: parseDetail(row.detail) }),
    outcome: isOutcome(row.outcome) ? row.outcome : 'failed',
  };
}

/** Printable text of at most `max` characters: control characters become `?`. */
function cut(text: string, max: number): string {
  const printable = String(text).replace(/[\u0000-\u001f\u007f]/g, '?');
  return printable.length > max ? `${printable.slice(0, max - 3)}...` : printable;
}

/** The detail as JSON, or a note that it was too large (its keys kept) or not serialisable. */
function detailJson(detail: Record<string, unknown>): string {
  let json: string;
  try {
    json = JSON.stringify(detail);
  } catch {
    return JSON.stringify({ unserialisable: true });
  }
  if (json.length <= MAX_DETAIL_JSON) return json;
  return JSON.stringify({
    truncated: true,
    keys: Object.keys(detail)
      .slice(0, 50)
      .map((k) => cut(k, 64)),
  });
}

function parseDetail(text: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : { value };
  } catch {
    return { unparsable: cut(text, 200) };
  }
}

function isOutcome(value: string): value is AuditEntry['outcome'] {
  return (AUDIT_OUTCOMES as readonly string[]).includes(value);
}

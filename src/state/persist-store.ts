/**
 * Blocks and trust records kept across restarts, in the embedded SQLite file the events
 * use (tables `persisted_blocks` and `persisted_trust`, beside `events`, `users`, `cdrs`).
 *
 * The hot path never touches the file: a change is noted in a Map keyed by the row's key
 * (the latest change of a key wins, so a flood of extensions of one block is one write),
 * and the Map is written in one transaction on a timer (`flushIntervalMs`). At most
 * `maxPending` keys wait; beyond that new ones are counted as dropped (the block still holds
 * in memory, it only does not survive a restart). Write errors are logged and counted,
 * never thrown. At start, `restore(now)` returns the rows still in force; expired rows are
 * deleted then and at every prune, and the tables are bounded by the tables' own bounds
 * (the rows expiring soonest, the trust records oldest, go first).
 */
import Database from 'better-sqlite3';
import type { Logger } from '../log/logger.ts';
import { silentLogger } from '../log/logger.ts';
import { EventStoreError } from '../store/errors.ts';
import { createOwnerOnly } from '../store/event-store.ts';
import type { BlockEntry, BlockScope } from './types.ts';

export interface PersistStoreOptions {
  /** The events database file (never `:memory:`: there is nothing to restore from). */
  readonly database: string;
  /** Rows of each table kept at most: the block table's and the trust table's bounds. */
  readonly maxBlocks: number;
  readonly maxTrusted: number;
  /** Trust records older than this are not restored and are deleted. */
  readonly trustTtlMs: number;
  readonly flushIntervalMs?: number;
  readonly maxPending?: number;
  readonly log?: Logger;
  readonly clock?: () => number;
}

/** A block as restored: what `BlockTable.block` takes. */
export type PersistedBlock = Omit<BlockEntry, 'hits'>;

export interface PersistedTrust {
  readonly address: string;
  /** Undefined for the address's own record. */
  readonly user: string | undefined;
  readonly succeededAt: number;
}

export interface PersistStoreStats {
  readonly rowsWritten: number;
  readonly writeErrors: number;
  readonly pending: number;
  readonly dropped: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS persisted_blocks (
  key TEXT PRIMARY KEY,
  scope TEXT NOT NULL,
  reason TEXT NOT NULL,
  rule TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER
);
CREATE INDEX IF NOT EXISTS persisted_blocks_expires ON persisted_blocks (expires_at);
CREATE TABLE IF NOT EXISTS persisted_trust (
  address TEXT NOT NULL,
  user TEXT NOT NULL,
  succeeded_at INTEGER NOT NULL,
  PRIMARY KEY (address, user)
);
CREATE INDEX IF NOT EXISTS persisted_trust_at ON persisted_trust (succeeded_at);
`;

const DEFAULT_FLUSH_INTERVAL_MS = 500;
const DEFAULT_MAX_PENDING = 200_000;
const PRUNE_INTERVAL_MS = 60_000;
const SCOPES: ReadonlySet<string> = new Set<BlockScope>(['address', 'network', 'key']);

interface BlockRow {
  key: string;
  scope: string;
  reason: string;
  rule: string;
  created_at: number;
  expires_at: number | null;
}

interface TrustRow {
  address: string;
  user: string;
  succeeded_at: number;
}

/** A block change waiting: the entry to keep, or null to delete the key. */
type BlockChange = PersistedBlock | null;

export class PersistStore {
  readonly #db: Database.Database;
  readonly #log: Logger;
  readonly #clock: () => number;
  readonly #options: PersistStoreOptions;
  readonly #maxPending: number;
  readonly #blocks = new Map<string, BlockChange>();
  /** `address\nuser` -> time of the success. */
  readonly #trust = new Map<string, number>();
  readonly #writeAll: () => void;
  readonly #prune: (now: number) => void;
  #timer: NodeJS.Timeout | undefined;
  #lastPrune = 0;
  #closed = false;
  #rowsWritten = 0;
  #writeErrors = 0;
  #dropped = 0;

  constructor(options: PersistStoreOptions) {
    this.#options = options;
    this.#log = options.log ?? silentLogger;
    this.#clock = options.clock ?? Date.now;
    this.#maxPending = options.maxPending ?? DEFAULT_MAX_PENDING;
    try {
      // Opened first at start: the file it creates is the owner's only, as the event store's.
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
      this.#db.pragma('journal_mode = WAL');
      this.#db.pragma('synchronous = NORMAL');
      // Another connection (events, CDRs) may hold the write lock for a chunk.
      this.#db.pragma('busy_timeout = 1000');
      this.#db.exec(SCHEMA);
      const upsertBlock = this.#db.prepare<BlockRow>(
        `INSERT INTO persisted_blocks (key, scope, reason, rule, created_at, expires_at)
         VALUES (@key, @scope, @reason, @rule, @created_at, @expires_at)
         ON CONFLICT (key) DO UPDATE SET scope = excluded.scope, reason = excluded.reason,
           rule = excluded.rule, created_at = excluded.created_at, expires_at = excluded.expires_at`,
      );
      const deleteBlock = this.#db.prepare<[string]>('DELETE FROM persisted_blocks WHERE key = ?');
      const upsertTrust = this.#db.prepare<TrustRow>(
        `INSERT INTO persisted_trust (address, user, succeeded_at) VALUES (@address, @user, @succeeded_at)
         ON CONFLICT (address, user) DO UPDATE SET succeeded_at = max(succeeded_at, excluded.succeeded_at)`,
      );
      this.#writeAll = this.#db.transaction(() => {
        for (const [key, change] of this.#blocks) {
          if (change === null) deleteBlock.run(key);
          else upsertBlock.run(toBlockRow(change));
        }
        for (const [pair, at] of this.#trust) {
          const cut = pair.indexOf('\n');
          upsertTrust.run({ address: pair.slice(0, cut), user: pair.slice(cut + 1), succeeded_at: at });
        }
      });
      const expired = this.#db.prepare<[number]>(
        'DELETE FROM persisted_blocks WHERE expires_at IS NOT NULL AND expires_at <= ?',
      );
      // Beyond the bound, the rows expiring soonest go (a permanent block, NULL, last).
      const excessBlocks = this.#db.prepare<[number]>(
        `DELETE FROM persisted_blocks WHERE key IN (SELECT key FROM persisted_blocks
           ORDER BY expires_at IS NULL DESC, expires_at DESC LIMIT -1 OFFSET ?)`,
      );
      const oldTrust = this.#db.prepare<[number]>('DELETE FROM persisted_trust WHERE succeeded_at <= ?');
      const excessTrust = this.#db.prepare<[number]>(
        `DELETE FROM persisted_trust WHERE rowid IN (SELECT rowid FROM persisted_trust
           ORDER BY succeeded_at DESC LIMIT -1 OFFSET ?)`,
      );
      this.#prune = this.#db.transaction((now: number) => {
        expired.run(now);
        excessBlocks.run(options.maxBlocks);
        oldTrust.run(now - options.trustTtlMs);
        excessTrust.run(options.maxTrusted);
      });
    } catch (error) {
      this.#db.close();
      throw new EventStoreError(
        'SW_ERR_EVENT_STORE_OPEN',
        `persisted state: cannot use ${options.database}: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }

  /** Deletes what has expired, then returns the blocks and trust records still in force. */
  restore(now: number): { blocks: PersistedBlock[]; trust: PersistedTrust[] } {
    this.#prune(now);
    const blocks: PersistedBlock[] = [];
    const rows = this.#db.prepare<[], BlockRow>('SELECT * FROM persisted_blocks ORDER BY created_at').all();
    for (const row of rows) {
      if (!SCOPES.has(row.scope)) continue;
      blocks.push({
        key: row.key,
        scope: row.scope as BlockScope,
        reason: row.reason,
        rule: row.rule,
        createdAt: row.created_at,
        expiresAt: row.expires_at ?? Number.POSITIVE_INFINITY,
      });
    }
    // Oldest first, so that replaying them leaves the most recent in a full table.
    const trust = this.#db
      .prepare<[], TrustRow>('SELECT * FROM persisted_trust ORDER BY succeeded_at')
      .all()
      .map((row) => ({
        address: row.address,
        user: row.user === '' ? undefined : row.user,
        succeededAt: row.succeeded_at,
      }));
    return { blocks, trust };
  }

  /** Writes on a timer that does not keep the process alive. */
  start(): void {
    if (this.#timer !== undefined || this.#closed) return;
    this.#timer = setInterval(() => this.flush(), this.#options.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS);
    this.#timer.unref();
  }

  /** A block added, extended or changed. O(1), no I/O. */
  blockChanged(entry: PersistedBlock): void {
    this.#note(this.#blocks, entry.key, entry);
  }

  /** A block removed by an operator (expired ones are pruned by time). O(1), no I/O. */
  blockRemoved(key: string): void {
    this.#note(this.#blocks, key, null);
  }

  /** A proven success of `address` (for `user`). O(1), no I/O. */
  trusted(address: string, user: string | undefined, at: number): void {
    this.#note(this.#trust, `${address}\n${user ?? ''}`, at);
  }

  #note<V>(map: Map<string, V>, key: string, value: V): void {
    if (this.#closed) return;
    if (!map.has(key) && this.#blocks.size + this.#trust.size >= this.#maxPending) {
      this.#dropped++;
      return;
    }
    map.set(key, value);
  }

  /**
   * Writes every waiting change in one transaction, and prunes once a minute. Never throws;
   * after a failed write the changes stay for the next flush (bounded by `maxPending`).
   */
  flush(): void {
    if (this.#closed) return;
    const count = this.#blocks.size + this.#trust.size;
    try {
      if (count > 0) {
        this.#writeAll();
        this.#blocks.clear();
        this.#trust.clear();
        this.#rowsWritten += count;
      }
      const now = this.#clock();
      if (now - this.#lastPrune >= PRUNE_INTERVAL_MS) {
        this.#lastPrune = now;
        this.#prune(now);
      }
    } catch (error) {
      this.#writeErrors++;
      this.#log.error({ err: error, rows: count }, 'persisted state: cannot write blocks and trust');
    }
  }

  stats(): PersistStoreStats {
    return {
      rowsWritten: this.#rowsWritten,
      writeErrors: this.#writeErrors,
      pending: this.#blocks.size + this.#trust.size,
      dropped: this.#dropped,
    };
  }

  /** Writes what is waiting, then closes the database. */
  close(): void {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#db.close();
  }
}

function toBlockRow(entry: PersistedBlock): BlockRow {
  return {
    key: entry.key,
    scope: entry.scope,
    reason: entry.reason,
    rule: entry.rule,
    created_at: entry.createdAt,
    expires_at: Number.isFinite(entry.expiresAt) ? entry.expiresAt : null,
  };
}

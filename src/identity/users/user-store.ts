/**
 * The user store: the `users` table in the embedded SQLite database, the file the events
 * are kept in (config/data-dir.ts), so that one file holds a gateway's state and
 * `sipwarden users ... --config FILE` finds it where `sipwarden start --config FILE` does.
 *
 * Only HA1 values are kept (RFC 7616 3.4.2), never passwords. Lookups on the request path
 * (find) run one prepared statement against the file each time: SQLite checks at the start
 * of every read whether another connection (the `sipwarden users` command, another process)
 * committed since, so a user added, changed or removed is seen by the very next request,
 * with no cache to invalidate. The file is created owner-only (mode 0600) as the event store
 * creates it, in WAL mode, so readers do not wait for a writer.
 */
import Database from 'better-sqlite3';
import type { Logger } from '../../log/logger.ts';
import { silentLogger } from '../../log/logger.ts';
import { createOwnerOnly } from '../../store/event-store.ts';
import type { StoredUser, UserDirectory } from '../user-directory.ts';
import { UserStoreError } from './errors.ts';
import type { Ha1Pair } from './ha1.ts';
import { USER_LIMITS } from './user-fields.ts';

export interface UserStoreOptions {
  /** A file path, or `:memory:` (a store of its own, for tests). */
  readonly database: string;
  /** Where failed lookups on the request path are reported. */
  readonly log?: Logger;
  readonly clock?: () => number;
  /** How long a write waits for another process's write to finish; default 5000 ms. */
  readonly busyTimeoutMs?: number;
  /** What open errors call the file, as the operator names it (`events.database`); default `users`. */
  readonly setting?: string;
}

/** A stored user with when it was created and last changed (epoch ms). */
export interface UserRecord extends StoredUser {
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** What changes in a user; absent fields stay as they are. */
export interface UserChanges {
  readonly credentials?: Ha1Pair;
  readonly groups?: readonly string[];
  readonly roles?: readonly string[];
  /** null removes it. */
  readonly organisation?: string | null;
  readonly allowedNetworks?: readonly string[];
  readonly enabled?: boolean;
}

export interface UserListQuery {
  /** Only this domain (lower-cased). */
  readonly domain?: string;
  /** 1..MAX_LIST_LIMIT, default DEFAULT_LIST_LIMIT. */
  readonly limit?: number;
  readonly offset?: number;
}

export interface ImportResult {
  readonly added: number;
  readonly replaced: number;
}

export const DEFAULT_LIST_LIMIT = 1000;
export const MAX_LIST_LIMIT = 100_000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS users (
  domain TEXT NOT NULL,
  user TEXT NOT NULL,
  ha1_md5 TEXT NOT NULL,
  ha1_sha256 TEXT NOT NULL,
  groups TEXT NOT NULL,
  roles TEXT NOT NULL,
  organisation TEXT,
  allowed_networks TEXT NOT NULL,
  enabled INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (domain, user)
) WITHOUT ROWID;
`;

const COLUMNS =
  'domain, user, ha1_md5, ha1_sha256, groups, roles, organisation, allowed_networks, enabled, created_at, updated_at';

interface UserRow {
  domain: string;
  user: string;
  ha1_md5: string;
  ha1_sha256: string;
  groups: string;
  roles: string;
  organisation: string | null;
  allowed_networks: string;
  enabled: number;
  created_at: number;
  updated_at: number;
}

export class SqliteUserStore implements UserDirectory {
  readonly #db: Database.Database;
  readonly #log: Logger;
  readonly #clock: () => number;
  readonly #select: Database.Statement<[string, string], UserRow>;
  readonly #insert: Database.Statement<UserRow>;
  readonly #replace: Database.Statement<UserRow>;
  readonly #delete: Database.Statement<[string, string]>;
  readonly #import: (users: readonly StoredUser[], replace: boolean, now: number) => ImportResult;
  #closed = false;
  #lookupErrors = 0;

  constructor(options: UserStoreOptions) {
    this.#log = options.log ?? silentLogger;
    this.#clock = options.clock ?? Date.now;
    const setting = options.setting ?? 'users';
    try {
      createOwnerOnly(options.database);
      this.#db = new Database(options.database, { timeout: options.busyTimeoutMs ?? 5000 });
    } catch (error) {
      throw new UserStoreError(
        'SW_ERR_USER_STORE_OPEN',
        `${setting}: cannot open ${options.database}: ${(error as Error).message}`,
        { cause: error },
      );
    }
    try {
      this.#db.pragma('journal_mode = WAL');
      this.#db.pragma('synchronous = NORMAL');
      this.#db.exec(SCHEMA);
      this.#select = this.#db.prepare<[string, string], UserRow>(
        `SELECT ${COLUMNS} FROM users WHERE domain = ? AND user = ?`,
      );
      const values =
        '@domain, @user, @ha1_md5, @ha1_sha256, @groups, @roles, @organisation, @allowed_networks, @enabled, @created_at, @updated_at';
      this.#insert = this.#db.prepare<UserRow>(`INSERT INTO users (${COLUMNS}) VALUES (${values})`);
      this.#replace = this.#db.prepare<UserRow>(
        `INSERT OR REPLACE INTO users (${COLUMNS}) VALUES (${values})`,
      );
      this.#delete = this.#db.prepare<[string, string]>('DELETE FROM users WHERE domain = ? AND user = ?');
      this.#import = this.#db.transaction((users: readonly StoredUser[], replace: boolean, now: number) => {
        let added = 0;
        let replaced = 0;
        for (const user of users) {
          const existing = this.#select.get(user.domain, user.user);
          if (existing !== undefined && !replace) {
            throw new UserStoreError('SW_ERR_USER_EXISTS', `${user.user}@${user.domain} exists already`);
          }
          const createdAt = existing?.created_at ?? now;
          this.#replace.run(toRow(user, createdAt, now));
          if (existing === undefined) added++;
          else replaced++;
        }
        return { added, replaced };
      });
    } catch (error) {
      this.#db.close();
      throw new UserStoreError(
        'SW_ERR_USER_STORE_OPEN',
        `${setting}: cannot use ${options.database}: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }

  /**
   * UserDirectory: the user as stored now, disabled ones included (the caller refuses them).
   * Never throws: a failing database is logged and answers "unknown", so nobody
   * authenticates while it fails.
   */
  find(user: string, domain: string): StoredUser | undefined {
    if (this.#closed) return undefined;
    // Names longer than any stored one cannot match: not worth a query.
    if (user.length > USER_LIMITS.userLength || domain.length > USER_LIMITS.domainLength) return undefined;
    try {
      const row = this.#select.get(domain.toLowerCase(), user.toLowerCase());
      return row === undefined ? undefined : fromRow(row);
    } catch (error) {
      this.#lookupErrors++;
      this.#log.error({ err: error, lookupErrors: this.#lookupErrors }, 'user store: lookup failed');
      return undefined;
    }
  }

  /** The user with its times; undefined when unknown. Throws UserStoreError when the database fails. */
  get(user: string, domain: string): UserRecord | undefined {
    return this.#run('read', () => {
      const row = this.#select.get(domain.toLowerCase(), user.toLowerCase());
      return row === undefined ? undefined : fromRow(row);
    });
  }

  /** Users ordered by domain and name. */
  list(query: UserListQuery = {}): UserRecord[] {
    const limit = clamp(query.limit ?? DEFAULT_LIST_LIMIT, 1, MAX_LIST_LIMIT);
    const offset = Math.max(0, Math.trunc(query.offset ?? 0));
    return this.#run('read', () => {
      const rows =
        query.domain === undefined
          ? this.#db
              .prepare<[number, number], UserRow>(
                `SELECT ${COLUMNS} FROM users ORDER BY domain, user LIMIT ? OFFSET ?`,
              )
              .all(limit, offset)
          : this.#db
              .prepare<[string, number, number], UserRow>(
                `SELECT ${COLUMNS} FROM users WHERE domain = ? ORDER BY user LIMIT ? OFFSET ?`,
              )
              .all(query.domain.toLowerCase(), limit, offset);
      return rows.map(fromRow);
    });
  }

  /** How many users there are (in one domain, when given). */
  count(domain?: string): number {
    return this.#run('read', () => {
      const row =
        domain === undefined
          ? this.#db.prepare<[], { n: number }>('SELECT count(*) AS n FROM users').get()
          : this.#db
              .prepare<[string], { n: number }>('SELECT count(*) AS n FROM users WHERE domain = ?')
              .get(domain.toLowerCase());
      return row?.n ?? 0;
    });
  }

  /** Every group and role some user has, sorted: what policy rules may name (check-config). */
  groupsAndRoles(): { readonly groups: string[]; readonly roles: string[] } {
    return this.#run('read', () => {
      const distinct = (column: 'groups' | 'roles'): string[] =>
        this.#db
          .prepare<[], string>(
            `SELECT DISTINCT json_each.value FROM users, json_each(users.${column}) ORDER BY 1`,
          )
          .pluck()
          .all();
      return { groups: distinct('groups'), roles: distinct('roles') };
    });
  }

  /** Adds a user (fields as user-fields.ts returns them). Throws SW_ERR_USER_EXISTS when it exists. */
  add(user: StoredUser): UserRecord {
    const now = this.#clock();
    const row = toRow(user, now, now);
    return this.#run('write', () => {
      try {
        this.#insert.run(row);
      } catch (error) {
        if ((error as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
          throw new UserStoreError('SW_ERR_USER_EXISTS', `${user.user}@${user.domain} exists already`);
        }
        throw error;
      }
      return fromRow(row);
    });
  }

  /** Changes the given fields. Throws SW_ERR_NO_SUCH_USER when the user does not exist. */
  update(user: string, domain: string, changes: UserChanges): UserRecord {
    const name = user.toLowerCase();
    const realm = domain.toLowerCase();
    return this.#run('write', () =>
      this.#db.transaction(() => {
        const row = this.#select.get(realm, name);
        if (row === undefined) throw new UserStoreError('SW_ERR_NO_SUCH_USER', `no user ${name}@${realm}`);
        const current = fromRow(row);
        const organisation =
          changes.organisation === undefined ? current.organisation : (changes.organisation ?? undefined);
        const next: StoredUser = {
          user: current.user,
          domain: current.domain,
          ha1Md5: changes.credentials?.ha1Md5 ?? current.ha1Md5,
          ha1Sha256: changes.credentials?.ha1Sha256 ?? current.ha1Sha256,
          groups: changes.groups ?? current.groups,
          roles: changes.roles ?? current.roles,
          ...(organisation === undefined ? {} : { organisation }),
          allowedNetworks: changes.allowedNetworks ?? current.allowedNetworks,
          enabled: changes.enabled ?? current.enabled,
        };
        const updated = toRow(next, current.createdAt, this.#clock());
        this.#replace.run(updated);
        return fromRow(updated);
      })(),
    );
  }

  /** True when the user existed. */
  remove(user: string, domain: string): boolean {
    return this.#run('write', () => this.#delete.run(domain.toLowerCase(), user.toLowerCase()).changes > 0);
  }

  /**
   * Writes all the users in one transaction: all or none. Without `replace`, a user that
   * exists already is an error (SW_ERR_USER_EXISTS) and nothing is written; with it, the
   * stored one is replaced (keeping its creation time).
   */
  importUsers(users: readonly StoredUser[], options: { readonly replace?: boolean } = {}): ImportResult {
    return this.#run('write', () => this.#import(users, options.replace === true, this.#clock()));
  }

  stats(): { readonly lookupErrors: number } {
    return { lookupErrors: this.#lookupErrors };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
  }

  #run<T>(what: 'read' | 'write', work: () => T): T {
    if (this.#closed) throw new UserStoreError('SW_ERR_USER_STORE_CLOSED', 'the user store is closed');
    try {
      return work();
    } catch (error) {
      if (error instanceof UserStoreError) throw error;
      throw new UserStoreError(
        'SW_ERR_USER_STORE_FAILED',
        `cannot ${what} users: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
  }
}

export function openUserStore(options: UserStoreOptions): SqliteUserStore {
  return new SqliteUserStore(options);
}

function clamp(value: number, min: number, max: number): number {
  if (!Number.isFinite(value)) return min;
  return Math.min(max, Math.max(min, Math.trunc(value)));
}

function toRow(user: StoredUser, createdAt: number, updatedAt: number): UserRow {
  return {
    domain: user.domain,
    user: user.user,
    ha1_md5: user.ha1Md5,
    ha1_sha256: user.ha1Sha256,
    groups: JSON.stringify(user.groups),
    roles: JSON.stringify(user.roles),
    organisation: user.organisation ?? null,
    allowed_networks: JSON.stringify(user.allowedNetworks),
    enabled: user.enabled ? 1 : 0,
    created_at: createdAt,
    updated_at: updatedAt,
  };
}

function fromRow(row: UserRow): UserRecord {
  return {
    user: row.user,
    domain: row.domain,
    ha1Md5: row.ha1_md5,
    ha1Sha256: row.ha1_sha256,
    groups: stringList(row.groups),
    roles: stringList(row.roles),
    ...(row.organisation === null ? {} : { organisation: row.organisation }),
    allowedNetworks: stringList(row.allowed_networks),
    enabled: row.enabled !== 0,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/**
 * A JSON array of strings as toRow writes it. Anything else (a row edited by hand) throws:
 * find() then answers "unknown user", never "allowed from anywhere".
 */
function stringList(text: string): string[] {
  const value: unknown = JSON.parse(text);
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) {
    throw new Error('a list column does not hold a JSON array of strings');
  }
  return value;
}

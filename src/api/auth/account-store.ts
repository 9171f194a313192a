/**
 * Management accounts and API tokens: tables `mgmt_accounts` and `mgmt_tokens` in the
 * gateway's SQLite file (the events database, as the SIP users), so that
 * `sipwarden admin ... --config FILE` finds them where `sipwarden start --config FILE` does,
 * and a running gateway sees a change on its next request (no cache).
 *
 * Passwords are kept as argon2id hashes; API tokens as SHA-256 digests (they are random,
 * 192 bits): a token is shown once, when it is made, and cannot be read back.
 */
import Database from 'better-sqlite3';
import { createOwnerOnly } from '../../store/event-store.ts';
import { digest, randomToken, sameText } from './credentials.ts';
import { isRole, type Role } from './roles.ts';

export const MAX_ACCOUNTS = 1000;
export const MAX_TOKENS = 1000;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
const TOKEN_PREFIX = 'swt_';

export interface Account {
  readonly name: string;
  readonly role: Role;
  readonly passwordHash: string;
  /** Base32 TOTP secret, or null when the account has no second factor. */
  readonly totpSecret: string | null;
  /** The last TOTP time step used to log in: a code is good once. */
  readonly totpStep: number;
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** What the API and the command line show of an account: never its secrets. */
export interface AccountView {
  readonly name: string;
  readonly role: Role;
  readonly totp: boolean;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface TokenRecord {
  readonly id: string;
  readonly name: string;
  readonly role: Role;
  readonly createdBy: string;
  readonly createdAt: number;
  readonly revokedAt: number | null;
  readonly lastUsedAt: number | null;
}

export interface TokenView {
  readonly id: string;
  readonly name: string;
  readonly role: Role;
  readonly createdBy: string;
  readonly createdAt: string;
  readonly revokedAt: string | null;
  readonly lastUsedAt: string | null;
}

export class AccountStoreError extends Error {
  readonly code: 'SW_ERR_ACCOUNT_STORE_OPEN' | 'SW_ERR_BAD_ACCOUNT' | 'SW_ERR_ACCOUNT_EXISTS' | 'SW_ERR_FULL';
  constructor(code: AccountStoreError['code'], message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AccountStoreError';
    this.code = code;
  }
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS mgmt_accounts (
  name TEXT PRIMARY KEY COLLATE NOCASE,
  role TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  totp_secret TEXT,
  totp_step INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS mgmt_tokens (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  role TEXT NOT NULL,
  digest TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER,
  last_used_at INTEGER
) STRICT;
`;

interface AccountRow {
  name: string;
  role: string;
  password_hash: string;
  totp_secret: string | null;
  totp_step: number;
  created_at: number;
  updated_at: number;
}

interface TokenRow {
  id: string;
  name: string;
  role: string;
  digest: string;
  created_by: string;
  created_at: number;
  revoked_at: number | null;
  last_used_at: number | null;
}

export function accountNameProblem(name: string): string | undefined {
  return NAME.test(name)
    ? undefined
    : 'an account name is 1..64 letters, digits, dots, dashes, underscores or @, starting with a letter or digit';
}

export class AccountStore {
  readonly #db: Database.Database;
  readonly #clock: () => number;

  constructor(options: { database: string; clock?: () => number }) {
    this.#clock = options.clock ?? Date.now;
    try {
      createOwnerOnly(options.database);
      this.#db = new Database(options.database);
      this.#db.pragma('busy_timeout = 5000');
      if (options.database !== ':memory:') this.#db.pragma('journal_mode = WAL');
      this.#db.exec(SCHEMA);
    } catch (error) {
      throw new AccountStoreError(
        'SW_ERR_ACCOUNT_STORE_OPEN',
        `events.database: cannot open ${options.database} for the accounts: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }

  count(): number {
    return (this.#db.prepare('SELECT count(*) AS n FROM mgmt_accounts').get() as { n: number }).n;
  }

  get(name: string): Account | undefined {
    const row = this.#db.prepare('SELECT * FROM mgmt_accounts WHERE name = ?').get(name) as
      | AccountRow
      | undefined;
    return row === undefined ? undefined : accountOf(row);
  }

  list(): Account[] {
    const rows = this.#db
      .prepare('SELECT * FROM mgmt_accounts ORDER BY name LIMIT ?')
      .all(MAX_ACCOUNTS) as AccountRow[];
    return rows.map(accountOf);
  }

  create(account: { name: string; role: Role; passwordHash: string; totpSecret: string | null }): Account {
    const problem = accountNameProblem(account.name);
    if (problem !== undefined) throw new AccountStoreError('SW_ERR_BAD_ACCOUNT', problem);
    const at = this.#clock();
    return this.#db.transaction(() => {
      if (this.get(account.name) !== undefined) {
        throw new AccountStoreError('SW_ERR_ACCOUNT_EXISTS', `an account ${account.name} exists already`);
      }
      if (this.count() >= MAX_ACCOUNTS) {
        throw new AccountStoreError('SW_ERR_FULL', `there are ${MAX_ACCOUNTS} accounts already`);
      }
      this.#db
        .prepare(
          'INSERT INTO mgmt_accounts (name, role, password_hash, totp_secret, totp_step, created_at, updated_at) VALUES (?, ?, ?, ?, 0, ?, ?)',
        )
        .run(account.name, account.role, account.passwordHash, account.totpSecret, at, at);
      return this.get(account.name)!;
    })();
  }

  /** Changes the role; false when there is no such account. */
  setRole(name: string, role: Role): boolean {
    return (
      this.#db
        .prepare('UPDATE mgmt_accounts SET role = ?, updated_at = ? WHERE name = ?')
        .run(role, this.#clock(), name).changes === 1
    );
  }

  setPassword(name: string, passwordHash: string): boolean {
    return (
      this.#db
        .prepare('UPDATE mgmt_accounts SET password_hash = ?, updated_at = ? WHERE name = ?')
        .run(passwordHash, this.#clock(), name).changes === 1
    );
  }

  /** A new TOTP secret (re-enrolment); false when there is no such account. */
  setTotpSecret(name: string, secret: string): boolean {
    return (
      this.#db
        .prepare('UPDATE mgmt_accounts SET totp_secret = ?, totp_step = 0, updated_at = ? WHERE name = ?')
        .run(secret, this.#clock(), name).changes === 1
    );
  }

  /**
   * Records a TOTP step as used, unless it is not after the last one: true when it was
   * recorded (the code may log in), false for a replay.
   */
  useTotpStep(name: string, step: number): boolean {
    return (
      this.#db
        .prepare('UPDATE mgmt_accounts SET totp_step = ? WHERE name = ? AND totp_step < ?')
        .run(step, name, step).changes === 1
    );
  }

  remove(name: string): boolean {
    return this.#db.transaction(() => {
      const removed = this.#db.prepare('DELETE FROM mgmt_accounts WHERE name = ?').run(name).changes === 1;
      // Its tokens go with it: a script must not keep rights its owner lost.
      if (removed) {
        this.#db
          .prepare('UPDATE mgmt_tokens SET revoked_at = ? WHERE created_by = ? AND revoked_at IS NULL')
          .run(this.#clock(), name);
      }
      return removed;
    })();
  }

  /** A new token: its secret (shown once) and its record. */
  createToken(request: { name: string; role: Role; createdBy: string }): {
    token: string;
    record: TokenRecord;
  } {
    const problem = accountNameProblem(request.name);
    if (problem !== undefined)
      throw new AccountStoreError('SW_ERR_BAD_ACCOUNT', problem.replace('an account name', 'a token name'));
    const id = randomToken(9);
    const token = `${TOKEN_PREFIX}${id}.${randomToken(24)}`;
    const at = this.#clock();
    this.#db.transaction(() => {
      const active = this.#db
        .prepare('SELECT count(*) AS n FROM mgmt_tokens WHERE revoked_at IS NULL')
        .get() as {
        n: number;
      };
      if (active.n >= MAX_TOKENS) {
        throw new AccountStoreError('SW_ERR_FULL', `there are ${MAX_TOKENS} tokens already: revoke some`);
      }
      this.#db
        .prepare(
          'INSERT INTO mgmt_tokens (id, name, role, digest, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?)',
        )
        .run(id, request.name, request.role, digest(token), request.createdBy, at);
    })();
    return { token, record: this.#token(id)! };
  }

  /** The token's record when it is known and not revoked; notes when it was last used. */
  findToken(token: string): TokenRecord | undefined {
    const match = /^swt_([A-Za-z0-9_-]{12})\.[A-Za-z0-9_-]{32}$/.exec(token);
    if (match === null) return undefined;
    const row = this.#db.prepare('SELECT * FROM mgmt_tokens WHERE id = ?').get(match[1]) as
      | TokenRow
      | undefined;
    if (row === undefined || row.revoked_at !== null || !sameText(row.digest, digest(token)))
      return undefined;
    const at = this.#clock();
    // At most once a minute: a busy script does not write on every request.
    if (row.last_used_at === null || at - row.last_used_at > 60_000) {
      this.#db.prepare('UPDATE mgmt_tokens SET last_used_at = ? WHERE id = ?').run(at, row.id);
    }
    return tokenOf(row);
  }

  listTokens(): TokenRecord[] {
    const rows = this.#db
      .prepare('SELECT * FROM mgmt_tokens ORDER BY created_at DESC LIMIT ?')
      .all(MAX_TOKENS * 2) as TokenRow[];
    return rows.map(tokenOf);
  }

  /** Revokes by id or name (every active token of that name); the records revoked. */
  revokeToken(idOrName: string): TokenRecord[] {
    return this.#db.transaction(() => {
      const rows = this.#db
        .prepare('SELECT * FROM mgmt_tokens WHERE (id = ? OR name = ?) AND revoked_at IS NULL')
        .all(idOrName, idOrName) as TokenRow[];
      const at = this.#clock();
      for (const row of rows)
        this.#db.prepare('UPDATE mgmt_tokens SET revoked_at = ? WHERE id = ?').run(at, row.id);
      return rows.map((row) => tokenOf({ ...row, revoked_at: at }));
    })();
  }

  #token(id: string): TokenRecord | undefined {
    const row = this.#db.prepare('SELECT * FROM mgmt_tokens WHERE id = ?').get(id) as TokenRow | undefined;
    return row === undefined ? undefined : tokenOf(row);
  }
}

function roleOf(text: string): Role {
  // A row written by hand with an unknown role gets the least rights, never more.
  return isRole(text) ? text : 'viewer';
}

function accountOf(row: AccountRow): Account {
  return {
    name: row.name,
    role: roleOf(row.role),
    passwordHash: row.password_hash,
    totpSecret: row.totp_secret,
    totpStep: row.totp_step,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function tokenOf(row: TokenRow): TokenRecord {
  return {
    id: row.id,
    name: row.name,
    role: roleOf(row.role),
    createdBy: row.created_by,
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
    lastUsedAt: row.last_used_at,
  };
}

export function accountView(account: Account): AccountView {
  return {
    name: account.name,
    role: account.role,
    totp: account.totpSecret !== null,
    createdAt: new Date(account.createdAt).toISOString(),
    updatedAt: new Date(account.updatedAt).toISOString(),
  };
}

export function tokenView(token: TokenRecord): TokenView {
  const iso = (at: number | null) => (at === null ? null : new Date(at).toISOString());
  return {
    id: token.id,
    name: token.name,
    role: token.role,
    createdBy: token.createdBy,
    createdAt: new Date(token.createdAt).toISOString(),
    revokedAt: iso(token.revokedAt),
    lastUsedAt: iso(token.lastUsedAt),
  };
}

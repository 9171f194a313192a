/**
 * The user store as the commands that only read it find it (`check-config`, `policy
 * explain`): in the database `start` resolves from the same configuration file (or `--db`),
 * and only when that file exists and holds at least one user. No file is created: a site
 * without users (pass-through authentication) has no store to check rules against.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { MEMORY_DATABASE } from '../config/data-dir.ts';
import type { SipwardenConfig } from '../config/schema.ts';
import { openUserStore, type SqliteUserStore } from '../identity/users/user-store.ts';
import { CliError, EXIT_FAILURE } from './cli-error.ts';
import { databaseOf } from './users-database.ts';

export interface StoreLocation {
  /** The configuration file, when one was given (relative paths in it are taken from its directory). */
  readonly configFile?: string | undefined;
  /** A database file named on the command line instead. */
  readonly db?: string | undefined;
}

/** The store, open (close it after use), or undefined when there is no file or no user in it. */
export function existingUserStore(
  config: SipwardenConfig,
  where: StoreLocation,
): SqliteUserStore | undefined {
  const database = where.db !== undefined ? resolve(where.db) : databaseOf(config, where.configFile).database;
  if (database === MEMORY_DATABASE || !existsSync(database)) return undefined;
  let store: SqliteUserStore;
  try {
    store = openUserStore({ database, setting: where.db === undefined ? 'events.database' : '--db' });
  } catch (error) {
    throw new CliError(EXIT_FAILURE, [(error as Error).message]);
  }
  if (store.count() === 0) {
    store.close();
    return undefined;
  }
  return store;
}

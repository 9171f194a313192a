/**
 * Which SQLite file holds the users, for every command that reads or writes them: `--db
 * FILE`, or the events database `sipwarden start` resolves from the same `--config` (or
 * from its defaults without one), by the rules of config/data-dir.ts. The data directory is
 * created (0700) as `start` creates it.
 */
import { mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { type EventsDatabaseLocation, locateEventsDatabase, MEMORY_DATABASE } from '../config/data-dir.ts';
import { defaultConfig, loadConfigFile } from '../config/load-config.ts';
import type { SipwardenConfig } from '../config/schema.ts';
import { CliError, configError, EXIT_FAILURE, EXIT_USAGE } from './cli-error.ts';

export interface DatabaseOptions {
  readonly config?: string;
  readonly db?: string;
}

/**
 * Where the database `start` uses is, from `--config` (or the embedded defaults): for every
 * command that reads it without a gateway (users, cdrs, policy explain).
 */
export function configuredDatabase(config: string | undefined): EventsDatabaseLocation {
  const loaded = config === undefined ? undefined : loadConfigFile(config);
  if (loaded !== undefined && !loaded.ok) throw configError(loaded.errors);
  return databaseOf(loaded?.config ?? defaultConfig(), config);
}

/** The database of a loaded configuration, as `start` run by this user here would find it. */
export function databaseOf(config: SipwardenConfig, configFile: string | undefined): EventsDatabaseLocation {
  return locateEventsDatabase(config, {
    ...(configFile === undefined ? {} : { configFile }),
    env: process.env,
    uid: process.getuid?.(),
    home: homedir(),
    cwd: process.cwd(),
  });
}

/** The database file: `--db`, or the one `start` resolves from `--config` (or its defaults). */
export function usersDatabase(options: DatabaseOptions): string {
  if (options.db !== undefined && options.config !== undefined) {
    throw new CliError(EXIT_USAGE, ['give --config or --db, not both']);
  }
  if (options.db !== undefined) {
    if (options.db === MEMORY_DATABASE) throw new CliError(EXIT_USAGE, ['--db: the users need a file']);
    return resolve(options.db);
  }
  const location = configuredDatabase(options.config);
  if (location.database === MEMORY_DATABASE) {
    throw new CliError(EXIT_USAGE, [
      'events.database is :memory:, which keeps nothing for the users: name a file, or use --db FILE',
    ]);
  }
  if (location.inDataDir) {
    // As the gateway does at start: the data directory, owner-only, unless it exists.
    try {
      mkdirSync(location.dataDir, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw new CliError(EXIT_FAILURE, [
        `dataDir: cannot create ${location.dataDir}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
      ]);
    }
  }
  return location.database;
}

/**
 * Where sipwarden keeps its files (today the events database), worked out once at start.
 *
 * The data directory is the first of:
 *  1. `dataDir` in the configuration (a relative path is taken from the configuration
 *     file's directory);
 *  2. `$STATE_DIRECTORY`, which systemd sets for a service with `StateDirectory=sipwarden`
 *     (the first entry when it lists several);
 *  3. the directory of the configuration file, when one is given;
 *  4. `/var/lib/sipwarden` when running as root;
 *  5. `$XDG_STATE_HOME/sipwarden`, that is `~/.local/state/sipwarden` by default (the XDG
 *     base directory rules: a relative `XDG_STATE_HOME` is ignored).
 *
 * The events database is `events.database` when set (`:memory:`, an absolute path, or a
 * path relative to the data directory), otherwise `events.db` in the data directory.
 * The command line's `--events-db` is made absolute against the working directory before
 * it replaces `events.database`, as any file named on a command line.
 */
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';

export const SERVICE_DATA_DIR = '/var/lib/sipwarden';
export const EVENTS_FILE = 'events.db';
export const MEMORY_DATABASE = ':memory:';

/** What the rules above depend on besides the configuration: the process and its file. */
export interface DataDirContext {
  /** The configuration file, as named on the command line; absent with the embedded defaults. */
  readonly configFile?: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The effective user id; undefined where there is none (Windows). */
  readonly uid: number | undefined;
  readonly home: string;
  readonly cwd: string;
}

export interface EventsDatabaseLocation {
  /** An absolute file path, or `:memory:`. */
  readonly database: string;
  /** The data directory, absolute. */
  readonly dataDir: string;
  /** True when the database is a file inside the data directory: the directory is then created. */
  readonly inDataDir: boolean;
}

export function resolveDataDir(dataDir: string | undefined, context: DataDirContext): string {
  const configDir =
    context.configFile === undefined ? undefined : dirname(resolve(context.cwd, context.configFile));
  if (dataDir !== undefined) return resolve(configDir ?? context.cwd, dataDir);
  const stateDirectory = context.env.STATE_DIRECTORY?.split(':')[0];
  if (stateDirectory !== undefined && isAbsolute(stateDirectory)) return stateDirectory;
  if (configDir !== undefined) return configDir;
  if (context.uid === 0) return SERVICE_DATA_DIR;
  const xdgState = context.env.XDG_STATE_HOME;
  const stateHome =
    xdgState !== undefined && isAbsolute(xdgState) ? xdgState : join(context.home, '.local', 'state');
  return join(stateHome, 'sipwarden');
}

export function locateEventsDatabase(
  config: {
    readonly dataDir?: string | undefined;
    readonly events: { readonly database?: string | undefined };
  },
  context: DataDirContext,
): EventsDatabaseLocation {
  const dataDir = resolveDataDir(config.dataDir, context);
  const configured = config.events.database;
  if (configured === MEMORY_DATABASE) return { database: configured, dataDir, inDataDir: false };
  const database = resolve(dataDir, configured ?? EVENTS_FILE);
  const inside = relative(dataDir, database);
  const inDataDir = inside !== '' && !inside.startsWith('..') && !isAbsolute(inside);
  return { database, dataDir, inDataDir };
}

/**
 * `sipwarden users add|set|remove|list|import`: the user store in the gateway's SQLite file
 * (src/identity/users/user-store.ts), written directly, so it works whether or not the
 * gateway runs; a running gateway sees each change on its next lookup. The file is the one
 * `sipwarden start` uses with the same `--config` (config/data-dir.ts), or `--db FILE`.
 * Passwords come from the terminal (no echo) or stdin (`--password-stdin`), never from argv.
 * Every change is audited in the same file's audit table (actor `local`), as the API's are.
 */
import { readFileSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import { formatTime, renderTable } from '../../api/format.ts';
import { createAuditLog } from '../../audit/audit-log.ts';
import { UserStoreError } from '../../identity/users/errors.ts';
import { MAX_IMPORT_BYTES, parseUsersCsv } from '../../identity/users/import-csv.ts';
import { splitList } from '../../identity/users/user-fields.ts';
import {
  buildChanges,
  buildUser,
  parseUserAndDomain,
  type UserFieldsInput,
} from '../../identity/users/user-input.ts';
import { MAX_LIST_LIMIT, openUserStore, type SqliteUserStore } from '../../identity/users/user-store.ts';
import { userView } from '../../identity/users/user-view.ts';
import { CliError, EXIT_FAILURE, EXIT_USAGE } from '../cli-error.ts';
import { passwordFromStdin, passwordFromTerminal } from '../read-password.ts';
import { type DatabaseOptions, usersDatabase } from '../users-database.ts';

interface FieldOptions extends DatabaseOptions {
  readonly domain?: string;
  readonly groups?: string;
  readonly roles?: string;
  readonly organisation?: string;
  readonly allowedNetworks?: string;
  readonly disabled?: boolean;
  readonly enabled?: boolean;
  readonly passwordStdin?: boolean;
  readonly password?: boolean;
}

interface ListOptions extends DatabaseOptions {
  readonly domain?: string;
  readonly json?: boolean;
  readonly limit?: string;
}

interface ImportOptions extends DatabaseOptions {
  readonly replace?: boolean;
}

const USER_HELP = 'the user name, or user@domain';

function databaseOptions(command: Command): Command {
  return command
    .option('-c, --config <file>', 'the configuration `sipwarden start` uses: its database holds the users')
    .option('--db <file>', 'the SQLite database file itself (instead of --config)');
}

function fieldOptions(command: Command): Command {
  return command
    .option('--domain <domain>', "the user's domain (the Digest realm)")
    .option('--groups <list>', 'groups, comma-separated (an empty string clears them)')
    .option('--roles <list>', 'roles, comma-separated (an empty string clears them)')
    .option('--organisation <name>', 'the organisation (an empty string clears it)')
    .option(
      '--allowed-networks <list>',
      'addresses or CIDR networks the user may authenticate from, comma-separated (empty: anywhere)',
    )
    .option('--disabled', 'the user exists but cannot authenticate')
    .option('--enabled', 'the user can authenticate');
}

export function registerUsers(program: Command): void {
  const users = program
    .command('users')
    .description('manage the users sipwarden authenticates (kept as Digest HA1 values, never passwords)');

  databaseOptions(
    fieldOptions(
      users
        .command('add')
        .description('add a user; the password is asked on the terminal, or read from stdin')
        .argument('<user>', USER_HELP),
    ).option('--password-stdin', 'read the password from the first line of stdin'),
  ).action((user: string, options: FieldOptions) => add(user, options));

  databaseOptions(
    fieldOptions(
      users
        .command('set')
        .description('change a user; the password changes only with --password or --password-stdin')
        .argument('<user>', USER_HELP),
    )
      .option('--password', 'ask for a new password on the terminal')
      .option('--password-stdin', 'read a new password from the first line of stdin'),
  ).action((user: string, options: FieldOptions) => set(user, options));

  databaseOptions(
    users
      .command('remove')
      .description('remove a user')
      .argument('<user>', USER_HELP)
      .option('--domain <domain>', "the user's domain"),
  ).action((user: string, options: FieldOptions) => remove(user, options));

  databaseOptions(
    users
      .command('list')
      .description('list the users (never their HA1 values)')
      .option('--domain <domain>', 'only the users of this domain')
      .option('--limit <n>', `at most this many, 1..${MAX_LIST_LIMIT} (default 1000)`)
      .option('--json', 'print JSON'),
  ).action((options: ListOptions) => list(options));

  databaseOptions(
    users
      .command('import')
      .description(
        'add users from a CSV file with a header row: user,domain,password or user,domain,ha1_md5,ha1_sha256, ' +
          'optionally groups,roles,organisation,allowed_networks (lists separated by ;) and enabled; ' +
          'every row is checked first, and nothing is written if any is wrong',
      )
      .argument('<file>', 'the CSV file')
      .option('--replace', 'replace users that exist already (otherwise they are an error)'),
  ).action((file: string, options: ImportOptions) => importFile(file, options));
}

/**
 * Records a change made to the user store in its file's audit table. The change is made
 * already: an audit table that cannot be opened is reported, not a reason to fail.
 */
function audited(
  options: DatabaseOptions,
  action: string,
  target: string,
  detail?: Record<string, unknown>,
): void {
  try {
    const audit = createAuditLog({ database: usersDatabase(options) });
    try {
      audit.record({
        actor: 'local',
        address: 'local',
        action,
        target,
        ...(detail === undefined ? {} : { detail }),
        outcome: 'ok',
      });
    } finally {
      audit.close();
    }
  } catch (error) {
    process.stderr.write(`warning: the change is made, but not audited: ${(error as Error).message}\n`);
  }
}

function withStore<T>(options: DatabaseOptions, work: (store: SqliteUserStore) => T): T {
  const database = usersDatabase(options);
  let store: SqliteUserStore;
  try {
    store = openUserStore({ database });
  } catch (error) {
    throw new CliError(EXIT_FAILURE, [(error as Error).message]);
  }
  try {
    return work(store);
  } catch (error) {
    if (error instanceof UserStoreError) throw new CliError(EXIT_FAILURE, [error.message]);
    throw error;
  } finally {
    store.close();
  }
}

/** `alice` with `--domain example.com`, or `alice@example.com`. */
function nameOf(given: string, domain: string | undefined): { user: string; domain: string } {
  const at = given.lastIndexOf('@');
  if (at !== -1 && domain !== undefined) {
    throw new CliError(EXIT_USAGE, [`${given}: give the domain once, in user@domain or with --domain`]);
  }
  if (at === -1 && domain === undefined) {
    throw new CliError(EXIT_USAGE, ['--domain is required (or name the user as user@domain)']);
  }
  const parsed =
    at === -1
      ? parseUserAndDomain(given, domain!)
      : parseUserAndDomain(given.slice(0, at), given.slice(at + 1));
  if (!parsed.ok) throw new CliError(EXIT_USAGE, [...parsed.errors]);
  return parsed.value;
}

function fieldsOf(options: FieldOptions): UserFieldsInput {
  if (options.enabled === true && options.disabled === true) {
    throw new CliError(EXIT_USAGE, ['give --enabled or --disabled, not both']);
  }
  return {
    ...(options.groups === undefined ? {} : { groups: splitList(options.groups, ',') }),
    ...(options.roles === undefined ? {} : { roles: splitList(options.roles, ',') }),
    ...(options.organisation === undefined ? {} : { organisation: options.organisation }),
    ...(options.allowedNetworks === undefined
      ? {}
      : { allowedNetworks: splitList(options.allowedNetworks, ',') }),
    ...(options.enabled === true ? { enabled: true } : {}),
    ...(options.disabled === true ? { enabled: false } : {}),
  };
}

/** The fields checked on their own: a mistake is reported before anything is opened or asked. */
function checkFields(name: { user: string; domain: string }, fields: UserFieldsInput): void {
  const checked = buildChanges(name.user, name.domain, undefined, fields);
  if (!checked.ok) throw new CliError(EXIT_USAGE, [...checked.errors]);
}

async function add(given: string, options: FieldOptions): Promise<void> {
  const name = nameOf(given, options.domain);
  const fields = fieldsOf(options);
  checkFields(name, fields);
  // The database is checked before asking for a password nobody could store.
  usersDatabase(options);
  const password =
    options.passwordStdin === true
      ? await passwordFromStdin()
      : await passwordFromTerminal(`${name.user}@${name.domain}`);
  const built = buildUser(name.user, name.domain, { password }, fields);
  if (!built.ok) throw new CliError(EXIT_USAGE, [...built.errors]);
  const record = withStore(options, (store) => store.add(built.value));
  audited(options, 'user.create', `${record.user}@${record.domain}`);
  process.stdout.write(`added ${record.user}@${record.domain}\n`);
}

async function set(given: string, options: FieldOptions): Promise<void> {
  const name = nameOf(given, options.domain);
  if (options.password === true && options.passwordStdin === true) {
    throw new CliError(EXIT_USAGE, ['give --password or --password-stdin, not both']);
  }
  const fields = fieldsOf(options);
  checkFields(name, fields);
  const who = `${name.user}@${name.domain}`;
  // Nothing asked for a user that does not exist.
  if (withStore(options, (store) => store.get(name.user, name.domain)) === undefined) {
    throw new CliError(EXIT_FAILURE, [`no user ${who}`]);
  }
  let password: string | undefined;
  if (options.passwordStdin === true) password = await passwordFromStdin();
  else if (options.password === true) password = await passwordFromTerminal(who);
  const built = buildChanges(
    name.user,
    name.domain,
    password === undefined ? undefined : { password },
    fields,
  );
  if (!built.ok) throw new CliError(EXIT_USAGE, [...built.errors]);
  if (Object.keys(built.value).length === 0) {
    throw new CliError(EXIT_USAGE, [
      'nothing to change: give a field to set, --password or --password-stdin',
    ]);
  }
  withStore(options, (store) => store.update(name.user, name.domain, built.value));
  // The fields changed, by name: their values may be secrets.
  audited(options, 'user.update', who, {
    fields: Object.keys(built.value).map((field) => (field === 'credentials' ? 'password' : field)),
  });
  process.stdout.write(`changed ${who}${password === undefined ? '' : ' (new password)'}\n`);
}

function remove(given: string, options: FieldOptions): void {
  const name = nameOf(given, options.domain);
  const who = `${name.user}@${name.domain}`;
  if (!withStore(options, (store) => store.remove(name.user, name.domain))) {
    throw new CliError(EXIT_FAILURE, [`no user ${who}`]);
  }
  audited(options, 'user.delete', who);
  process.stdout.write(`removed ${who}\n`);
}

function list(options: ListOptions): void {
  let domain: string | undefined;
  if (options.domain !== undefined) {
    const parsed = parseUserAndDomain('x', options.domain);
    if (!parsed.ok) throw new CliError(EXIT_USAGE, [...parsed.errors]);
    domain = parsed.value.domain;
  }
  let limit: number | undefined;
  if (options.limit !== undefined) {
    limit = Number(options.limit);
    if (!/^\d+$/.test(options.limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
      throw new CliError(EXIT_USAGE, [`--limit: must be 1..${MAX_LIST_LIMIT}`]);
    }
  }
  const { records, total } = withStore(options, (store) => ({
    records: store.list({
      ...(domain === undefined ? {} : { domain }),
      ...(limit === undefined ? {} : { limit }),
    }),
    total: store.count(domain),
  }));
  if (options.json === true) {
    process.stdout.write(`${JSON.stringify({ users: records.map(userView), total }, null, 2)}\n`);
    return;
  }
  if (records.length === 0) {
    process.stdout.write('no users\n');
    return;
  }
  process.stdout.write(
    renderTable(
      ['USER', 'DOMAIN', 'ENABLED', 'GROUPS', 'ROLES', 'ORGANISATION', 'ALLOWED NETWORKS', 'CHANGED'],
      records.map((record) => [
        record.user,
        record.domain,
        record.enabled ? 'yes' : 'no',
        record.groups.join(',') || '-',
        record.roles.join(',') || '-',
        record.organisation ?? '-',
        record.allowedNetworks.join(',') || 'any',
        formatTime(record.updatedAt),
      ]),
    ),
  );
  if (total > records.length) process.stdout.write(`(${records.length} of ${total} users: see --limit)\n`);
}

function importFile(file: string, options: ImportOptions): void {
  let text: string;
  try {
    if (statSync(file).size > MAX_IMPORT_BYTES) {
      throw new CliError(EXIT_USAGE, [`${file}: larger than ${MAX_IMPORT_BYTES} bytes`]);
    }
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(EXIT_USAGE, [
      `${file}: cannot read: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
    ]);
  }
  const parsed = parseUsersCsv(text);
  if (!parsed.ok) {
    throw new CliError(EXIT_USAGE, [
      ...parsed.errors.map((error) => `${file}: ${error}`),
      'nothing was imported',
    ]);
  }
  let result: { added: number; replaced: number };
  try {
    result = withStore(options, (store) =>
      store.importUsers(parsed.users, { replace: options.replace === true }),
    );
  } catch (error) {
    if (error instanceof CliError) {
      throw new CliError(error.exitCode, [
        ...error.lines,
        'nothing was imported (use --replace to replace users that exist)',
      ]);
    }
    throw error;
  }
  audited(options, 'user.import', file, { ...result, replace: options.replace === true });
  process.stdout.write(
    `imported ${parsed.users.length} users from ${file}: ${result.added} added, ${result.replaced} replaced\n`,
  );
}

/**
 * `sipwarden admin ...`: the accounts of the management API and console, and its API tokens,
 * written directly into the gateway's database (as `sipwarden users`), so that the first
 * account can be made before the gateway ever runs; a running gateway sees each change on
 * its next request.
 *
 *   admin create --user NAME [--role admin|operator|viewer] [--no-totp] [--password-stdin]
 *   admin list | remove --user NAME | role --user NAME --role ROLE
 *   admin password --user NAME [--password-stdin] | totp --user NAME
 *   admin token create --name NAME --role ROLE | token list | token revoke ID|NAME
 *
 * A new account gets a TOTP second factor (required for admin by default), printed once as
 * an otpauth URI and a QR code for an authenticator app. Every change is audited.
 */
import type { Command } from 'commander';
import QRCode from 'qrcode';
import { createAccount } from '../../api/auth/account-admin.ts';
import {
  type AccountStore,
  AccountStoreError,
  accountView,
  type TokenRecord,
} from '../../api/auth/account-store.ts';
import type { AuditRecorder } from '../../api/auth/audit.ts';
import { hashPassword, newTotpSecret, passwordProblem, totpUri } from '../../api/auth/credentials.ts';
import { isRole, type Role } from '../../api/auth/roles.ts';
import { formatTime, renderTable } from '../../api/format.ts';
import { defaultConfig, loadConfigFile } from '../../config/load-config.ts';
import { CliError, configError, EXIT_FAILURE, EXIT_USAGE } from '../cli-error.ts';
import { passwordFromStdin, passwordFromTerminal } from '../read-password.ts';
import { type DatabaseOptions, usersDatabase } from '../users-database.ts';
import { openAccounts } from './admin-store.ts';

interface AccountOptions extends DatabaseOptions {
  readonly user: string;
  readonly role?: string;
  readonly totp?: boolean;
  readonly passwordStdin?: boolean;
  readonly json?: boolean;
}

interface TokenOptions extends DatabaseOptions {
  readonly name: string;
  readonly role: string;
  readonly json?: boolean;
}

function database(command: Command): Command {
  return command
    .option(
      '-c, --config <file>',
      'the configuration `sipwarden start` uses: its database holds the accounts',
    )
    .option('--db <file>', 'the SQLite database file itself (instead of --config)');
}

export function registerAdmin(program: Command): void {
  const admin = program
    .command('admin')
    .description('manage the accounts and API tokens of the management API and console');

  database(
    admin
      .command('create')
      .description('create an account; the password is asked on the terminal (or read from stdin)')
      .requiredOption('--user <name>', 'the account name')
      .option('--role <role>', 'viewer, operator or admin', 'admin')
      .option('--no-totp', 'no TOTP second factor (refused for the roles in management.totpRequired)')
      .option('--password-stdin', 'read the password from the first line of stdin'),
  ).action((options: AccountOptions) => create(options));

  database(admin.command('list').description('list the accounts').option('--json', 'print JSON')).action(
    (options: DatabaseOptions & { json?: boolean }) => list(options),
  );

  database(
    admin
      .command('remove')
      .description('remove an account: its sessions end and its tokens are revoked')
      .requiredOption('--user <name>', 'the account name'),
  ).action((options: AccountOptions) => remove(options));

  database(
    admin
      .command('role')
      .description("change an account's role")
      .requiredOption('--user <name>', 'the account name')
      .requiredOption('--role <role>', 'viewer, operator or admin'),
  ).action((options: AccountOptions) => role(options));

  database(
    admin
      .command('password')
      .description("change an account's password: its sessions end")
      .requiredOption('--user <name>', 'the account name')
      .option('--password-stdin', 'read the password from the first line of stdin'),
  ).action((options: AccountOptions) => password(options));

  database(
    admin
      .command('totp')
      .description('enrol a new TOTP second factor for an account (the old one stops working)')
      .requiredOption('--user <name>', 'the account name'),
  ).action((options: AccountOptions) => totp(options));

  const token = admin.command('token').description('API tokens for scripts: shown once, kept hashed');
  database(
    token
      .command('create')
      .description('create an API token with a role; it is printed once')
      .requiredOption('--name <name>', 'what the token is for (prometheus, backup-script)')
      .requiredOption('--role <role>', 'viewer, operator or admin')
      .option('--json', 'print JSON'),
  ).action((options: TokenOptions) => tokenCreate(options));
  database(token.command('list').description('list the API tokens').option('--json', 'print JSON')).action(
    (options: DatabaseOptions & { json?: boolean }) => tokenList(options),
  );
  database(
    token
      .command('revoke')
      .description('revoke a token by id, or every active token of a name')
      .argument('<id-or-name>', 'as `sipwarden admin token list` shows it'),
  ).action((idOrName: string, options: DatabaseOptions) => tokenRevoke(idOrName, options));
}

function roleOf(text: string | undefined): Role {
  if (!isRole(text)) throw new CliError(EXIT_USAGE, ['--role: must be viewer, operator or admin']);
  return text;
}

/** management.totpRequired of the configuration (the embedded default without --config). */
function totpRequired(options: DatabaseOptions): ReadonlySet<Role> {
  const loaded = options.config === undefined ? undefined : loadConfigFile(options.config);
  if (loaded !== undefined && !loaded.ok) throw configError(loaded.errors);
  return new Set((loaded?.config ?? defaultConfig()).management.totpRequired);
}

async function withAccounts<T>(
  options: DatabaseOptions,
  work: (store: AccountStore, audit: AuditRecorder) => T | Promise<T>,
): Promise<T> {
  const opened = openAccounts(usersDatabase(options));
  try {
    return await work(opened.store, opened.audit);
  } catch (error) {
    if (error instanceof AccountStoreError) {
      throw new CliError(error.code === 'SW_ERR_BAD_ACCOUNT' ? EXIT_USAGE : EXIT_FAILURE, [error.message]);
    }
    throw error;
  } finally {
    opened.close();
  }
}

function audited(
  audit: AuditRecorder,
  action: string,
  target: string,
  detail?: Record<string, unknown>,
): void {
  audit.record({
    actor: 'local',
    address: 'local',
    action,
    target,
    ...(detail === undefined ? {} : { detail }),
    outcome: 'ok',
  });
}

async function newPassword(options: AccountOptions): Promise<string> {
  const password =
    options.passwordStdin === true ? await passwordFromStdin() : await passwordFromTerminal(options.user);
  const problem = passwordProblem(password);
  if (problem !== undefined) throw new CliError(EXIT_USAGE, [problem]);
  return password;
}

async function printEnrolment(name: string, secret: string): Promise<void> {
  const uri = totpUri(name, secret);
  const qr = await QRCode.toString(uri, { type: 'terminal', small: true });
  process.stdout.write(
    `TOTP second factor: scan this with an authenticator app, or enter the secret ${secret}\n${uri}\n${qr}`,
  );
}

async function create(options: AccountOptions): Promise<void> {
  const role = roleOf(options.role);
  const totp = options.totp !== false;
  const required = totpRequired(options);
  // Checked before asking for a password that could not be used.
  if (!totp && required.has(role)) {
    throw new CliError(EXIT_USAGE, [
      `the ${role} role needs a TOTP second factor (management.totpRequired): leave out --no-totp`,
    ]);
  }
  await withAccounts(options, async (store) => {
    if (store.get(options.user) !== undefined)
      throw new CliError(EXIT_FAILURE, [`an account ${options.user} exists already`]);
  });
  const password = await newPassword(options);
  const created = await withAccounts(options, async (store, audit) => {
    const made = await createAccount(store, { name: options.user, role, password, totp }, required);
    audited(audit, 'account.create', made.account.name, { role, totp });
    return made;
  });
  process.stdout.write(`created ${created.account.name} (${created.account.role})\n`);
  if (created.totp !== undefined) await printEnrolment(created.account.name, created.totp.secret);
}

async function list(options: DatabaseOptions & { json?: boolean }): Promise<void> {
  const accounts = await withAccounts(options, (store) => store.list().map(accountView));
  if (options.json === true) {
    process.stdout.write(`${JSON.stringify({ accounts }, null, 2)}\n`);
  } else if (accounts.length === 0) {
    process.stdout.write('no accounts: make one with sipwarden admin create --user NAME\n');
  } else {
    process.stdout.write(
      renderTable(
        ['ACCOUNT', 'ROLE', 'TOTP', 'CHANGED'],
        accounts.map((account) => [
          account.name,
          account.role,
          account.totp ? 'yes' : 'no',
          formatTime(Date.parse(account.updatedAt)),
        ]),
      ),
    );
  }
}

async function remove(options: AccountOptions): Promise<void> {
  await withAccounts(options, (store, audit) => {
    if (!store.remove(options.user)) throw new CliError(EXIT_FAILURE, [`no account ${options.user}`]);
    audited(audit, 'account.delete', options.user);
  });
  process.stdout.write(`removed ${options.user}\n`);
}

async function role(options: AccountOptions): Promise<void> {
  const newRole = roleOf(options.role);
  const required = totpRequired(options);
  await withAccounts(options, (store, audit) => {
    const account = store.get(options.user);
    if (account === undefined) throw new CliError(EXIT_FAILURE, [`no account ${options.user}`]);
    if (account.totpSecret === null && required.has(newRole)) {
      throw new CliError(EXIT_USAGE, [
        `the ${newRole} role needs a TOTP second factor: enrol one first (sipwarden admin totp --user ${account.name})`,
      ]);
    }
    store.setRole(account.name, newRole);
    audited(audit, 'account.role', account.name, { from: account.role, to: newRole });
  });
  process.stdout.write(`${options.user} is now ${newRole}\n`);
}

async function password(options: AccountOptions): Promise<void> {
  await withAccounts(options, (store) => {
    if (store.get(options.user) === undefined)
      throw new CliError(EXIT_FAILURE, [`no account ${options.user}`]);
  });
  const hash = await hashPassword(await newPassword(options));
  await withAccounts(options, (store, audit) => {
    store.setPassword(options.user, hash);
    audited(audit, 'account.password', options.user);
  });
  process.stdout.write(`changed the password of ${options.user}\n`);
}

async function totp(options: AccountOptions): Promise<void> {
  const secret = newTotpSecret();
  await withAccounts(options, (store, audit) => {
    if (!store.setTotpSecret(options.user, secret))
      throw new CliError(EXIT_FAILURE, [`no account ${options.user}`]);
    audited(audit, 'account.totp', options.user);
  });
  await printEnrolment(options.user, secret);
}

function tokenRows(tokens: readonly TokenRecord[]): string {
  return renderTable(
    ['ID', 'NAME', 'ROLE', 'CREATED BY', 'CREATED', 'LAST USED', 'REVOKED'],
    tokens.map((token) => [
      token.id,
      token.name,
      token.role,
      token.createdBy,
      formatTime(token.createdAt),
      token.lastUsedAt === null ? '-' : formatTime(token.lastUsedAt),
      token.revokedAt === null ? '-' : formatTime(token.revokedAt),
    ]),
  );
}

async function tokenCreate(options: TokenOptions): Promise<void> {
  const tokenRole = roleOf(options.role);
  const made = await withAccounts(options, (store, audit) => {
    const result = store.createToken({ name: options.name, role: tokenRole, createdBy: 'local' });
    audited(audit, 'token.create', result.record.name, { id: result.record.id, role: tokenRole });
    return result;
  });
  if (options.json === true) {
    process.stdout.write(
      `${JSON.stringify({ token: made.token, id: made.record.id, role: tokenRole }, null, 2)}\n`,
    );
    return;
  }
  process.stdout.write(
    `${made.token}\n(token ${made.record.id}, ${tokenRole}: shown only now; send it as Authorization: Bearer, or --token / SIPWARDEN_API_TOKEN)\n`,
  );
}

async function tokenList(options: DatabaseOptions & { json?: boolean }): Promise<void> {
  const tokens = await withAccounts(options, (store) => store.listTokens());
  if (options.json === true) {
    const { tokenView } = await import('../../api/auth/account-store.ts');
    process.stdout.write(`${JSON.stringify({ tokens: tokens.map(tokenView) }, null, 2)}\n`);
  } else if (tokens.length === 0) {
    process.stdout.write('no tokens\n');
  } else {
    process.stdout.write(tokenRows(tokens));
  }
}

async function tokenRevoke(idOrName: string, options: DatabaseOptions): Promise<void> {
  const revoked = await withAccounts(options, (store, audit) => {
    const records = store.revokeToken(idOrName);
    for (const record of records) audited(audit, 'token.revoke', record.name, { id: record.id });
    return records;
  });
  if (revoked.length === 0) throw new CliError(EXIT_FAILURE, [`no active token ${idOrName}`]);
  process.stdout.write(`revoked ${revoked.map((token) => `${token.id} (${token.name})`).join(', ')}\n`);
}

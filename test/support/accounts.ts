/**
 * Management accounts for tests: made in the same store the gateway reads (the events
 * database of a configuration, a database file, or a running stack's store), with a known
 * password and TOTP secret, and the current TOTP code to log in with.
 *
 *   const admin = await createTestAccount({ config: configPath }, 'alice', 'admin');
 *   const session = await login(apiUrl, admin);   // { cookie, csrfToken }
 *   const token = createTestToken({ config: configPath }, 'operator');
 */

import { createAccount } from '../../src/api/auth/account-admin.ts';
import { AccountStore } from '../../src/api/auth/account-store.ts';
import { totpCode } from '../../src/api/auth/credentials.ts';
import type { Role } from '../../src/api/auth/roles.ts';
import { ManagementClient } from '../../src/api/client.ts';
import { configuredDatabase } from '../../src/cli/users-database.ts';
import type { Gateway } from '../../src/gateway.ts';

export const TEST_PASSWORD = 'correct horse battery staple';

/** Where the accounts are: a configuration file (its events database), a database file, or an open store. */
export type AccountsWhere =
  | { readonly config: string }
  | { readonly database: string }
  | { readonly store: AccountStore };

export interface TestAccount {
  readonly name: string;
  readonly role: Role;
  readonly password: string;
  /** Base32; null when made with `totp: false` (not allowed for admin by default). */
  readonly totpSecret: string | null;
}

function withStore<T>(where: AccountsWhere, work: (store: AccountStore) => T): T {
  if ('store' in where) return work(where.store);
  const database = 'database' in where ? where.database : configuredDatabase(where.config).database;
  const store = new AccountStore({ database });
  try {
    return work(store);
  } finally {
    store.close();
  }
}

export async function createTestAccount(
  where: AccountsWhere,
  name: string,
  role: Role,
  options: { totp?: boolean; password?: string } = {},
): Promise<TestAccount> {
  const password = options.password ?? TEST_PASSWORD;
  const totp = options.totp ?? true;
  const open = 'store' in where ? where.store : undefined;
  const store = open ?? new AccountStore({ database: databaseOf(where) });
  try {
    const created = await createAccount(store, { name, role, password, totp }, new Set());
    return { name, role, password, totpSecret: created.totp?.secret ?? null };
  } finally {
    if (open === undefined) store.close();
  }
}

function databaseOf(where: AccountsWhere): string {
  if ('database' in where) return where.database;
  if ('config' in where) return configuredDatabase(where.config).database;
  throw new Error('unreachable');
}

/** An API token of that role (shown once: keep it). */
export function createTestToken(where: AccountsWhere, role: Role, name = `test-${role}`): string {
  return withStore(where, (store) => store.createToken({ name, role, createdBy: 'test' }).token);
}

const usedSteps = new Map<string, number>();

/**
 * A TOTP code for the secret that has not been used yet by this process: the current
 * step's, or the next step's when the current one was used already (the server accepts one
 * step of drift and refuses a code twice). Throws when both were used: log in with another
 * account, or move the server's clock.
 */
export function totpFor(secret: string, atMs: number = Date.now()): string {
  const step = Math.floor(atMs / 30_000);
  const last = usedSteps.get(secret) ?? -1;
  const use = Math.max(step, last + 1);
  if (use > step + 1) throw new Error('two logins in this 30 s step already: use another account');
  usedSteps.set(secret, use);
  return totpCode(secret, use * 30_000);
}

/** The current TOTP code of a secret (RFC 6238, 30 s, six digits). */
export function currentTotp(secret: string, atMs: number = Date.now()): string {
  return totpCode(secret, atMs);
}

export interface TestSession {
  /** `sw_session=...`, for a Cookie header. */
  readonly cookie: string;
  readonly csrfToken: string;
}

/** Logs in over HTTP(S) as the console does; throws with the answer when refused. */
export async function login(apiUrl: string, account: TestAccount): Promise<TestSession> {
  const response = await fetch(`${apiUrl}/api/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      user: account.name,
      password: account.password,
      ...(account.totpSecret === null ? {} : { totp: totpFor(account.totpSecret) }),
    }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`login as ${account.name}: HTTP ${response.status} ${text}`);
  const cookie = (response.headers.get('set-cookie') ?? '').split(';')[0]!;
  return { cookie, csrfToken: (JSON.parse(text) as { csrfToken: string }).csrfToken };
}

/** A client of an in-process gateway's management API over HTTP, with a new token of that role. */
export function gatewayClient(gateway: Gateway, role: Role = 'admin'): ManagementClient {
  const address = gateway.managementAddress;
  if (address === undefined) throw new Error('the gateway has no management API');
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  return new ManagementClient(`http://${host}:${address.port}`, { token: gatewayToken(gateway, role) });
}

/** A new API token of that role on an in-process gateway (its store may be in memory only). */
export function gatewayToken(gateway: Gateway, role: Role = 'admin'): string {
  return gateway.management.access.store.createToken({ name: `test-${role}`, role, createdBy: 'test' }).token;
}

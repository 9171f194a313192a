/**
 * A user directory in memory for unit tests of what reads users (the authenticate stage),
 * with HA1 values computed by the user store's own function. A fixture, not a product
 * feature: sipwarden's users live in its SQLite store (the gateway and interop tests use it).
 */
import type { StoredUser, UserDirectory } from '../../src/identity/user-directory.ts';
import { computeHa1s } from '../../src/identity/users/ha1.ts';

export interface TestUser {
  readonly user: string;
  readonly domain: string;
  readonly password: string;
  readonly groups?: readonly string[];
  readonly roles?: readonly string[];
  readonly organisation?: string;
  readonly allowedNetworks?: readonly string[];
  readonly enabled?: boolean;
}

export function storedUser(u: TestUser): StoredUser {
  const user = u.user.toLowerCase();
  const domain = u.domain.toLowerCase();
  return {
    user,
    domain,
    ...computeHa1s(user, domain, u.password),
    groups: u.groups ?? [],
    roles: u.roles ?? [],
    ...(u.organisation === undefined ? {} : { organisation: u.organisation }),
    allowedNetworks: u.allowedNetworks ?? [],
    enabled: u.enabled ?? true,
  };
}

export class MemoryUsers implements UserDirectory {
  readonly #users = new Map<string, StoredUser>();

  constructor(users: readonly TestUser[] = []) {
    for (const u of users) this.add(u);
  }

  add(u: TestUser): void {
    const stored = storedUser(u);
    this.#users.set(`${stored.user}@${stored.domain}`, stored);
  }

  find(user: string, domain: string): StoredUser | undefined {
    return this.#users.get(`${user}@${domain}`);
  }
}

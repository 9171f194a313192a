/**
 * A user as the management API and `sipwarden users list --json` show it: everything but the
 * HA1 values, which never leave the store (an HA1 is as good as the password in its realm).
 */
import type { UserRecord } from './user-store.ts';

export interface UserView {
  readonly user: string;
  readonly domain: string;
  readonly groups: readonly string[];
  readonly roles: readonly string[];
  readonly organisation: string | null;
  readonly allowedNetworks: readonly string[];
  readonly enabled: boolean;
  /** ISO 8601. */
  readonly createdAt: string;
  /** ISO 8601. */
  readonly updatedAt: string;
}

export function userView(record: UserRecord): UserView {
  return {
    user: record.user,
    domain: record.domain,
    groups: [...record.groups],
    roles: [...record.roles],
    organisation: record.organisation ?? null,
    allowedNetworks: [...record.allowedNetworks],
    enabled: record.enabled,
    createdAt: new Date(record.createdAt).toISOString(),
    updatedAt: new Date(record.updatedAt).toISOString(),
  };
}

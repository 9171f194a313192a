/**
 * A whole user record, or a set of changes, from fields given as plain strings and lists
 * (the command line, a CSV row and the API each split their own list syntax first). Every
 * problem is reported, not only the first, so an operator fixes a row in one go.
 */
import type { StoredUser } from '../user-directory.ts';
import {
  type CredentialsInput,
  credentialsOf,
  type FieldResult,
  parseDomain,
  parseNames,
  parseNetworks,
  parseOrganisation,
  parseUserName,
} from './user-fields.ts';
import type { UserChanges } from './user-store.ts';

export interface UserFieldsInput {
  readonly groups?: readonly string[];
  readonly roles?: readonly string[];
  /** Empty or null: none. */
  readonly organisation?: string | null;
  readonly allowedNetworks?: readonly string[];
  readonly enabled?: boolean;
}

export type InputResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly errors: readonly string[] };

/** The stored (lower-cased) user and domain, or what is wrong with them. */
export function parseUserAndDomain(
  user: string,
  domain: string,
): InputResult<{ readonly user: string; readonly domain: string }> {
  const name = parseUserName(user);
  const realm = parseDomain(domain);
  if (name.ok && realm.ok) return { ok: true, value: { user: name.value, domain: realm.value } };
  return { ok: false, errors: [name, realm].flatMap((result) => (result.ok ? [] : [result.message])) };
}

/** A new user: name, domain, credentials (a password or both HA1s) and the optional fields. */
export function buildUser(
  user: string,
  domain: string,
  credentials: CredentialsInput,
  fields: UserFieldsInput,
): InputResult<StoredUser> {
  const names = parseUserAndDomain(user, domain);
  if (!names.ok) return names;
  const built = buildChanges(names.value.user, names.value.domain, credentials, fields);
  if (!built.ok) return built;
  const changes = built.value;
  return {
    ok: true,
    value: {
      ...names.value,
      ha1Md5: changes.credentials!.ha1Md5,
      ha1Sha256: changes.credentials!.ha1Sha256,
      groups: changes.groups ?? [],
      roles: changes.roles ?? [],
      ...(typeof changes.organisation === 'string' ? { organisation: changes.organisation } : {}),
      allowedNetworks: changes.allowedNetworks ?? [],
      enabled: changes.enabled ?? true,
    },
  };
}

/**
 * Changes to a stored user (`user` and `domain` in their stored form, as the HA1s of a new
 * password are computed with them); only the fields given change.
 */
export function buildChanges(
  user: string,
  domain: string,
  credentials: CredentialsInput | undefined,
  fields: UserFieldsInput,
): InputResult<UserChanges> {
  const errors: string[] = [];
  const take = <T>(result: FieldResult<T>): T | undefined => {
    if (result.ok) return result.value;
    errors.push(result.message);
    return undefined;
  };
  const ha1s = credentials === undefined ? undefined : take(credentialsOf(user, domain, credentials));
  const groups = fields.groups === undefined ? undefined : take(parseNames('groups', fields.groups));
  const roles = fields.roles === undefined ? undefined : take(parseNames('roles', fields.roles));
  const organisation =
    fields.organisation === undefined
      ? undefined
      : fields.organisation === null
        ? null
        : (take(parseOrganisation(fields.organisation)) ?? null);
  const allowedNetworks =
    fields.allowedNetworks === undefined ? undefined : take(parseNetworks(fields.allowedNetworks));
  if (errors.length > 0) return { ok: false, errors };
  return {
    ok: true,
    value: {
      ...(ha1s === undefined ? {} : { credentials: ha1s }),
      ...(groups === undefined ? {} : { groups }),
      ...(roles === undefined ? {} : { roles }),
      ...(organisation === undefined ? {} : { organisation }),
      ...(allowedNetworks === undefined ? {} : { allowedNetworks }),
      ...(fields.enabled === undefined ? {} : { enabled: fields.enabled }),
    },
  };
}

/**
 * What a user record may hold, checked in one place for the command line, the CSV import and
 * the management API: each reads its own format (comma lists, `;` lists, JSON arrays) and
 * hands plain strings here. Every field is bounded; names come back in their stored form
 * (user and domain lower-cased, networks canonical, lists without repeats).
 */
import { isHostname, isIpv4, isIpv6 } from '../../config/host.ts';
import { parseCidr } from '../../state/cidr.ts';
import { computeHa1s, type Ha1Pair, normalizeHa1 } from './ha1.ts';

export const USER_LIMITS = {
  /** Characters of a user name. */
  userLength: 64,
  /** Characters of a domain (a DNS name's limit, RFC 1035 2.3.4). */
  domainLength: 253,
  /** Entries in groups and in roles. */
  listEntries: 32,
  /** Characters of a group or role name. */
  nameLength: 64,
  organisationLength: 128,
  /** Entries in allowed networks. */
  networks: 32,
  /** Bytes of a password (UTF-8). */
  passwordBytes: 256,
} as const;

export type FieldResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly message: string };

const ok = <T>(value: T): FieldResult<T> => ({ ok: true, value });
const fail = <T>(message: string): FieldResult<T> => ({ ok: false, message });

/**
 * The user part of a SIP URI without escapes (RFC 3261 25.1: unreserved and
 * user-unreserved characters). Escapes (`%41`) are refused: a stored name is compared as
 * text, and an escaped spelling would be a second name for the same user.
 */
const USER = /^[a-z0-9\-_.!~*'()&=+$,;?/]+$/;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export function parseUserName(text: string): FieldResult<string> {
  const user = text.trim().toLowerCase();
  if (user.length === 0) return fail('user: must not be empty');
  if (user.length > USER_LIMITS.userLength)
    return fail(`user: longer than ${USER_LIMITS.userLength} characters`);
  if (!USER.test(user)) {
    return fail(
      `user: ${JSON.stringify(user)} may hold only letters, digits and - _ . ! ~ * ' ( ) & = + $ , ; ? /`,
    );
  }
  return ok(user);
}

/** A DNS name, an IPv4 address or a bracketed IPv6 address, lower-cased, without a trailing dot. */
export function parseDomain(text: string): FieldResult<string> {
  let domain = text.trim().toLowerCase();
  if (domain.endsWith('.')) domain = domain.slice(0, -1);
  if (domain.length === 0) return fail('domain: must not be empty');
  if (domain.length > USER_LIMITS.domainLength) {
    return fail(`domain: longer than ${USER_LIMITS.domainLength} characters`);
  }
  const bracketed = domain.startsWith('[') && domain.endsWith(']');
  if (bracketed ? isIpv6(domain.slice(1, -1)) : isIpv4(domain) || isHostname(domain)) return ok(domain);
  return fail(`domain: ${JSON.stringify(domain)} is not a DNS name or an IP address`);
}

/** Group or role names: letters, digits, `.`, `_`, `-`; at most USER_LIMITS.listEntries, repeats dropped. */
export function parseNames(field: 'groups' | 'roles', items: readonly string[]): FieldResult<string[]> {
  const names = [...new Set(items.map((item) => item.trim()).filter((item) => item.length > 0))];
  if (names.length > USER_LIMITS.listEntries) {
    return fail(`${field}: more than ${USER_LIMITS.listEntries} entries`);
  }
  for (const name of names) {
    if (name.length > USER_LIMITS.nameLength || !NAME.test(name)) {
      return fail(
        `${field}: ${JSON.stringify(name.slice(0, 80))} must be 1..${USER_LIMITS.nameLength} letters, digits, . _ - (starting with a letter or digit)`,
      );
    }
  }
  return ok(names);
}

/** Free text without control characters; empty means none. */
export function parseOrganisation(text: string): FieldResult<string | undefined> {
  const organisation = text.trim();
  if (organisation.length === 0) return ok(undefined);
  if (organisation.length > USER_LIMITS.organisationLength) {
    return fail(`organisation: longer than ${USER_LIMITS.organisationLength} characters`);
  }
  if (/[\u0000-\u001f\u007f]/.test(organisation))
    return fail('organisation: must not hold control characters');
  return ok(organisation);
}

/** Addresses or CIDR networks, in canonical form; empty: the user may authenticate from anywhere. */
export function parseNetworks(items: readonly string[]): FieldResult<string[]> {
  const given = items.map((item) => item.trim()).filter((item) => item.length > 0);
  if (given.length > USER_LIMITS.networks)
    return fail(`allowed networks: more than ${USER_LIMITS.networks} entries`);
  const networks: string[] = [];
  for (const item of given) {
    const cidr = parseCidr(item);
    if (cidr === undefined) {
      return fail(
        `allowed networks: ${JSON.stringify(item.slice(0, 80))} is not an IP address or a CIDR network`,
      );
    }
    if (!networks.includes(cidr.text)) networks.push(cidr.text);
  }
  return ok(networks);
}

export function checkPassword(password: string): FieldResult<string> {
  if (password.length === 0) return fail('password: must not be empty');
  if (Buffer.byteLength(password, 'utf8') > USER_LIMITS.passwordBytes) {
    return fail(`password: longer than ${USER_LIMITS.passwordBytes} bytes`);
  }
  if (/[\u0000-\u001f\u007f]/.test(password)) return fail('password: must not hold control characters');
  return ok(password);
}

/** A list written as text: entries between separators, trimmed, empty ones dropped. */
export function splitList(text: string, separator: ',' | ';'): string[] {
  return text
    .split(separator)
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
}

/** Credentials as given: a password, or both HA1s computed elsewhere for this user and domain. */
export type CredentialsInput =
  | { readonly password: string }
  | { readonly ha1Md5: string; readonly ha1Sha256: string };

/** The HA1s of a password (computed with the stored, lower-cased user and domain) or the given HA1s checked. */
export function credentialsOf(user: string, domain: string, input: CredentialsInput): FieldResult<Ha1Pair> {
  if ('password' in input) {
    const password = checkPassword(input.password);
    return password.ok ? ok(computeHa1s(user, domain, password.value)) : password;
  }
  const ha1Md5 = normalizeHa1('MD5', input.ha1Md5.trim());
  if (ha1Md5 === undefined) return fail('ha1_md5: must be 32 hexadecimal digits');
  const ha1Sha256 = normalizeHa1('SHA-256', input.ha1Sha256.trim());
  if (ha1Sha256 === undefined) return fail('ha1_sha256: must be 64 hexadecimal digits');
  return ok({ ha1Md5, ha1Sha256 });
}

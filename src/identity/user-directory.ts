/**
 * Where sipwarden looks users up to verify their credentials and learn their groups: the
 * user store in the embedded SQLite database (`sipwarden users ...`). Credentials are kept
 * only as Digest HA1 values (RFC 7616 3.4.2: H(username ":" realm ":" password)), never as
 * passwords, one per algorithm because the realm and the hash go into each.
 */
export interface StoredUser {
  /** Lower-cased user name (the Digest username and the From/To user part). */
  readonly user: string;
  /** Lower-cased domain; also the Digest realm the HA1 values were computed in. */
  readonly domain: string;
  /** Lower-case hex MD5(user:realm:password). */
  readonly ha1Md5: string;
  /** Lower-case hex SHA-256(user:realm:password) (RFC 8760). */
  readonly ha1Sha256: string;
  readonly groups: readonly string[];
  readonly roles: readonly string[];
  readonly organisation?: string;
  /** CIDRs the user may authenticate from; empty: anywhere. */
  readonly allowedNetworks: readonly string[];
  /** A disabled user exists but never authenticates. */
  readonly enabled: boolean;
}

export interface UserDirectory {
  /** The user, looked up by lower-cased user name and domain; undefined when unknown. Synchronous and cheap: it runs on the request path. */
  find(user: string, domain: string): StoredUser | undefined;
}

/**
 * Who sent a request, once sipwarden has proved it: by its own Digest verification (RFC
 * 3261 22, RFC 7616/8760) or by a client certificate (mutual TLS). Limits, policies, fraud
 * rules and CDRs key on this where it exists, and on the unverified From user only where it
 * does not.
 */
export interface VerifiedIdentity {
  /** The user name as stored, lower-cased. */
  readonly user: string;
  /** The user's domain (the Digest realm it was verified in). */
  readonly domain: string;
  readonly groups: readonly string[];
  readonly roles: readonly string[];
  readonly organisation?: string;
  /** How it was proved. */
  readonly method: 'digest' | 'tls-certificate';
}

/** `user@domain`: the key limits and events use for a verified identity. */
export function identityKey(identity: VerifiedIdentity): string {
  return `${identity.user}@${identity.domain}`;
}

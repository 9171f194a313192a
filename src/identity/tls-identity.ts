/**
 * The identity a client certificate proves (mutual TLS, RFC 5630 section 3.1.3 and RFC 5922
 * section 7.1: a SIP identity in a certificate is a subjectAltName URI `sip:user@domain`).
 * Only a certificate that chained to the configured CA counts, and only for a user the store
 * knows and has enabled: a certificate names a user, the store says who that user is.
 */
import type { TlsPeer } from '../transport/types.ts';
import type { VerifiedIdentity } from './identity.ts';
import type { StoredUser, UserDirectory } from './user-directory.ts';

/** Bounds what is read of a certificate's names: a certificate is the peer's text. */
const MAX_NAMES = 16;
const MAX_NAME_LENGTH = 256;

function userAndDomain(text: string): { user: string; domain: string } | undefined {
  const at = text.lastIndexOf('@');
  if (at <= 0 || at === text.length - 1) return undefined;
  return { user: text.slice(0, at).toLowerCase(), domain: text.slice(at + 1).toLowerCase() };
}

/**
 * The user a certificate names: each `URI:sip:user@domain` (or `sips:`) subjectAltName in
 * order, then the subject's common name as `user@domain`, or as `user` in `defaultDomain`.
 */
export function certificateNames(peer: TlsPeer, defaultDomain?: string): { user: string; domain: string }[] {
  const names: { user: string; domain: string }[] = [];
  for (const alt of peer.altNames.slice(0, MAX_NAMES)) {
    if (alt.length > MAX_NAME_LENGTH) continue;
    const uri = /^URI:sips?:([^;?>]+)/i.exec(alt)?.[1];
    const parsed = uri === undefined ? undefined : userAndDomain(uri);
    if (parsed) names.push(parsed);
  }
  const cn = peer.subjectCommonName;
  if (cn !== undefined && cn.length <= MAX_NAME_LENGTH) {
    const parsed = userAndDomain(cn);
    if (parsed) names.push(parsed);
    else if (defaultDomain !== undefined && !cn.includes('@'))
      names.push({ user: cn.toLowerCase(), domain: defaultDomain.toLowerCase() });
  }
  return names;
}

function identityOf(user: StoredUser): VerifiedIdentity {
  return {
    user: user.user,
    domain: user.domain,
    groups: user.groups,
    roles: user.roles,
    ...(user.organisation === undefined ? {} : { organisation: user.organisation }),
    method: 'tls-certificate',
  };
}

/**
 * The verified identity of a TLS client, or undefined: no certificate, one the CA did not
 * sign, or one that names no enabled user of the store.
 */
export function identityFromCertificate(
  peer: TlsPeer | undefined,
  users: UserDirectory,
  defaultDomain?: string,
): VerifiedIdentity | undefined {
  if (peer === undefined || !peer.authorized) return undefined;
  for (const name of certificateNames(peer, defaultDomain)) {
    const user = users.find(name.user, name.domain);
    if (user?.enabled) return identityOf(user);
  }
  return undefined;
}

/**
 * Digest HA1 values (RFC 7616 3.4.2): H(username ":" realm ":" password), in lower-case hex,
 * for the two algorithms sipwarden challenges with: SHA-256 (RFC 8760) and MD5 (RFC 2617,
 * still what most phones speak). These are all that is stored of a password; the realm goes
 * into the hash, so a user's HA1s are valid only in the domain they were computed for.
 */
import { createHash } from 'node:crypto';

export type Ha1Algorithm = 'MD5' | 'SHA-256';

const HEX_LENGTH: Readonly<Record<Ha1Algorithm, number>> = { MD5: 32, 'SHA-256': 64 };
const NODE_HASH: Readonly<Record<Ha1Algorithm, string>> = { MD5: 'md5', 'SHA-256': 'sha256' };

/** H(user ":" realm ":" password), the strings taken as UTF-8 (RFC 7616 3.4.4 charset). */
export function computeHa1(algorithm: Ha1Algorithm, user: string, realm: string, password: string): string {
  return createHash(NODE_HASH[algorithm]).update(`${user}:${realm}:${password}`, 'utf8').digest('hex');
}

export interface Ha1Pair {
  readonly ha1Md5: string;
  readonly ha1Sha256: string;
}

/** Both HA1s of a user; the realm is the user's domain. */
export function computeHa1s(user: string, domain: string, password: string): Ha1Pair {
  return {
    ha1Md5: computeHa1('MD5', user, domain, password),
    ha1Sha256: computeHa1('SHA-256', user, domain, password),
  };
}

/** The HA1 as stored (lower-case hex of the algorithm's length), or undefined when it is not one. */
export function normalizeHa1(algorithm: Ha1Algorithm, text: string): string | undefined {
  const length = HEX_LENGTH[algorithm];
  if (text.length !== length || !/^[0-9a-fA-F]+$/.test(text)) return undefined;
  return text.toLowerCase();
}

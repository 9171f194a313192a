/**
 * Passwords (argon2id, RFC 9106) and TOTP second factors (RFC 6238: 30 s steps, six digits,
 * HMAC-SHA1, as every authenticator app reads an otpauth URI).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { hash, verify } from '@node-rs/argon2';
import { generateSecret, generateSync, generateURI, verifySync } from 'otplib';

/** Bytes of a password at most: a bound on the hashing work one request can ask for. */
export const MAX_PASSWORD_BYTES = 256;
export const MIN_PASSWORD_LENGTH = 10;
export const TOTP_PERIOD_SECONDS = 30;
export const TOTP_ISSUER = 'sipwarden';

// OWASP's password storage minimum for argon2id (19 MiB, 2 passes, 1 lane): a login costs
// tens of milliseconds, and the throttle (throttle.ts) bounds how many are tried.
// `algorithm: 2` is Algorithm.Argon2id (a const enum, which this build cannot import).
const ARGON2 = { algorithm: 2, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export function hashPassword(password: string): Promise<string> {
  return hash(password, ARGON2);
}

/** A hash of a password nobody knows: verified against when an account does not exist, so
 * that the answer takes as long as for one that does. */
let decoy: Promise<string> | undefined;

export async function verifyPassword(stored: string | undefined, password: string): Promise<boolean> {
  if (Buffer.byteLength(password) > MAX_PASSWORD_BYTES) return false;
  decoy ??= hashPassword(randomBytes(18).toString('base64'));
  const target = stored ?? (await decoy);
  try {
    return (await verify(target, password)) && stored !== undefined;
  } catch {
    return false;
  }
}

/** Why a new password is refused, or undefined when it is acceptable. */
export function passwordProblem(password: string): string | undefined {
  if ([...password].length < MIN_PASSWORD_LENGTH) {
    return `the password must have at least ${MIN_PASSWORD_LENGTH} characters`;
  }
  if (Buffer.byteLength(password) > MAX_PASSWORD_BYTES) {
    return `the password must have at most ${MAX_PASSWORD_BYTES} bytes`;
  }
  return undefined;
}

/** A new TOTP secret, base32 (160 bits, RFC 4226 4's recommended length). */
export function newTotpSecret(): string {
  return generateSecret({ length: 20 });
}

export function totpUri(account: string, secret: string): string {
  return generateURI({ issuer: TOTP_ISSUER, label: account, secret, period: TOTP_PERIOD_SECONDS });
}

/** The code of the step holding `atMs`. */
export function totpCode(secret: string, atMs: number = Date.now()): string {
  return generateSync({ secret, epoch: Math.floor(atMs / 1000), period: TOTP_PERIOD_SECONDS });
}

/**
 * The time step a code belongs to when it is right at `atMs` (one step of clock drift either
 * way, RFC 6238 5.2), else undefined. The caller refuses a step at or before the last one
 * used, so that a code seen once cannot log in again (RFC 6238 5.2, last paragraph).
 */
export function totpStep(secret: string, code: string, atMs: number): number | undefined {
  if (!/^\d{6}$/.test(code)) return undefined;
  try {
    const epoch = Math.floor(atMs / 1000);
    const result = verifySync({
      secret,
      token: code,
      epoch,
      period: TOTP_PERIOD_SECONDS,
      epochTolerance: TOTP_PERIOD_SECONDS,
    });
    return result.valid ? Math.floor(epoch / TOTP_PERIOD_SECONDS) + result.delta : undefined;
  } catch {
    return undefined;
  }
}

/** API tokens and session ids are random, so SHA-256 is enough to keep them unusable at rest. */
export function digest(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function randomToken(bytes: number): string {
  return randomBytes(bytes).toString('base64url');
}

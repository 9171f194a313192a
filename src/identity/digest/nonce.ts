/**
 * Stateless Digest nonces (RFC 7616 3.3: "the contents of the nonce are implementation
 * dependent"). A nonce carries its issue time and random bytes, signed with HMAC-SHA-256
 * over those and the source address it was issued to, under a server secret. Verifying one
 * needs no table: a flood of requests with made-up nonces costs one HMAC each and stores
 * nothing. A nonce replayed from another address, or altered, fails its signature; one past
 * its lifetime but correctly signed is stale (RFC 7616 3.3 `stale=true`: the client retries
 * with the new nonce, without asking its user again).
 *
 * Layout, base64url without padding (43 characters, all legal in a quoted-string):
 * 8 bytes issue time (ms since the epoch, big-endian) | 8 random bytes | 16 bytes of the
 * HMAC over the first 16 bytes and the source address.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const TIME_BYTES = 8;
const RANDOM_BYTES = 8;
const MAC_BYTES = 16;
const NONCE_BYTES = TIME_BYTES + RANDOM_BYTES + MAC_BYTES;
/** base64url length of NONCE_BYTES without padding. */
export const NONCE_LENGTH = Math.ceil((NONCE_BYTES * 4) / 3);
/** A nonce issued this far in the future (clock steps between instances sharing a secret) is refused. */
const MAX_CLOCK_SKEW_MS = 5_000;
/** Shortest server secret accepted: 256 bits as hex or 32 characters of a passphrase. */
export const MIN_SECRET_LENGTH = 32;

const BASE64URL = /^[A-Za-z0-9_-]+$/;

export type NonceCheck =
  | { readonly status: 'valid'; readonly issuedAt: number }
  | { readonly status: 'stale'; readonly issuedAt: number }
  | { readonly status: 'invalid' };

const INVALID: NonceCheck = Object.freeze({ status: 'invalid' });

export interface NonceIssuerOptions {
  /** The server secret; a random one made at start when absent (nonces then die with the process). */
  readonly secret?: string | Buffer;
  /** How long a nonce stays valid after it is issued. */
  readonly lifetimeMs: number;
}

export class NonceIssuer {
  readonly lifetimeMs: number;
  readonly #key: Buffer;

  constructor(options: NonceIssuerOptions) {
    const secret = options.secret ?? randomBytes(32);
    if (secret.length < MIN_SECRET_LENGTH && typeof secret === 'string') {
      throw new RangeError(`the nonce secret must be at least ${MIN_SECRET_LENGTH} characters`);
    }
    this.#key = Buffer.isBuffer(secret) ? Buffer.from(secret) : Buffer.from(secret, 'utf8');
    this.lifetimeMs = options.lifetimeMs;
  }

  #mac(head: Buffer, source: string): Buffer {
    return createHmac('sha256', this.#key).update(head).update(source).digest().subarray(0, MAC_BYTES);
  }

  /** A new nonce for a challenge sent to `source` (the request's source address). */
  issue(source: string, now: number): string {
    const bytes = Buffer.allocUnsafe(NONCE_BYTES);
    bytes.writeBigUInt64BE(BigInt(Math.max(0, Math.floor(now))), 0);
    randomBytes(RANDOM_BYTES).copy(bytes, TIME_BYTES);
    const head = bytes.subarray(0, TIME_BYTES + RANDOM_BYTES);
    this.#mac(head, source).copy(bytes, TIME_BYTES + RANDOM_BYTES);
    return bytes.toString('base64url');
  }

  /** Whether `nonce` is one this server issued to `source`, and still fresh at `now`. */
  check(nonce: string, source: string, now: number): NonceCheck {
    if (nonce.length !== NONCE_LENGTH || !BASE64URL.test(nonce)) return INVALID;
    const bytes = Buffer.from(nonce, 'base64url');
    if (bytes.length !== NONCE_BYTES) return INVALID;
    const head = bytes.subarray(0, TIME_BYTES + RANDOM_BYTES);
    if (!timingSafeEqual(this.#mac(head, source), bytes.subarray(TIME_BYTES + RANDOM_BYTES))) return INVALID;
    const issuedAt = Number(bytes.readBigUInt64BE(0));
    if (issuedAt > now + MAX_CLOCK_SKEW_MS) return INVALID;
    return now - issuedAt > this.lifetimeMs ? { status: 'stale', issuedAt } : { status: 'valid', issuedAt };
  }
}

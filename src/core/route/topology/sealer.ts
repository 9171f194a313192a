import { createCipheriv, createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Seals short texts (a hidden route set, an upstream's Contact URI) into tokens that sipwarden
 * writes in the messages it sends to a hidden side, and reads back when they return.
 *
 * Deterministic authenticated encryption in the SIV manner (RFC 5297's idea with HMAC-SHA-256
 * as the PRF): the tag is a MAC of the text and serves as the AES-CTR counter block. The same
 * text always seals to the same token, so retransmissions and every request of a dialog carry
 * the same bytes, and tokens can be cached; a token nobody sealed fails the tag check (a
 * forged Contact or route set is refused), and the text is unreadable without the key.
 */

const TAG_BYTES = 16;
/** Texts longer than this are not sealed (a route set or URI that long is refused instead). */
export const MAX_SEALED_TEXT = 2048;
const MAX_TOKEN = Math.ceil(((MAX_SEALED_TEXT + TAG_BYTES) * 4) / 3) + 4;
const CACHE_ENTRIES = 10_000;

export class Sealer {
  readonly #encryptionKey: Buffer;
  readonly #macKey: Buffer;
  readonly #sealed = new Map<string, string>();
  readonly #opened = new Map<string, string>();

  constructor(secret: Buffer) {
    if (secret.length < 16) throw new RangeError('sealing secret must be at least 16 bytes');
    // Separate keys for the two jobs, derived from the process secret.
    this.#encryptionKey = createHmac('sha256', secret).update('sipwarden topology encryption').digest();
    this.#macKey = createHmac('sha256', secret).update('sipwarden topology mac').digest();
  }

  /** The token for `text` (base64url), or undefined when the text is too long to seal. */
  seal(text: string): string | undefined {
    if (text.length > MAX_SEALED_TEXT) return undefined;
    const cached = this.#sealed.get(text);
    if (cached !== undefined) return cached;
    const plain = Buffer.from(text, 'latin1');
    const tag = this.#tag(plain);
    const cipher = createCipheriv('aes-256-ctr', this.#encryptionKey, tag);
    const token = Buffer.concat([tag, cipher.update(plain), cipher.final()]).toString('base64url');
    remember(this.#sealed, text, token);
    return token;
  }

  /** The text a token was sealed from; undefined when it is malformed or was not sealed here. */
  open(token: string): string | undefined {
    if (token.length < 22 || token.length > MAX_TOKEN || !/^[A-Za-z0-9_-]+$/.test(token)) return undefined;
    const cached = this.#opened.get(token);
    if (cached !== undefined) return cached;
    const raw = Buffer.from(token, 'base64url');
    // One spelling per token: unused low bits of the last character set are a forgery too.
    if (raw.length <= TAG_BYTES || raw.toString('base64url') !== token) return undefined;
    const tag = raw.subarray(0, TAG_BYTES);
    const decipher = createCipheriv('aes-256-ctr', this.#encryptionKey, tag);
    const plain = Buffer.concat([decipher.update(raw.subarray(TAG_BYTES)), decipher.final()]);
    if (!timingSafeEqual(tag, this.#tag(plain))) return undefined;
    const text = plain.toString('latin1');
    remember(this.#opened, token, text);
    return text;
  }

  #tag(plain: Buffer): Buffer {
    return createHmac('sha256', this.#macKey).update(plain).digest().subarray(0, TAG_BYTES);
  }
}

/** Bounded: when full, start over (a flood of new values costs the crypto, nothing more). */
function remember(cache: Map<string, string>, key: string, value: string): void {
  if (cache.size >= CACHE_ENTRIES) cache.clear();
  cache.set(key, value);
}

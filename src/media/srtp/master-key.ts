/**
 * An SRTP master key and salt. The bytes are held in a private field and never printed:
 * toString, toJSON and util.inspect show a redaction, so a key that reaches a log line,
 * an event or an error message shows nothing (the keys of a call are its confidentiality).
 */
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import type { SrtpSuite } from './suites.ts';

const REDACTED = '[redacted SRTP master key]';

export class MasterKey {
  readonly #key: Buffer;
  readonly #salt: Buffer;

  private constructor(key: Buffer, salt: Buffer) {
    this.#key = key;
    this.#salt = salt;
  }

  /** From the concatenated key||salt of an SDES inline key (RFC 4568 section 6.1). */
  static fromConcatenated(material: Buffer, suite: SrtpSuite): MasterKey | undefined {
    if (material.length !== suite.keyLength + suite.saltLength) return undefined;
    const copy = Buffer.from(material);
    return new MasterKey(copy.subarray(0, suite.keyLength), copy.subarray(suite.keyLength));
  }

  static fromParts(key: Buffer, salt: Buffer): MasterKey {
    return new MasterKey(Buffer.from(key), Buffer.from(salt));
  }

  /** A fresh random key and salt for the suite (node:crypto's CSPRNG). */
  static generate(suite: SrtpSuite): MasterKey {
    const material = randomBytes(suite.keyLength + suite.saltLength);
    return new MasterKey(material.subarray(0, suite.keyLength), material.subarray(suite.keyLength));
  }

  get keyLength(): number {
    return this.#key.length;
  }

  /** The raw bytes, for the key derivation and for writing an a=crypto line only. */
  reveal(): { readonly key: Buffer; readonly salt: Buffer } {
    return { key: this.#key, salt: this.#salt };
  }

  /** key||salt in base64, as an SDES inline key carries it. */
  toInline(): string {
    return Buffer.concat([this.#key, this.#salt]).toString('base64');
  }

  /** Constant-time comparison of two keys. */
  equals(other: MasterKey): boolean {
    const a = Buffer.concat([this.#key, this.#salt]);
    const b = Buffer.concat([other.#key, other.#salt]);
    return a.length === b.length && a.equals(b);
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }
}

/**
 * A small seeded generator (xorshift128+ on two 32-bit halves would do; mulberry32 is
 * enough here): attacks are reproducible from their seed, which the fuzzer relies on to
 * replay a message that stopped a target. Not for secrets.
 */
import { randomInt } from 'node:crypto';

const ALPHANUMERIC = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** User-Agent strings of common phones and softphones, for floods that blend in. */
export const COMMON_USER_AGENTS: readonly string[] = [
  'Yealink SIP-T46S 66.86.0.15',
  'Grandstream GXP2170 1.0.11.3',
  'PolycomVVX-VVX_411-UA/6.4.3.5018',
  'Zoiper rv2.10.19.6',
  'Linphone/5.2.0 (belle-sip/5.2.0)',
  'MicroSIP/3.21.3',
  'Cisco-CP8841/12.8.1',
  'snom D785/10.1.141.13',
  'Bria 6 release 6.7.0',
  'Asterisk PBX 20.5.0',
];

/** What SIPVicious (svmap, svwar, svcrack) sends unless told otherwise. */
export const SCANNER_USER_AGENT = 'friendly-scanner';

export class Random {
  #state: number;
  readonly seed: number;

  constructor(seed: number = randomInt(0, 0x7fffffff)) {
    this.seed = seed >>> 0;
    this.#state = this.seed;
  }

  /** A float in [0, 1). */
  next(): number {
    // mulberry32
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  /** `length` characters from [a-z0-9]. */
  token(length: number): string {
    let out = '';
    for (let i = 0; i < length; i++) out += ALPHANUMERIC[this.int(ALPHANUMERIC.length)]!;
    return out;
  }

  /** A plausible extension or user name: 3 to 6 digits, or letters. */
  user(): string {
    return this.next() < 0.7 ? String(100 + this.int(999_900)) : this.token(4 + this.int(5));
  }

  /** `count` random bytes. */
  bytes(count: number): Buffer {
    const out = Buffer.allocUnsafe(count);
    for (let i = 0; i < count; i++) out[i] = this.int(256);
    return out;
  }
}

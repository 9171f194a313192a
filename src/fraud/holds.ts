/**
 * Identities whose new calls are held for an operator: refused with a clear status until
 * released (`sipwarden fraud release user@domain`, DELETE /api/fraud/holds/:identity).
 * Shared by the fraud stage (which adds and enforces holds) and the management API (which
 * lists and releases them). Bounded: when full, the oldest hold gives way (counted).
 */

export interface FraudHold {
  /** `user@domain`, as the fraud stage keys identities. */
  readonly identity: string;
  /** False when the identity is the unverified From user. */
  readonly verified: boolean;
  /** The check that held it (`spend-velocity`, a rule name...). */
  readonly rule: string;
  readonly reason: string;
  /** The SIP status every refused call of the identity gets (the rule's). */
  readonly status: number;
  readonly since: number;
  /** Calls refused because of the hold. */
  refused: number;
}

export const DEFAULT_MAX_HOLDS = 10_000;

export class FraudHolds {
  readonly #holds = new Map<string, FraudHold>();
  readonly #max: number;
  #evicted = 0;

  constructor(max = DEFAULT_MAX_HOLDS) {
    this.#max = max;
  }

  /** Holds `identity` (a hold in force is kept as it was); returns the hold in force. */
  hold(entry: Omit<FraudHold, 'refused'>): FraudHold {
    const existing = this.#holds.get(entry.identity);
    if (existing !== undefined) return existing;
    if (this.#holds.size >= this.#max) {
      const oldest = this.#holds.keys().next().value;
      if (oldest !== undefined) this.#holds.delete(oldest);
      this.#evicted++;
    }
    const hold: FraudHold = { ...entry, refused: 0 };
    this.#holds.set(entry.identity, hold);
    return hold;
  }

  get(identity: string): FraudHold | undefined {
    return this.#holds.get(identity);
  }

  /** Releases a hold; true when there was one. */
  release(identity: string): boolean {
    return this.#holds.delete(identity);
  }

  /** Holds, oldest first. */
  list(): FraudHold[] {
    return [...this.#holds.values()];
  }

  stats(): { readonly held: number; readonly maxHolds: number; readonly evicted: number } {
    return { held: this.#holds.size, maxHolds: this.#max, evicted: this.#evicted };
  }
}

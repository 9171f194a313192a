/**
 * Login throttling: failed logins counted per account name and per client address in a
 * window; past the limit, that name or address may not try again until the window ends.
 * Both tables are bounded: when full, the entry whose window started first is dropped
 * (it is the nearest to expiring anyway).
 */
export interface ThrottleOptions {
  readonly windowMs?: number;
  readonly maxPerAccount?: number;
  readonly maxPerAddress?: number;
  readonly maxEntries?: number;
}

interface Window {
  start: number;
  failures: number;
}

export const LOGIN_WINDOW_MS = 15 * 60_000;

export class LoginThrottle {
  readonly #windowMs: number;
  readonly #maxPerAccount: number;
  readonly #maxPerAddress: number;
  readonly #maxEntries: number;
  readonly #accounts = new Map<string, Window>();
  readonly #addresses = new Map<string, Window>();

  constructor(options: ThrottleOptions = {}) {
    this.#windowMs = options.windowMs ?? LOGIN_WINDOW_MS;
    this.#maxPerAccount = options.maxPerAccount ?? 5;
    this.#maxPerAddress = options.maxPerAddress ?? 20;
    this.#maxEntries = options.maxEntries ?? 10_000;
  }

  /** Milliseconds until this account or address may try again; 0 when it may now. */
  retryAfter(account: string, address: string, now: number): number {
    return Math.max(
      this.#wait(this.#accounts, account.toLowerCase(), this.#maxPerAccount, now),
      this.#wait(this.#addresses, address, this.#maxPerAddress, now),
    );
  }

  failed(account: string, address: string, now: number): void {
    this.#count(this.#accounts, account.toLowerCase(), now);
    this.#count(this.#addresses, address, now);
  }

  /** A successful login clears the account's count (not the address's: one right password
   * must not reset guesses at other accounts from there). */
  succeeded(account: string): void {
    this.#accounts.delete(account.toLowerCase());
  }

  #wait(table: Map<string, Window>, key: string, max: number, now: number): number {
    const entry = table.get(key);
    if (entry === undefined) return 0;
    const end = entry.start + this.#windowMs;
    if (now >= end) {
      table.delete(key);
      return 0;
    }
    return entry.failures >= max ? end - now : 0;
  }

  #count(table: Map<string, Window>, key: string, now: number): void {
    const entry = table.get(key);
    if (entry !== undefined && now < entry.start + this.#windowMs) {
      entry.failures += 1;
      return;
    }
    table.delete(key);
    if (table.size >= this.#maxEntries) {
      // Insertion order is window-start order: the first key is the oldest window.
      const oldest = table.keys().next().value;
      if (oldest !== undefined) table.delete(oldest);
    }
    table.set(key, { start: now, failures: 1 });
  }
}

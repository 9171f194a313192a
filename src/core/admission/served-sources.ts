import { createMemoryTrustTable } from '../../state/memory-trust-table.ts';
import type { TrustTable } from '../../state/types.ts';

/**
 * Sources that proved their address by a call the upstream accepted: a caller's ACK to a
 * 2xx matched its dialog, which takes the To tag that only the caller's real address
 * received. Under overload they are shed after sources never seen (admission.ts), so that
 * a flood from new addresses does not take the place of the callers the service already
 * serves. This orders shedding only: no threshold is lifted and no check is skipped (trust
 * comes from authentication alone). Bounded: past `maxEntries` the least recently served
 * address gives way; an address stays for `ttlMs` after its last call.
 */
export class ServedSources {
  readonly #table: TrustTable;

  constructor(options: { maxEntries?: number; ttlMs?: number } = {}) {
    this.#table = createMemoryTrustTable({
      maxEntries: options.maxEntries ?? 100_000,
      ttlMs: options.ttlMs ?? 24 * 60 * 60 * 1000,
    });
  }

  served(address: string, now: number): void {
    this.#table.succeed(address, undefined, now);
  }

  has(address: string, now: number): boolean {
    return this.#table.isTrusted(address, now);
  }
}

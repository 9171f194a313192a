/**
 * Transactions whose 401/407 challenge said `stale=true` (RFC 7616 3.3): the credentials
 * were right and only the nonce had expired, which phones refreshing a registration meet
 * all the time. The response hook sees the challenge; the outcome hook, which counts
 * failures, only sees the status: this small table carries the one fact from one to the
 * other. Bounded: the oldest entry gives way, and an entry outlives no transaction.
 */
import type { RequestContext } from '../core/inspector.ts';
import type { SipRequest, SipResponse } from '../sip/message.ts';
import { credentialsOf, isStaleChallenge } from './credentials.ts';

/** A transaction lives at most 64 x T1 = 32 s (RFC 3261 17.1.1.2, Timer B). */
const TTL_MS = 32_000;
const MAX_ENTRIES = 4096;

function keyOf(source: string, request: SipRequest): string {
  return `${source}\n${request.callId}\n${request.cseq.seq}\n${request.method}`;
}

export class StaleChallenges {
  /** Key -> time seen, oldest first (insertion order). */
  readonly #seen = new Map<string, number>();
  readonly #max: number;

  constructor(maxEntries = MAX_ENTRIES) {
    this.#max = maxEntries;
  }

  get size(): number {
    return this.#seen.size;
  }

  /** From a response hook: remembers a stale challenge to a request that carried credentials. */
  note(context: RequestContext, response: SipResponse, now: number): void {
    if (response.status !== 401 && response.status !== 407) return;
    if (!isStaleChallenge(response) || credentialsOf(context.request) === undefined) return;
    for (const [key, at] of this.#seen) {
      if (now - at < TTL_MS && this.#seen.size < this.#max) break;
      this.#seen.delete(key);
    }
    this.#seen.set(keyOf(context.flow.remoteAddress, context.request), now);
  }

  /** From an outcome hook: true (once) when this request's challenge was stale. */
  take(source: string, request: SipRequest, now: number): boolean {
    if (this.#seen.size === 0) return false;
    const key = keyOf(source, request);
    const at = this.#seen.get(key);
    if (at === undefined) return false;
    this.#seen.delete(key);
    return now - at < TTL_MS;
  }
}

/**
 * invite-distributed, a built-in rule of the flood stage (settings `inviteDistributed`): an
 * INVITE flood spread over many sources, one or two new calls from each, with random users.
 * Every per-source and per-key rule stays under its threshold; blocking the sources is no
 * answer (there are hundreds, and the next flood brings others). What stands out is how many
 * sources nobody knows place new calls at once, and what is refused is their calls, not
 * their addresses.
 *
 * - Counted: out-of-dialog INVITEs from client-side sources that are neither trusted (they
 *   authenticated lately) nor established callers. An established caller is a source that
 *   had a call answered (a 2xx to its INVITE) within `rememberMs`: a trunk after its first
 *   answered call, the phones of a customer base. A flood tool's calls to random users are
 *   not answered. Remembered in a bounded table (`maxCallers`, least recently answered out
 *   first), written only by answered calls, so a flood cannot push callers out of it.
 * - While more than `sources` distinct such sources sent new INVITEs in `windowMs` (the
 *   surge), every new INVITE from such a source is refused: `503` with Retry-After by
 *   default (RFC 3261 21.5.4: a phone or trunk refused by mistake tries again later), or
 *   dropped. Trusted sources, established callers, in-dialog requests and the allowlist
 *   keep going; no address is blocked.
 * - Why 100 distinct sources in 10 s: a trunk is one source, an office behind NAT one more,
 *   registered phones are trusted; 100 unknown addresses placing calls within 10 s is a
 *   flood, not a customer base. After a restart of sipwarden (trust and callers are in
 *   memory) a large customer base's phones are unknown until they register or have a call
 *   answered: raise `sources` where more than 100 of them call within 10 s.
 */
import { z } from 'zod';
import type { OutcomeContext, RequestContext } from '../../core/inspector.ts';
import { reasonPhrase } from '../../sip/response.ts';
import type { ActivityStore, TrustTable } from '../../state/types.ts';
import { floodKeyPrefix } from '../block-keys.ts';
import { eventFor } from '../event-input.ts';
import { integer, oneOf, rejectStatus, threshold, windowMs } from '../rule-schema.ts';
import type { StageVerdict } from '../stage.ts';

export const INVITE_DISTRIBUTED = 'invite-distributed';

const DAY = 24 * 60 * 60 * 1000;

export const inviteDistributedSchema = z
  .strictObject({
    /** Refuse the unknown sources' new calls during a surge (`reject`, `drop`), or only `alert`. */
    action: oneOf(['reject', 'drop', 'alert']).default('reject'),
    status: rejectStatus.default(503),
    retryAfterSeconds: integer(1, 3600).default(30),
    /** Distinct unknown sources placing new calls in `windowMs` above which the surge starts. */
    sources: threshold.default(100),
    windowMs: windowMs.default(10_000),
    /** How long a source stays an established caller after a call of its was answered. */
    rememberMs: integer(
      60_000,
      30 * DAY,
      'must be a duration in milliseconds from 60000 to 2592000000',
    ).default(DAY),
    /** Established callers remembered at once (the table's memory bound). */
    maxCallers: integer(1, 10_000_000).default(65_536),
  })
  .prefault({});

export type InviteDistributedSettings = z.output<typeof inviteDistributedSchema>;

/** Sources whose calls were answered, least recently answered first; bounded. */
class EstablishedCallers {
  readonly #answeredAt = new Map<string, number>();
  readonly #max: number;
  readonly #rememberMs: number;

  constructor(max: number, rememberMs: number) {
    this.#max = max;
    this.#rememberMs = rememberMs;
  }

  answered(source: string, now: number): void {
    // Delete first: a Map keeps insertion order, so the entry moves to the newest end.
    this.#answeredAt.delete(source);
    this.#answeredAt.set(source, now);
    if (this.#answeredAt.size > this.#max) {
      const oldest = this.#answeredAt.keys().next().value;
      if (oldest !== undefined) this.#answeredAt.delete(oldest);
    }
  }

  has(source: string, now: number): boolean {
    const at = this.#answeredAt.get(source);
    if (at === undefined) return false;
    if (now - at < this.#rememberMs) return true;
    this.#answeredAt.delete(source);
    return false;
  }
}

export class InviteDistributed {
  readonly #s: InviteDistributedSettings;
  readonly #store: ActivityStore;
  readonly #trust: TrustTable;
  readonly #callers: EstablishedCallers;
  readonly #key = `${floodKeyPrefix(INVITE_DISTRIBUTED)}*`;
  readonly #stage: string;

  constructor(settings: InviteDistributedSettings, store: ActivityStore, trust: TrustTable, stage: string) {
    this.#s = settings;
    this.#store = store;
    this.#trust = trust;
    this.#callers = new EstablishedCallers(settings.maxCallers, settings.rememberMs);
    this.#stage = stage;
  }

  /** A new INVITE from the client side: counted, and refused during a surge when its source is unknown. */
  request(context: RequestContext, now: number): StageVerdict | undefined {
    const source = context.flow.remoteAddress;
    if (this.#callers.has(source, now) || this.#trust.isTrusted(source, now)) return undefined;
    const s = this.#s;
    const n = this.#store.distinct(this.#key, source, s.windowMs, now);
    if (n <= s.sources) return undefined;
    const action = s.action;
    const event = eventFor(context.flow, {
      type: 'flood',
      stage: this.#stage,
      rule: INVITE_DISTRIBUTED,
      action,
      key: this.#key,
      reason: `${INVITE_DISTRIBUTED}: ${Math.round(n)} distinct unknown sources placed new calls in ${s.windowMs} ms, over ${s.sources}: new calls from unknown sources refused`,
      details: { distinctSources: Math.round(n), threshold: s.sources, windowMs: s.windowMs },
      ...(action === 'reject' ? { status: s.status } : {}),
    });
    if (action === 'alert' || action === 'drop') return { action, event };
    return {
      action: 'reject',
      status: s.status,
      reason: reasonPhrase(s.status),
      headers: [{ name: 'Retry-After', value: String(s.retryAfterSeconds) }],
      event,
    };
  }

  /** The final answer to a client's INVITE: a 2xx makes its source an established caller. */
  outcome(context: OutcomeContext, now: number): void {
    if (context.status >= 200 && context.status < 300)
      this.#callers.answered(context.flow.remoteAddress, now);
  }
}

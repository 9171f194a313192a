import type { SipRequest } from '../../sip/message.ts';
import type { Flow } from '../../transport/types.ts';
import type { Direction } from '../inspector.ts';
import { peekKind } from './peek.ts';
import { ServedSources } from './served-sources.ts';
import { UpstreamBudget } from './upstream-budget.ts';

/**
 * Admission control: what sipwarden takes on when it has more work than it can do.
 *
 * By the age of the work, not the length of a queue. Past its capacity a UDP server's
 * receive queue fills with seconds of work that is useless by the time it is read (its
 * sender has retransmitted, RFC 3261 17.1.1.2), and the retransmissions add load: the
 * rate of completed calls collapses. The transport measures how long the work now being
 * read waited (queue-probe.ts); once it has stayed past `maxWorkAgeMs` for a whole second
 * (a standing queue, not a stall of a busy machine), new out-of-dialog requests from
 * untrusted sources are shed before they are parsed, which costs a peek at their first
 * bytes, so the queue drains and what is admitted is still fresh. The classes, shed in
 * this order (DESIGN.md: untrusted new work first):
 *   0. new requests from untrusted sources never served: from `maxWorkAgeMs`, with 503
 *      and Retry-After (RFC 3261 21.5.4) while answers stay within their own budget and
 *      the wait is under T1, silently after (the sender's retransmission is already on its way);
 *   1. requests under way from untrusted sources (To tag, ACK, CANCEL) and their
 *      responses, and new requests from sources whose calls the upstream accepted before
 *      (served-sources.ts): from twice `maxWorkAgeMs`, and not before T1 (by then the
 *      sender has retransmitted: the copy behind it in the queue takes its place);
 *   2. allowlisted peers, authenticated (trusted) sources and the upstream: only once the
 *      work is older than any transaction lasts (64*T1), when it can be of no use.
 *
 * By budget and table, before a new transaction starts: the upstream never receives more
 * than `upstreamRequestsPerSecond` new requests in any second, and untrusted new requests
 * may take only `untrustedPercent` of that budget and of the transaction table, so that
 * the rest stays free for the higher classes.
 */

export interface AdmissionSettings {
  /** Work that waited longer than this is shed, lowest class first (ms). */
  readonly maxWorkAgeMs: number;
  /** New requests the upstream may receive per second, whatever their sources. */
  readonly upstreamRequestsPerSecond: number;
  /** Share (percent) of that budget and of the transaction table open to untrusted new requests. */
  readonly untrustedPercent: number;
  readonly retryAfterSeconds: number;
  /** 503 answers to shed requests per second at most; beyond it they are dropped unanswered. */
  readonly answersPerSecond: number;
}

export const DEFAULT_ADMISSION: AdmissionSettings = Object.freeze({
  maxWorkAgeMs: 400,
  upstreamRequestsPerSecond: 5000,
  untrustedPercent: 80,
  retryAfterSeconds: 5,
  answersPerSecond: 200,
});

/** Where sources stand: allowlisted peers and authenticated (trusted) sources come last in shedding. */
export interface SourceStanding {
  isPreferred(address: string, now: number): boolean;
}

export type PacketAdmission = 'admit' | 'reject' | 'drop';

export type AdmissionRefusalCode = 'work-age' | 'upstream-budget' | 'transaction-table';

export interface AdmissionRefusal {
  readonly code: AdmissionRefusalCode;
  readonly reason: string;
  /** Answer with 503 (and Retry-After); otherwise drop. */
  readonly answer: boolean;
}

export interface AdmissionStats {
  /** Messages shed by their age before parsing, answered 503 or dropped. */
  shedByAgeAnswered: number;
  shedByAgeDropped: number;
  /** New requests refused because the upstream's budget or the transaction table was under pressure. */
  refusedByBudget: number;
  refusedByTable: number;
}

/** RFC 3261 17.1.1.1: T1, the first retransmission interval over UDP. */
const T1_MS = 500;
/** The standing queue's window: an age must stay above the threshold this long before shedding starts. */
const STANDING_WINDOW_MS = 1000;
const STANDING_SLOT_MS = 100;
/** 64*T1: no transaction outlives this; older work can be of no use. */
const USELESS_MS = 64 * T1_MS;

export class AdmissionControl {
  readonly #settings: AdmissionSettings;
  readonly #standing: SourceStanding;
  readonly #workAgeMs: () => number;
  readonly #now: () => number;
  readonly #budget: UpstreamBudget;
  readonly #answers: UpstreamBudget;
  readonly #served = new ServedSources();
  /** The lowest age seen per slot of STANDING_SLOT_MS, over the last STANDING_WINDOW_MS. */
  readonly #slotMins = new Float64Array(STANDING_WINDOW_MS / STANDING_SLOT_MS); // zero: at start the queue is taken as empty
  #slot = Number.NEGATIVE_INFINITY;
  readonly stats: AdmissionStats = {
    shedByAgeAnswered: 0,
    shedByAgeDropped: 0,
    refusedByBudget: 0,
    refusedByTable: 0,
  };

  constructor(
    settings: AdmissionSettings,
    standing: SourceStanding,
    workAgeMs: () => number,
    now: () => number = () => performance.now(),
  ) {
    this.#settings = settings;
    this.#standing = standing;
    this.#workAgeMs = workAgeMs;
    this.#now = now;
    this.#budget = new UpstreamBudget(settings.upstreamRequestsPerSecond, settings.untrustedPercent);
    this.#answers = new UpstreamBudget(settings.answersPerSecond, 100);
  }

  get settings(): AdmissionSettings {
    return this.#settings;
  }

  /** A caller's ACK matched the dialog of a call the upstream accepted: its address is proven. */
  served(address: string): void {
    this.#served.served(address, Date.now());
  }

  /** Before parsing: admit, shed with an answer (`reject`: parse, then 503), or drop. */
  admitPacket(flow: Flow, data: Buffer, direction: Direction): PacketAdmission {
    const age = this.#workAgeMs();
    const threshold = this.#settings.maxWorkAgeMs;
    if (age < threshold) {
      this.#standingAge(age);
      return 'admit';
    }
    // A standing queue, not a stall: the age stayed above the threshold for a whole window.
    if (this.#standingAge(age) < threshold) return 'admit';
    if (direction === 'upstream') return this.#shed(age < USELESS_MS);
    const kind = peekKind(data);
    if (this.#standing.isPreferred(flow.remoteAddress, Date.now())) return this.#shed(age < USELESS_MS);
    // Work under way is shed only once its sender has retransmitted it (T1), at twice the threshold at least.
    const later = Math.max(2 * threshold, T1_MS);
    if (kind !== 'new') return this.#shed(this.#standingAge(age) < later);
    // A source served before keeps its new requests until then too; past it, it is shed as below.
    if (this.#standingAge(age) < later && this.#served.has(flow.remoteAddress, Date.now())) return 'admit';
    // Over a stream nothing is retransmitted: the sender waits for an answer (RFC 3261 17.1.1.2).
    const fresh = flow.transport !== 'udp' || age < T1_MS;
    if (fresh && this.#answers.take(true, this.#now())) {
      this.stats.shedByAgeAnswered++;
      return 'reject';
    }
    this.stats.shedByAgeDropped++;
    return 'drop';
  }

  /**
   * Before a request starts a transaction: `inProgress` transactions are under way of at
   * most `maxTransactions`. Returns why not, or undefined to go on (and counts it against
   * the upstream's budget when it goes there).
   */
  admitTransaction(
    request: SipRequest,
    flow: Flow,
    direction: Direction,
    inProgress: number,
    maxTransactions: number,
  ): AdmissionRefusal | undefined {
    const high =
      direction === 'upstream' ||
      request.to.params.get('tag') !== undefined ||
      this.#standing.isPreferred(flow.remoteAddress, Date.now());
    const tableLimit = high
      ? maxTransactions
      : Math.max(1, Math.ceil((maxTransactions * this.#settings.untrustedPercent) / 100));
    if (inProgress >= tableLimit) {
      this.stats.refusedByTable++;
      return {
        code: 'transaction-table',
        reason: high
          ? 'transaction table full'
          : 'transaction table under pressure: untrusted new requests shed',
        answer: this.#answers.take(true, this.#now()),
      };
    }
    if (direction === 'client' && !this.#budget.take(high, this.#now())) {
      this.stats.refusedByBudget++;
      return {
        code: 'upstream-budget',
        reason: high
          ? 'upstream budget of new requests per second reached'
          : 'upstream budget under pressure: untrusted new requests shed',
        answer: this.#answers.take(true, this.#now()),
      };
    }
    return undefined;
  }

  /**
   * The lowest age seen over the last STANDING_WINDOW_MS (CoDel's measure, RFC 8289 section
   * 3.2: a queue that never drained in a whole window is standing, one that spiked and
   * drained was a stall: a busy machine descheduling the process, a garbage collection).
   * Slots in which no message came count as empty (no message, no queue), and so does the
   * time before the first message: a process just started (its code not yet compiled) is
   * slow for a moment, and that is a stall too.
   */
  #standingAge(age: number): number {
    const slot = Math.floor(this.#now() / STANDING_SLOT_MS);
    const mins = this.#slotMins;
    if (slot !== this.#slot) {
      if (this.#slot !== Number.NEGATIVE_INFINITY) {
        for (let s = Math.max(this.#slot + 1, slot - mins.length + 1); s < slot; s++)
          mins[s % mins.length] = 0;
      }
      mins[slot % mins.length] = age;
      this.#slot = slot;
    } else {
      mins[slot % mins.length] = Math.min(mins[slot % mins.length]!, age);
    }
    let lowest = Number.POSITIVE_INFINITY;
    for (let i = 0; i < mins.length; i++) lowest = Math.min(lowest, mins[i]!);
    return lowest;
  }

  #shed(keep: boolean): PacketAdmission {
    if (keep) return 'admit';
    this.stats.shedByAgeDropped++;
    return 'drop';
  }
}

const NO_PREFERRED: SourceStanding = Object.freeze({ isPreferred: () => false });

/** Admission with the default settings and no work-age measure: budget and table only (tests, embedders). */
export function createAdmission(
  settings: Partial<AdmissionSettings> = {},
  standing: SourceStanding = NO_PREFERRED,
  workAgeMs: () => number = () => 0,
  now?: () => number,
): AdmissionControl {
  return new AdmissionControl(
    { ...DEFAULT_ADMISSION, ...settings },
    standing,
    workAgeMs,
    ...(now ? [now] : []),
  );
}

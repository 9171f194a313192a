/**
 * What came back for what was sent: each request of a run has a sequence number (carried
 * in its Via branch); answers are matched to it. Tables are typed arrays sized by the
 * run's count, which is bounded (options.ts MAX_COUNT), so a flood of answers, forged or
 * not, costs no memory beyond them.
 */

export interface BlockedAfter {
  /** Requests the target answered before it went silent: the last answered request's number. */
  readonly messages: number;
  /** Seconds from the start of the run to the last answer. */
  readonly seconds: number;
}

export interface AnswerSummary {
  readonly sent: number;
  /** Requests that got at least one response. */
  readonly answered: number;
  /** Requests answered only with provisional (1xx) responses. */
  readonly provisionalOnly: number;
  /** Requests that got no response at all. */
  readonly silent: number;
  /** Final status of each answered request, counted once per request. */
  readonly byStatus: Readonly<Record<string, number>>;
  /** Every response received, retransmissions and provisionals included. */
  readonly responses: number;
  /** Responses matching none of our requests, or that did not parse. */
  readonly unmatched: number;
  /** Set when the target answered, then stayed silent for the rest of the run. */
  readonly blockedAfter?: BlockedAfter;
}

export interface TallyOptions {
  /** How many unanswered requests after the last answer make a block; default max(3, 5 % of sent). */
  readonly minTrailingSilence?: number;
}

export class Tally {
  readonly #capacity: number;
  /** Final status per request; 1 marks "a provisional only", 0 nothing yet. */
  readonly #status: Uint16Array;
  #sent = 0;
  #responses = 0;
  #unmatched = 0;
  #lastAnswered = -1;
  #lastAnswerAt = 0;
  readonly #startedAt: number;

  constructor(capacity: number, startedAt = performance.now()) {
    this.#capacity = capacity;
    this.#status = new Uint16Array(capacity);
    this.#startedAt = startedAt;
  }

  get sent(): number {
    return this.#sent;
  }

  /** Records that request number `seq` (0-based) left. */
  sentOne(seq: number): void {
    if (seq + 1 > this.#sent) this.#sent = Math.min(seq + 1, this.#capacity);
  }

  /** Records a response to request `seq`; undefined or out of range: an unmatched response. */
  answer(seq: number | undefined, status: number, now = performance.now()): void {
    this.#responses++;
    if (seq === undefined || seq < 0 || seq >= this.#sent) {
      this.#unmatched++;
      return;
    }
    const previous = this.#status[seq]!;
    if (status >= 200) this.#status[seq] = status;
    else if (previous === 0) this.#status[seq] = 1;
    if (seq > this.#lastAnswered) this.#lastAnswered = seq;
    this.#lastAnswerAt = now;
  }

  /** A datagram that was no SIP response we could read. */
  unreadable(): void {
    this.#responses++;
    this.#unmatched++;
  }

  /** True when request `seq` has any answer. */
  answeredOne(seq: number): boolean {
    return seq >= 0 && seq < this.#capacity && this.#status[seq] !== 0;
  }

  statusOf(seq: number): number {
    return seq >= 0 && seq < this.#capacity ? this.#status[seq]! : 0;
  }

  summary(options: TallyOptions = {}): AnswerSummary {
    const byStatus: Record<string, number> = {};
    let answered = 0;
    let provisionalOnly = 0;
    for (let i = 0; i < this.#sent; i++) {
      const status = this.#status[i]!;
      if (status === 0) continue;
      answered++;
      if (status === 1) provisionalOnly++;
      else byStatus[status] = (byStatus[status] ?? 0) + 1;
    }
    const trailing = this.#sent - 1 - this.#lastAnswered;
    const minTrailing = options.minTrailingSilence ?? Math.max(3, Math.ceil(this.#sent * 0.05));
    const blocked = answered > 0 && trailing >= minTrailing;
    return {
      sent: this.#sent,
      answered,
      provisionalOnly,
      silent: this.#sent - answered,
      byStatus,
      responses: this.#responses,
      unmatched: this.#unmatched,
      ...(blocked
        ? {
            blockedAfter: {
              messages: this.#lastAnswered + 1,
              seconds: round((this.#lastAnswerAt - this.#startedAt) / 1000),
            },
          }
        : {}),
    };
  }
}

export function round(value: number, digits = 2): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/**
 * The sequence number in a branch we wrote as `z9hG4bK<marker><seq>` (or any prefix ending
 * in `-<seq>`); undefined when the branch is not one of ours.
 */
export function seqFromBranch(branch: string | undefined, prefix: string): number | undefined {
  if (branch === undefined || !branch.startsWith(prefix)) return undefined;
  const rest = branch.slice(prefix.length);
  if (!/^\d{1,9}$/.test(rest)) return undefined;
  return Number(rest);
}

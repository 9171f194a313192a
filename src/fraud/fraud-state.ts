/**
 * What the fraud stage remembers, all of it bounded: per caller identity, the counters of
 * each fraud rule (calls per minute, total calls in the period, concurrent calls), the
 * sequential calls to one rule's prefix, the minutes of expensive calls in the last hour,
 * and the destination groups it called lately; per call in progress, who made it, under
 * which rule, and when it was answered (to learn its duration from its BYE).
 *
 * Identities are capped (the least recently seen is forgotten) and so are calls (the oldest
 * is forgotten; an unanswered call is forgotten after PENDING_MS, an answered one after the
 * maximum session length), so that made-up From users cannot grow memory.
 */
import { BoundedMap } from './bounded-map.ts';
import { WindowCounter } from './window-counter.ts';

/** An INVITE not answered within this is forgotten (Timer C is 3 minutes, RFC 3261 16.6 item 11). */
export const PENDING_MS = 10 * 60_000;
const SWEEP_EVERY_MS = 5_000;
const MINUTE = 60_000;

export interface RuleCounters {
  readonly perMinute: WindowCounter;
  /** The total-calls period (time / periodMs) the total belongs to. */
  period: number;
  total: number;
  concurrent: number;
}

export interface IdentityRecord {
  readonly rules: Map<string, RuleCounters>;
  /** The rule of the identity's last call, and how many calls in a row went to it. */
  lastRule: string | undefined;
  sequential: number;
  /** Seconds of ended calls to expensive destinations, per minute over the last hour. */
  readonly spend: WindowCounter;
  /** Answered calls in progress to expensive destinations: Call-ID to answer time. */
  readonly expensiveOpen: Map<string, number>;
  /** Destination group to when it was last called (least recently called first). */
  readonly known: Map<string, number>;
  /** When each new group was first called, oldest first. */
  readonly newGroups: number[];
}

export interface TrackedCall {
  readonly identity: string;
  /** False when the identity is the unverified From user. */
  readonly verified: boolean;
  readonly rule: string | undefined;
  readonly expensive: boolean;
  readonly startedAt: number;
  answeredAt: number | undefined;
}

/** An ended call: how long it lasted once answered (0 when never answered). */
export interface EndedCall extends TrackedCall {
  readonly seconds: number;
}

export interface FraudStateOptions {
  readonly maxIdentities: number;
  readonly maxCalls: number;
  readonly maxCallMs: number;
  readonly totalCallsPeriodMs: number;
}

export class FraudState {
  readonly #identities: BoundedMap<string, IdentityRecord>;
  readonly #calls: BoundedMap<string, TrackedCall>;
  readonly #options: FraudStateOptions;
  #lastSweep = 0;

  constructor(options: FraudStateOptions) {
    this.#options = options;
    this.#identities = new BoundedMap(options.maxIdentities);
    // A call forgotten to stay within the cap no longer counts as concurrent.
    this.#calls = new BoundedMap(options.maxCalls, (callId, call) => this.#release(callId, call));
  }

  identity(key: string): IdentityRecord {
    return this.#identities.obtain(key, () => ({
      rules: new Map(),
      lastRule: undefined,
      sequential: 0,
      spend: new WindowCounter(60, MINUTE),
      expensiveOpen: new Map(),
      known: new Map(),
      newGroups: [],
    }));
  }

  counters(record: IdentityRecord, rule: string, now: number): RuleCounters {
    let counters = record.rules.get(rule);
    if (counters === undefined) {
      counters = { perMinute: new WindowCounter(60, 1000), period: 0, total: 0, concurrent: 0 };
      record.rules.set(rule, counters);
    }
    const period = Math.floor(now / this.#options.totalCallsPeriodMs);
    if (period !== counters.period) {
      counters.period = period;
      counters.total = 0;
    }
    return counters;
  }

  /** Counts a call attempt under `rule`: per minute, in the period, and in a row. */
  countAttempt(record: IdentityRecord, rule: string, now: number): RuleCounters {
    const counters = this.counters(record, rule, now);
    counters.perMinute.add(now);
    counters.total++;
    record.sequential = record.lastRule === rule ? record.sequential + 1 : 1;
    record.lastRule = rule;
    return counters;
  }

  /** Takes an attempt back (the upstream challenged it: it comes again with credentials). */
  uncountAttempt(identity: string, rule: string, now: number): void {
    const record = this.identity(identity);
    const counters = this.counters(record, rule, now);
    counters.perMinute.add(now, -1);
    counters.total = Math.max(0, counters.total - 1);
    if (record.lastRule === rule) record.sequential = Math.max(0, record.sequential - 1);
  }

  /** Follows a call admitted: it counts as concurrent until it ends. */
  track(callId: string, call: Omit<TrackedCall, 'answeredAt'>, now: number): void {
    this.sweep(now);
    if (this.#calls.get(callId) !== undefined) return;
    this.#calls.obtain(callId, () => ({ ...call, answeredAt: undefined }));
    if (call.rule !== undefined) this.counters(this.identity(call.identity), call.rule, now).concurrent++;
  }

  call(callId: string): TrackedCall | undefined {
    return this.#calls.get(callId);
  }

  answered(callId: string, now: number): void {
    const call = this.#calls.get(callId);
    if (call === undefined || call.answeredAt !== undefined) return;
    call.answeredAt = now;
    if (call.expensive) this.identity(call.identity).expensiveOpen.set(callId, now);
  }

  /** The call ended (BYE, or a failure answer); its duration is added to the spend when expensive. */
  end(callId: string, now: number): EndedCall | undefined {
    const call = this.#calls.get(callId);
    if (call === undefined) return undefined;
    this.#calls.delete(callId);
    this.#release(callId, call);
    const seconds = call.answeredAt === undefined ? 0 : Math.max(0, (now - call.answeredAt) / 1000);
    if (call.expensive && seconds > 0) this.identity(call.identity).spend.add(now, seconds);
    return { ...call, seconds };
  }

  /** Minutes to expensive destinations in the last hour: ended calls, and answered calls still going on. */
  spendMinutes(record: IdentityRecord, now: number): number {
    let seconds = record.spend.total(now);
    for (const answeredAt of record.expensiveOpen.values()) seconds += Math.max(0, (now - answeredAt) / 1000);
    return seconds / 60;
  }

  /**
   * Records a call to destination `group`; returns how many groups new to the identity it
   * called within `windowMs` (this one included) when this one is new, 0 when it is known.
   * A group is known when called within `knownForMs`; at most `maxKnown` are remembered.
   */
  noteDestination(
    record: IdentityRecord,
    group: string,
    now: number,
    windowMs: number,
    knownForMs: number,
    maxKnown: number,
  ): number {
    const last = record.known.get(group);
    const isNew = last === undefined || now - last > knownForMs;
    record.known.delete(group);
    record.known.set(group, now);
    if (record.known.size > maxKnown) {
      const oldest = record.known.keys().next().value;
      if (oldest !== undefined) record.known.delete(oldest);
    }
    const fresh = record.newGroups;
    if (isNew) fresh.push(now);
    while (fresh.length > 0 && (now - fresh[0]! > windowMs || fresh.length > maxKnown)) fresh.shift();
    return isNew ? fresh.length : 0;
  }

  /** Forgets calls unanswered for PENDING_MS, or answered longer ago than the maximum session length. */
  sweep(now: number): void {
    if (now - this.#lastSweep < SWEEP_EVERY_MS) return;
    this.#lastSweep = now;
    const expired: string[] = [];
    for (const [callId, call] of this.#calls.entries()) {
      const until =
        call.answeredAt === undefined
          ? call.startedAt + PENDING_MS
          : call.answeredAt + this.#options.maxCallMs;
      if (until < now) expired.push(callId);
    }
    for (const callId of expired) this.end(callId, now);
  }

  stats(): { identities: number; calls: number; identityEvictions: number; callEvictions: number } {
    return {
      identities: this.#identities.size,
      calls: this.#calls.size,
      identityEvictions: this.#identities.evictions,
      callEvictions: this.#calls.evictions,
    };
  }

  #release(callId: string, call: TrackedCall): void {
    const record = this.#identities.get(call.identity);
    if (record === undefined) return;
    record.expensiveOpen.delete(callId);
    if (call.rule === undefined) return;
    const counters = record.rules.get(call.rule);
    if (counters !== undefined) counters.concurrent = Math.max(0, counters.concurrent - 1);
  }
}

/**
 * The event bus: stages emit on the hot path, sinks receive batches off it.
 *
 * Aggregation. Occurrences with the same (type, rule or else stage, key or else source
 * address) within `windowMs` of the first one become one aggregate with a count, so a flood
 * of a million messages is one event, not a million rows. The window is fixed from the
 * first occurrence; the first occurrence after it opens the next aggregate.
 *
 * Reports. `flush(now)` (every second once `start()` is called) hands sinks:
 *  (a) every aggregate opened since the last flush, with its count so far, so that an
 *      operator sees an attack within a second rather than after the whole window; and
 *  (b) every aggregate whose window has closed, with its final count and `final: true`,
 *      unless nothing happened since (a) reported it, which then was its final word.
 * Both reports of one aggregate carry the same `aggregateId`: a store upserts on it and
 * ends with one row per (type, rule, key, window) holding the final count and last time.
 *
 * Bounds. At most `maxAggregates` aggregates are open. When the table is full, occurrences
 * of further distinct keys are counted into one overflow aggregate per event type (key
 * `overflow`), so that nothing is silently lost and memory stays bounded however many
 * sources an attacker makes up. Closed aggregates awaiting the next flush are bounded the
 * same way: past that an expired aggregate keeps counting (its window stretches) rather
 * than opening another. Keys, reasons and details are cut to fixed lengths and made
 * printable once, when an aggregate opens.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '../log/logger.ts';
import { silentLogger } from '../log/logger.ts';
import type {
  EventAction,
  EventEmitter,
  EventInput,
  EventSink,
  EventSource,
  EventType,
  SecurityEvent,
} from './types.ts';

export interface EventBusOptions {
  /** Occurrences within this many ms of an aggregate's first one join it. */
  readonly windowMs: number;
  /** Open aggregates at most; further distinct keys go to the overflow aggregate of their type. */
  readonly maxAggregates?: number;
  /** How often `start()` flushes. */
  readonly flushIntervalMs?: number;
  /** The clock of the flush timer and of `stop()`. */
  readonly clock?: () => number;
  readonly log?: Logger;
  /**
   * Called on every occurrence (for counters): must be O(1) and must not throw. It gets the
   * occurrence's event, or for one counted by `bump` (which has no event built), the event
   * of the aggregate it joined with the occurrence's action.
   */
  readonly onEmit?: (event: EventInput) => void;
}

export interface EventBusStats {
  readonly open: number;
  readonly maxAggregates: number;
  /** Occurrences emitted since start. */
  readonly emitted: number;
  /** Occurrences counted into an overflow aggregate because the table was full. */
  readonly overflowed: number;
  /** Events handed to sinks. */
  readonly reported: number;
  /** Exceptions thrown by sinks (which must not throw), caught and logged. */
  readonly sinkErrors: number;
}

export const DEFAULT_MAX_AGGREGATES = 10_000;
const DEFAULT_FLUSH_INTERVAL_MS = 1000;
const MAX_KEY_LENGTH = 256;
const MAX_REASON_LENGTH = 512;
const MAX_NAME_LENGTH = 64;
const MAX_DETAILS = 16;
const MAX_DETAIL_VALUE_LENGTH = 256;
export const OVERFLOW_KEY = 'overflow';

interface Aggregate {
  readonly aggregateId: string;
  /** The first occurrence, cut to bounds and made printable. */
  readonly event: EventInput;
  readonly firstSeen: number;
  lastSeen: number;
  count: number;
  /** The count last reported to sinks; 0 before the first report. */
  reported: number;
  /** `event` with another action, for `onEmit` when `bump` counts one: made once, kept. */
  otherAction: EventInput | undefined;
}

export class EventBus implements EventEmitter {
  readonly #windowMs: number;
  readonly #maxAggregates: number;
  readonly #flushIntervalMs: number;
  readonly #clock: () => number;
  readonly #log: Logger;
  readonly #onEmit: ((event: EventInput) => void) | undefined;
  /**
   * Open aggregates by type, then rule (or stage), then key: three lookups of strings whose
   * hashes V8 has cached, rather than one of a key concatenated (and hashed) per emit.
   */
  readonly #open = new Map<string, Map<string, Map<string, Aggregate>>>();
  #openCount = 0;
  readonly #overflow = new Map<EventType, Aggregate>();
  /** Aggregates whose window closed at an emit, awaiting the next flush. */
  #closed: Aggregate[] = [];
  readonly #sinks = new Set<EventSink>();
  readonly #idPrefix = `${randomBytes(4).toString('hex')}-`;
  #nextId = 1;
  #timer: NodeJS.Timeout | undefined;
  #emitted = 0;
  #overflowed = 0;
  #reportedEvents = 0;
  #sinkErrors = 0;

  constructor(options: EventBusOptions) {
    if (!(Number.isInteger(options.windowMs) && options.windowMs > 0)) {
      throw new RangeError('EventBus: windowMs must be a positive integer');
    }
    this.#windowMs = options.windowMs;
    this.#maxAggregates = Math.max(1, options.maxAggregates ?? DEFAULT_MAX_AGGREGATES);
    this.#flushIntervalMs = options.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS;
    this.#clock = options.clock ?? Date.now;
    this.#log = options.log ?? silentLogger;
    this.#onEmit = options.onEmit;
  }

  /** Hot path: three map lookups and a counter bump for an occurrence of an open aggregate. */
  emit(event: EventInput, now: number): void {
    this.#emitted++;
    this.#onEmit?.(event);
    const rawKey = event.key ?? event.source?.address ?? '';
    const key = rawKey.length > MAX_KEY_LENGTH ? rawKey.slice(0, MAX_KEY_LENGTH) : rawKey;
    const byKey = this.#byKey(event.type, event.rule ?? event.stage);
    const open = byKey.get(key);
    if (open !== undefined) {
      if (now - open.firstSeen < this.#windowMs || this.#closed.length >= this.#maxAggregates) {
        bump(open, now);
        return;
      }
      // Its window is over: it is reported final at the next flush; this one opens the next.
      this.#closed.push(open);
    } else if (this.#openCount >= this.#maxAggregates) {
      this.#countOverflow(event, now);
      return;
    } else {
      this.#openCount++;
    }
    byKey.set(key, this.#newAggregate(cleanEvent(event), now));
  }

  /**
   * Counts an occurrence into its open aggregate without its event (see EventEmitter.bump):
   * the same lookups as `emit`, and nothing to build, cut or clean.
   */
  bump(type: EventType, rule: string, rawKey: string, action: EventAction, now: number): boolean {
    const byKey = this.#open.get(type)?.get(rule);
    if (byKey === undefined) return false;
    const open = byKey.get(rawKey.length > MAX_KEY_LENGTH ? rawKey.slice(0, MAX_KEY_LENGTH) : rawKey);
    if (open === undefined) return false;
    // As in emit: past its window the occurrence opens the next aggregate, which takes its event.
    if (now - open.firstSeen >= this.#windowMs && this.#closed.length < this.#maxAggregates) return false;
    this.#emitted++;
    if (this.#onEmit !== undefined) {
      let event = open.event;
      if (event.action !== action) {
        if (open.otherAction?.action !== action) open.otherAction = { ...event, action };
        event = open.otherAction;
      }
      this.#onEmit(event);
    }
    bump(open, now);
    return true;
  }

  /** Registers a sink; returns the function that removes it. */
  subscribe(sink: EventSink): () => void {
    this.#sinks.add(sink);
    return () => {
      this.#sinks.delete(sink);
    };
  }

  /**
   * Reports new aggregates and closes those whose window has passed (all of them when
   * `closeAll`), handing one batch to every sink. Returns the batch.
   */
  flush(now: number, closeAll = false): readonly SecurityEvent[] {
    const batch: SecurityEvent[] = [];
    for (const aggregate of this.#closed) reportFinal(aggregate, batch);
    this.#closed = [];
    for (const [type, byRule] of this.#open) {
      for (const [rule, byKey] of byRule) {
        this.#openCount -= this.#sweep(byKey, now, closeAll, batch);
        if (byKey.size === 0) byRule.delete(rule);
      }
      if (byRule.size === 0) this.#open.delete(type);
    }
    this.#sweep(this.#overflow, now, closeAll, batch);
    if (batch.length > 0) this.#deliver(batch);
    return batch;
  }

  /** Reports and removes the aggregates of one table that closed; returns how many. */
  #sweep<K>(table: Map<K, Aggregate>, now: number, closeAll: boolean, batch: SecurityEvent[]): number {
    let closed = 0;
    for (const [key, aggregate] of table) {
      if (closeAll || now - aggregate.firstSeen >= this.#windowMs) {
        table.delete(key);
        closed++;
        reportFinal(aggregate, batch);
      } else if (aggregate.reported === 0) {
        aggregate.reported = aggregate.count;
        batch.push(toSecurityEvent(aggregate, false));
      }
    }
    return closed;
  }

  #byKey(type: string, rule: string): Map<string, Aggregate> {
    let byRule = this.#open.get(type);
    if (byRule === undefined) {
      byRule = new Map();
      this.#open.set(type, byRule);
    }
    let byKey = byRule.get(rule);
    if (byKey === undefined) {
      byKey = new Map();
      byRule.set(rule, byKey);
    }
    return byKey;
  }

  /** Flushes every `flushIntervalMs` on a timer that does not keep the process alive. */
  start(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => this.flush(this.#clock()), this.#flushIntervalMs);
    this.#timer.unref();
  }

  /** Stops the timer and reports every open aggregate as final. */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.flush(this.#clock(), true);
  }

  stats(): EventBusStats {
    return {
      open: this.#openCount + this.#overflow.size,
      maxAggregates: this.#maxAggregates,
      emitted: this.#emitted,
      overflowed: this.#overflowed,
      reported: this.#reportedEvents,
      sinkErrors: this.#sinkErrors,
    };
  }

  #newAggregate(event: EventInput, now: number): Aggregate {
    return {
      aggregateId: this.#idPrefix + (this.#nextId++).toString(36),
      event,
      firstSeen: now,
      lastSeen: now,
      count: 1,
      reported: 0,
      otherAction: undefined,
    };
  }

  #countOverflow(event: EventInput, now: number): void {
    this.#overflowed++;
    const current = this.#overflow.get(event.type);
    if (current !== undefined) {
      bump(current, now);
      return;
    }
    const overflow: EventInput = {
      type: event.type,
      stage: 'events',
      rule: OVERFLOW_KEY,
      action: event.action,
      key: OVERFLOW_KEY,
      reason: `more distinct keys than the event table holds (${this.#maxAggregates}): counted together`,
    };
    this.#overflow.set(event.type, this.#newAggregate(overflow, now));
  }

  #deliver(batch: readonly SecurityEvent[]): void {
    this.#reportedEvents += batch.length;
    for (const sink of this.#sinks) {
      try {
        sink.write(batch);
      } catch (error) {
        this.#sinkErrors++;
        this.#log.error({ err: error }, 'event sink failed on a batch');
      }
    }
  }
}

function bump(aggregate: Aggregate, now: number): void {
  aggregate.count++;
  if (now > aggregate.lastSeen) aggregate.lastSeen = now;
}

/** Adds an aggregate's final report unless its open report already said everything. */
function reportFinal(aggregate: Aggregate, batch: SecurityEvent[]): void {
  if (aggregate.reported === aggregate.count) return;
  aggregate.reported = aggregate.count;
  batch.push(toSecurityEvent(aggregate, true));
}

function toSecurityEvent(aggregate: Aggregate, final: boolean): SecurityEvent {
  return {
    ...aggregate.event,
    aggregateId: aggregate.aggregateId,
    firstSeen: aggregate.firstSeen,
    lastSeen: aggregate.lastSeen,
    count: aggregate.count,
    final,
  };
}

const UNPRINTABLE = /[^\x20-\x7e]/g;

/** Printable ASCII, at most `max` characters: what a log line or a terminal may show. */
export function printable(text: string, max: number): string {
  const cut = text.length > max ? `${text.slice(0, max - 3)}...` : text;
  UNPRINTABLE.lastIndex = 0;
  return UNPRINTABLE.test(cut) ? cut.replace(UNPRINTABLE, '?') : cut;
}

/** A bounded, printable copy of an occurrence: made once per aggregate, not per emit. */
function cleanEvent(event: EventInput): EventInput {
  const source: EventSource | undefined = event.source && {
    address: printable(event.source.address, MAX_NAME_LENGTH),
    port: event.source.port,
    transport: printable(event.source.transport, 8),
  };
  let details: Record<string, string | number> | undefined;
  if (event.details !== undefined) {
    details = {};
    let kept = 0;
    for (const [name, value] of Object.entries(event.details)) {
      if (kept++ >= MAX_DETAILS) break;
      details[printable(name, MAX_NAME_LENGTH)] =
        typeof value === 'number' ? value : printable(String(value), MAX_DETAIL_VALUE_LENGTH);
    }
  }
  return {
    type: event.type,
    stage: printable(event.stage, MAX_NAME_LENGTH),
    ...(event.rule === undefined ? {} : { rule: printable(event.rule, MAX_NAME_LENGTH) }),
    action: event.action,
    ...(source === undefined ? {} : { source }),
    ...(event.key === undefined ? {} : { key: printable(event.key, MAX_KEY_LENGTH) }),
    reason: printable(event.reason, MAX_REASON_LENGTH),
    ...(event.status === undefined ? {} : { status: event.status }),
    ...(details === undefined ? {} : { details }),
  };
}

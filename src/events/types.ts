/**
 * One typed stream of security events: every decision that is not a plain pass. Sinks
 * (structured log, SQLite store, metrics, later syslog/CEF and webhooks) subscribe to it.
 */

export const EVENT_TYPES = [
  'malformed',
  'invalid',
  'flood',
  'scanner',
  'enumeration',
  'password-guessing',
  'blocked',
  'block',
  'unblock',
  'dialog',
  'transaction',
  'overload',
  'policy',
  'authentication',
  'fraud',
  /** The shared state's link (state.backend redis): Redis lost, Redis back and resynchronised. */
  'cluster',
  /** Content scanning: infected, not scannable, or the scan failed (src/security/stages/content.ts). */
  'content',
  /** Kernel drop (kernelDrop): nft failed; blocks are enforced in user space meanwhile. */
  'kernel-drop',
  /** Several upstreams: an endpoint marked down (pings missed, timeouts, 503) or up again. */
  'upstream',
  /** The media relay (src/media): RTP injected, not negotiated, or flooding; a stream refused. */
  'media',
  /** NAT traversal (src/core/route/nat): a registered phone's flow died, a request for it got 430. */
  'nat',
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

export const EVENT_ACTIONS = ['alert', 'reject', 'drop', 'block', 'tarpit', 'unblock'] as const;

export type EventAction = (typeof EVENT_ACTIONS)[number];

export interface EventSource {
  readonly address: string;
  readonly port: number;
  readonly transport: string;
}

/** What a stage reports. */
export interface EventInput {
  readonly type: EventType;
  /** The pipeline stage (`gate`, `validate`, `detect:flood`...) or `admin`. */
  readonly stage: string;
  /** The rule that decided, when a configured rule did. */
  readonly rule?: string;
  readonly action: EventAction;
  readonly source?: EventSource;
  /** The key the rule counted on (`src:203.0.113.7`, `to-user:100`...). */
  readonly key?: string;
  /** Why, in words an operator reads: ASCII, bounded, never raw attacker bytes. */
  readonly reason: string;
  /** SIP status answered, when one was. */
  readonly status?: number;
  /** Small details: counters and thresholds that explain the decision. */
  readonly details?: Readonly<Record<string, string | number>>;
}

/** An event as stored and served: aggregated over a window. */
export interface SecurityEvent extends EventInput {
  readonly id?: number;
  /** Epoch ms of the first and last occurrence aggregated in this event. */
  readonly firstSeen: number;
  readonly lastSeen: number;
  /** How many occurrences this event stands for. */
  readonly count: number;
  /**
   * Names one aggregate across its reports: the bus reports an aggregate when it opens (the
   * count so far) and again when its window closes (the final count), with the same id, so
   * that a store keeps one row per aggregate by upserting on it.
   */
  readonly aggregateId?: string;
  /** True on an aggregate's last report: its window has closed and `count` is final. */
  readonly final?: boolean;
}

export interface EventSink {
  /** Receives a batch off the hot path. Must not throw. */
  write(events: readonly SecurityEvent[]): void;
  close?(): void | Promise<void>;
}

export interface EventEmitter {
  /** Hot path: O(1), allocation-light; aggregates per (type, rule, key) per window. */
  emit(event: EventInput, now: number): void;
  /**
   * The hot path's shortcut, where an emitter aggregates: counts one occurrence of (type,
   * rule or else stage, key or else source address) with `action` into its aggregate when
   * one is open in its window, and returns true, so that the caller need not build the
   * event; returns false, counting nothing, when the caller must `emit` the event.
   */
  bump?(type: EventType, rule: string, key: string, action: EventAction, now: number): boolean;
}

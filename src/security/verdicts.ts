/**
 * Turns a rule's action into the verdict the pipeline carries out, with its event. The
 * stages decide; the runner acts (adds the block, answers, drops, holds the message).
 */
import type { EventAction, EventInput, EventType } from '../events/types.ts';
import { reasonPhrase } from '../sip/response.ts';
import type { Flow } from '../transport/types.ts';
import { networkText } from './attributes.ts';
import { sourceOf } from './event-input.ts';
import type { ActionSpec } from './rule-schema.ts';
import type { StageVerdict } from './stage.ts';

/** What a block lasts when a rule says `block` without a duration. */
export const DEFAULT_BLOCK_MS = 10 * 60 * 1000;

export interface Decision {
  readonly type: EventType;
  /** `detect:<stage>`. */
  readonly stage: string;
  readonly rule: string;
  /** The key the rule counted on: shown in the event, and blocked by a `key`-scope block. */
  readonly key: string;
  /** Why, for the operator: ASCII, no raw message bytes. */
  readonly reason: string;
  /** Counters and thresholds; owned by this decision (a block adds its scope, key and period). */
  readonly details: Record<string, string | number>;
  /** The status of a `reject` (or a `tarpit`'s late answer) when the rule names none. */
  readonly defaultStatus: number;
}

/**
 * The event of a decision. Built field by field, not by spreading: under a distributed
 * flood an alerting rule builds one per message, so it must cost little.
 */
function event(flow: Flow, d: Decision, action: EventAction, status?: number): EventInput {
  return status === undefined
    ? {
        type: d.type,
        stage: d.stage,
        rule: d.rule,
        action,
        source: sourceOf(flow),
        key: d.key,
        reason: d.reason,
        details: d.details,
      }
    : {
        type: d.type,
        stage: d.stage,
        rule: d.rule,
        action,
        source: sourceOf(flow),
        key: d.key,
        reason: d.reason,
        status,
        details: d.details,
      };
}

/**
 * Builds the verdict of `spec` for a message from `flow`. A block adds what it blocks, and
 * for how long, to `d.details` (which the caller built for this decision alone).
 */
export function verdictFor(spec: ActionSpec, flow: Flow, d: Decision): StageVerdict {
  switch (spec.action) {
    case 'alert':
      return { action: 'alert', event: event(flow, d, 'alert') };
    case 'drop':
      return { action: 'drop', event: event(flow, d, 'drop') };
    case 'tarpit': {
      const status = spec.status ?? d.defaultStatus;
      return {
        action: 'tarpit',
        delayMs: spec.tarpitMs,
        status,
        reason: reasonPhrase(status),
        event: event(flow, d, 'tarpit', status),
      };
    }
    case 'reject': {
      const status = spec.status ?? d.defaultStatus;
      return {
        action: 'reject',
        status,
        reason: reasonPhrase(status),
        event: event(flow, d, 'reject', status),
      };
    }
    case 'block': {
      const scope = spec.block?.scope ?? 'address';
      const key =
        scope === 'address'
          ? flow.remoteAddress
          : scope === 'network'
            ? networkText(flow.remoteAddress)
            : d.key;
      const durationMs = spec.block?.durationMs ?? DEFAULT_BLOCK_MS;
      d.details.blockScope = scope;
      d.details.blockKey = key;
      d.details.blockMs = durationMs;
      const e = event(flow, d, 'block', spec.status);
      return spec.status === undefined
        ? { action: 'block', scope, key, durationMs, event: e }
        : { action: 'block', scope, key, durationMs, status: spec.status, event: e };
    }
  }
}

/** How strong a verdict is, to keep the strongest when several rules fire on one message. */
export function severity(verdict: StageVerdict): number {
  return actionSeverity(verdict.action);
}

/** The severity of a verdict with this action. */
export function actionSeverity(action: StageVerdict['action']): number {
  switch (action) {
    case 'pass':
      return 0;
    case 'alert':
      return 1;
    case 'tarpit':
      return 2;
    case 'reject':
    case 'answer':
    case 'drop':
      return 3;
    case 'block':
      return 4;
  }
}

/** True when the action falls on the message's source (a trusted source is spared by rules not keyed on it). */
export function actsOnSource(spec: ActionSpec): boolean {
  return spec.action !== 'alert' && !(spec.action === 'block' && spec.block?.scope === 'key');
}

/**
 * Turns a rule's action into the verdict the pipeline carries out, with its event. The
 * stages decide; the runner acts (adds the block, answers, drops, holds the message).
 */
import type { EventInput, EventType } from '../events/types.ts';
import { reasonPhrase } from '../sip/response.ts';
import type { Flow } from '../transport/types.ts';
import { networkText } from './attributes.ts';
import { eventFor } from './event-input.ts';
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
  readonly details: Readonly<Record<string, string | number>>;
  /** The status of a `reject` when the rule names none. */
  readonly defaultStatus: number;
}

/** Builds the verdict of `spec` for a message from `flow`. */
export function verdictFor(spec: ActionSpec, flow: Flow, d: Decision): StageVerdict {
  const base = {
    type: d.type,
    stage: d.stage,
    rule: d.rule,
    key: d.key,
    reason: d.reason,
    details: d.details,
  };
  switch (spec.action) {
    case 'alert':
      return { action: 'alert', event: eventFor(flow, { ...base, action: 'alert' }) };
    case 'drop':
      return { action: 'drop', event: eventFor(flow, { ...base, action: 'drop' }) };
    case 'tarpit':
      return {
        action: 'tarpit',
        delayMs: spec.tarpitMs,
        event: eventFor(flow, { ...base, action: 'tarpit' }),
      };
    case 'reject': {
      const status = spec.status ?? d.defaultStatus;
      return {
        action: 'reject',
        status,
        reason: reasonPhrase(status),
        event: eventFor(flow, { ...base, action: 'reject', status }),
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
      const event: EventInput = eventFor(flow, {
        ...base,
        action: 'block',
        details: { ...d.details, blockScope: scope, blockKey: key, blockMs: durationMs },
        ...(spec.status === undefined ? {} : { status: spec.status }),
      });
      return spec.status === undefined
        ? { action: 'block', scope, key, durationMs, event }
        : { action: 'block', scope, key, durationMs, status: spec.status, event };
    }
  }
}

/** How strong a verdict is, to keep the strongest when several rules fire on one message. */
export function severity(verdict: StageVerdict): number {
  switch (verdict.action) {
    case 'pass':
      return 0;
    case 'alert':
      return 1;
    case 'tarpit':
      return 2;
    case 'reject':
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

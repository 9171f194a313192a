import type { EventAction, EventInput, EventSource, EventType } from '../events/types.ts';
import type { Flow } from '../transport/types.ts';

/** The event's view of where a message came from. */
export function sourceOf(flow: Flow): EventSource {
  return { address: flow.remoteAddress, port: flow.remotePort, transport: flow.transport };
}

/**
 * Builds an event for a decision about a message from `flow`. It takes `fields` over (every
 * caller passes a fresh literal) and adds the source to it rather than copying it: an
 * allowlisted source over a threshold has one built for every message it sends.
 */
export function eventFor(
  flow: Flow,
  fields: {
    type: EventType;
    stage: string;
    action: EventAction;
    reason: string;
    rule?: string;
    key?: string;
    status?: number;
    details?: Readonly<Record<string, string | number>>;
    source?: EventSource;
  },
): EventInput {
  fields.source = sourceOf(flow);
  return fields;
}

/**
 * Writes each reported event as one structured log line: warn for decisions that refused
 * traffic (block, reject, drop, tarpit), info for alerts and unblocks. An aggregate is
 * logged when it opens (its count so far) and once more when it closes if it grew since.
 */
import type { Logger } from '../log/logger.ts';
import type { EventAction, EventSink, SecurityEvent } from './types.ts';

const WARN_ACTIONS: ReadonlySet<EventAction> = new Set(['block', 'reject', 'drop', 'tarpit']);

export function createLogSink(log: Logger): EventSink {
  return {
    write(events: readonly SecurityEvent[]): void {
      for (const event of events) {
        const context = {
          event: event.type,
          stage: event.stage,
          ...(event.rule === undefined ? {} : { rule: event.rule }),
          action: event.action,
          ...(event.source === undefined
            ? {}
            : { src: event.source.address, srcPort: event.source.port, transport: event.source.transport }),
          ...(event.key === undefined ? {} : { key: event.key }),
          ...(event.status === undefined ? {} : { status: event.status }),
          count: event.count,
          firstSeen: new Date(event.firstSeen).toISOString(),
          lastSeen: new Date(event.lastSeen).toISOString(),
          final: event.final === true,
          ...(event.aggregateId === undefined ? {} : { aggregateId: event.aggregateId }),
          ...(event.details === undefined ? {} : { details: event.details }),
        };
        if (WARN_ACTIONS.has(event.action)) log.warn(context, event.reason);
        else log.info(context, event.reason);
      }
    },
  };
}

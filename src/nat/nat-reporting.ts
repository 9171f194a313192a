import { Gauge, type Registry } from 'prom-client';
import type { NatChange, NatTraversal } from '../core/route/nat/nat-traversal.ts';
import type { EventEmitter } from '../events/types.ts';
import type { Logger } from '../log/logger.ts';
import { readCounter } from '../metrics/read-counter.ts';
import type { SendTarget } from '../transport/types.ts';

/**
 * What NAT traversal reports: a `nat` event and a log line for each flow that dies, each
 * request answered 430 because its flow is dead, and each unregistration's outcome; and
 * Prometheus readings of the flow table and keepalives, read at scrape time.
 */
export function reportNat(nat: NatTraversal, events: EventEmitter, registry: Registry, log: Logger): void {
  nat.onChange((change) => {
    events.emit(natEvent(change), Date.now());
    if (change.kind === 'flow-dead')
      log.info(
        { flow: where(change.target), cause: change.cause, bindings: change.bindings },
        'registered flow dead',
      );
    else if (change.kind === 'unregistered' && (change.status < 200 || change.status >= 300))
      log.warn({ aor: change.aor, status: change.status }, 'dead flow not unregistered at the registrar');
  });
  registerNatMetrics(registry, nat);
}

function where(target: SendTarget): string {
  return `${target.transport}:${target.address}:${target.port}`;
}

function natEvent(change: NatChange): Parameters<EventEmitter['emit']>[0] {
  const source = (target: SendTarget) => ({
    address: target.address,
    port: target.port,
    transport: target.transport,
  });
  switch (change.kind) {
    case 'flow-dead':
      return {
        type: 'nat',
        stage: 'route',
        rule: 'flow-dead',
        action: 'alert',
        source: source(change.target),
        key: `flow:${where(change.target)}`,
        reason:
          change.cause === 'closed'
            ? `registered flow ${where(change.target)} dead: its connection closed`
            : `registered flow ${where(change.target)} dead: keepalives unanswered`,
        details: { cause: change.cause, bindings: change.bindings },
      };
    case 'flow-failed':
      return {
        type: 'nat',
        stage: 'route',
        rule: 'flow-failed',
        action: 'reject',
        status: 430,
        source: source(change.target),
        key: `flow:${where(change.target)}`,
        reason: `${change.method} from the upstream for dead flow ${where(change.target)} answered 430`,
        details: { method: change.method },
      };
    case 'unregistered':
      return {
        type: 'nat',
        stage: 'route',
        rule: 'flow-unregistered',
        action: 'alert',
        key: `aor:${change.aor}`,
        reason:
          change.status >= 200 && change.status < 300
            ? `binding of ${change.aor} removed at the registrar (dead flow)`
            : `registrar did not remove the binding of ${change.aor} (status ${change.status || 'none'})`,
        ...(change.status === 0 ? {} : { status: change.status }),
        details: { status: change.status },
      };
  }
}

function registerNatMetrics(registry: Registry, nat: NatTraversal): void {
  const registers = [registry];
  new Gauge({
    name: 'sipwarden_nat_flows',
    help: 'flows of phones registered through sipwarden, by state',
    labelNames: ['state'] as const,
    registers,
    collect() {
      const dead = nat.table.deadCount;
      this.set({ state: 'alive' }, nat.table.size - dead);
      this.set({ state: 'dead' }, dead);
    },
  });
  const counter = (name: string, help: string, read: () => number): void =>
    readCounter(registry, name, help, read);
  counter(
    'sipwarden_nat_keepalives_sent_total',
    'OPTIONS keepalives sent to registered UDP flows',
    () => nat.keepalive?.pingsSent ?? 0,
  );
  counter(
    'sipwarden_nat_keepalives_missed_total',
    'OPTIONS keepalives unanswered',
    () => nat.keepalive?.misses ?? 0,
  );
  counter(
    'sipwarden_nat_flows_dead_total',
    'registered flows found dead (connection closed or keepalives missed)',
    () => nat.stats.flowsDead,
  );
  counter(
    'sipwarden_nat_flow_failed_total',
    'requests from the upstream for a dead flow, answered 430 Flow Failed',
    () => nat.stats.flowFailed,
  );
  counter(
    'sipwarden_nat_unregisters_sent_total',
    'REGISTERs with Expires: 0 sent for the bindings of dead flows',
    () => nat.stats.unregistersSent,
  );
  counter(
    'sipwarden_nat_unregisters_refused_total',
    'unregistrations the registrar refused or did not answer',
    () => nat.stats.unregistersRefused,
  );
  counter(
    'sipwarden_nat_flows_refused_total',
    'registered flows not tracked because the table was full',
    () => nat.table.stats.refused,
  );
}

import { Gauge, type Registry } from 'prom-client';
import type { UpstreamPool } from '../core/route/upstreams/upstream-pool.ts';
import type { FailoverSettings } from '../core/transaction/transaction-layer.ts';
import type { SipResolver } from '../dns/sip-resolver.ts';
import type { EventEmitter } from '../events/types.ts';
import type { Logger } from '../log/logger.ts';
import { readCounter } from '../metrics/read-counter.ts';

/** What the transaction layer reports of new requests' targets, turned into the pool's health. */
export function failoverSettings(pool: UpstreamPool, afterMs: number): FailoverSettings {
  return {
    afterMs,
    failed: (target, cause, retryAfterS) => {
      if (cause === 'timeout') pool.missed(target, 'request-timeout');
      else pool.unavailable(target, retryAfterS);
    },
    failedOver: () => pool.failedOver(),
  };
}

/** Every change of an endpoint's state: an event (type `upstream`) and a log line. */
export function reportUpstreamChanges(pool: UpstreamPool, events: EventEmitter, log: Logger): void {
  pool.onChange((change) => {
    const where = `${change.target.transport}:${change.target.address}:${change.target.port}`;
    const details: Record<string, string | number> = {
      upstream: change.upstream,
      target: where,
      cause: change.cause,
    };
    if (change.retryAfterS !== undefined) details.retryAfterS = change.retryAfterS;
    events.emit(
      {
        type: 'upstream',
        stage: 'route',
        rule: change.state === 'down' ? 'upstream-down' : 'upstream-up',
        action: 'alert',
        key: `upstream:${change.upstream}:${where}`,
        reason:
          change.state === 'down'
            ? `upstream ${change.upstream} (${where}) marked down: ${change.cause}`
            : `upstream ${change.upstream} (${where}) up again: ${change.cause}`,
        details,
      },
      Date.now(),
    );
    const line = { upstream: change.upstream, target: where, cause: change.cause };
    if (change.state === 'down') log.warn(line, 'upstream endpoint down');
    else log.info(line, 'upstream endpoint up');
  });
}

/** Prometheus readings of the upstreams and of DNS, read at scrape time. */
export function registerUpstreamMetrics(registry: Registry, pool: UpstreamPool, resolver: SipResolver): void {
  const registers = [registry];
  new Gauge({
    name: 'sipwarden_upstream_up',
    help: 'upstream endpoints: 1 when up, 0 when down',
    labelNames: ['upstream', 'target'] as const,
    registers,
    collect() {
      this.reset();
      for (const e of pool.endpoints) {
        const target = `${e.target.transport}:${e.target.address}:${e.target.port}`;
        this.set({ upstream: e.upstream, target }, e.state === 'up' ? 1 : 0);
      }
    },
  });
  const counter = (name: string, help: string, read: () => number): void =>
    readCounter(registry, name, help, read);
  counter(
    'sipwarden_upstream_state_changes_total',
    'upstream endpoints marked down or up',
    () => pool.stats.stateChanges,
  );
  counter(
    'sipwarden_upstream_failovers_total',
    'new requests sent on to another upstream endpoint after a timeout or a 503',
    () => pool.stats.failovers,
  );
  counter(
    'sipwarden_upstream_unavailable_total',
    'new requests refused (503) because no upstream endpoint of their route was up',
    () => pool.stats.unavailable,
  );
  counter('sipwarden_dns_queries_total', 'DNS queries sent', () => resolver.stats.queries);
  counter(
    'sipwarden_dns_failures_total',
    'DNS queries that failed or found nothing',
    () => resolver.stats.failures,
  );
  counter(
    'sipwarden_dns_cache_hits_total',
    'DNS answers taken from the cache',
    () => resolver.stats.cacheHits,
  );
  counter(
    'sipwarden_dns_refused_total',
    "DNS questions not asked: too many queries in flight, or over one resolution's budget",
    () => resolver.stats.refused,
  );
  counter(
    'sipwarden_dns_negative_hits_total',
    'DNS failures taken from the cache (negative caching)',
    () => resolver.stats.negativeHits,
  );
}

import { Counter, Gauge, type Registry } from 'prom-client';
import type { RegistrationCacheStats } from '../core/route/registration-cache.ts';
import { readCounter } from './read-counter.ts';

/**
 * Prometheus readings of registration caching, read at scrape time: REGISTERs answered from
 * the cache, those forwarded to the PBX by reason, and the registrations held.
 */
export function registerRegistrationCacheMetrics(
  registry: Registry,
  stats: RegistrationCacheStats,
  size: () => number,
): void {
  const registers = [registry];
  readCounter(
    registry,
    'sipwarden_registrations_cached_answers_total',
    'REGISTERs from phones answered by sipwarden from the PBX last 2xx (registration caching)',
    () => stats.answered,
  );
  new Counter({
    name: 'sipwarden_registrations_forwarded_total',
    help: 'REGISTERs from phones forwarded to the PBX while registration caching is on, by reason',
    labelNames: ['reason'] as const,
    registers,
    collect() {
      this.reset();
      for (const [reason, value] of Object.entries(stats.forwarded)) this.inc({ reason }, value);
    },
  });
  new Gauge({
    name: 'sipwarden_registrations_cached',
    help: 'registrations held by registration caching',
    registers,
    collect() {
      this.set(size());
    },
  });
}

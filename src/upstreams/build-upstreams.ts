import type { Registry } from 'prom-client';
import type { SipwardenConfig } from '../config/schema.ts';
import type { ProxySettings } from '../core/proxy.ts';
import { RouteTable } from '../core/route/upstreams/route-table.ts';
import { UpstreamPool } from '../core/route/upstreams/upstream-pool.ts';
import { UpstreamSelector } from '../core/route/upstreams/upstream-selector.ts';
import { type DnsSettings, SipResolver } from '../dns/sip-resolver.ts';
import type { EventEmitter } from '../events/types.ts';
import type { Logger } from '../log/logger.ts';
import type { SendTarget, TransportName } from '../transport/types.ts';
import { failoverSettings, registerUpstreamMetrics, reportUpstreamChanges } from './upstream-reporting.ts';

/** Several upstreams, built from the configuration and resolved, ready for the proxy. */
export interface BuiltUpstreams {
  readonly pool: UpstreamPool;
  readonly resolver: SipResolver;
  /** The first endpoint: where the proxy's single-upstream uses (addressing, session end) point. */
  readonly first: SendTarget;
  readonly settings: Pick<ProxySettings, 'upstreams' | 'healthPings' | 'failover'>;
  /** Events, metrics and the periodic re-resolution start. */
  start(events: EventEmitter, registry: Registry, log: Logger): void;
  close(): void;
}

/**
 * The `upstreams` of the configuration resolved (RFC 3263 on `dns.servers`); undefined when
 * the configuration has the single `upstream` only. Throws when no upstream resolves to any
 * endpoint: sipwarden would have nowhere to send a request.
 */
export async function buildUpstreams(config: SipwardenConfig): Promise<BuiltUpstreams | undefined> {
  if (config.upstreams === undefined) return undefined;
  const dns = config.dns;
  const dnsSettings: DnsSettings = {
    ...(dns.servers === undefined ? {} : { servers: dns.servers }),
    timeoutMs: dns.timeoutMs,
    tries: dns.tries,
    maxEntries: dns.maxEntries,
    minTtlS: dns.minTtlS,
    maxTtlS: dns.maxTtlS,
    negativeTtlS: dns.negativeTtlS,
    maxPending: dns.maxPending,
  };
  const resolver = new SipResolver(dnsSettings);
  // What sipwarden can send on: UDP and TCP always (it opens connections), TLS with a certificate.
  const transports: TransportName[] = config.tls === undefined ? ['udp', 'tcp'] : ['udp', 'tcp', 'tls'];
  const health = config.upstreamHealth;
  const pool = new UpstreamPool(
    config.upstreams.map((u) => ({
      name: u.name,
      host: u.host,
      ...(u.port === undefined ? {} : { port: u.port }),
      ...(u.transport === undefined ? {} : { transport: u.transport }),
      priority: u.priority,
      weight: u.weight,
      ...(u.sources === undefined ? {} : { sources: u.sources }),
    })),
    {
      enabled: health.enabled,
      downAfter: health.downAfter,
      upAfter: health.upAfter,
      maxRetryAfterS: health.maxRetryAfterS,
    },
    { transports },
  );
  await pool.resolve(resolver);
  const first = pool.endpoints[0]?.target;
  if (first === undefined) {
    resolver.close();
    throw new Error(
      `upstreams: no upstream resolved to an address (${config.upstreams.map((u) => u.host).join(', ')})`,
    );
  }
  let refresh: NodeJS.Timeout | undefined;
  return {
    pool,
    resolver,
    first,
    settings: {
      upstreams: new UpstreamSelector(pool, new RouteTable(config.upstreamRoutes ?? [])),
      healthPings: { intervalMs: health.intervalMs, timeoutMs: health.timeoutMs },
      failover: failoverSettings(pool, health.failoverAfterMs),
    },
    start(events, registry, log) {
      reportUpstreamChanges(pool, events, log);
      registerUpstreamMetrics(registry, pool, resolver);
      refresh = setInterval(() => {
        pool
          .resolve(resolver)
          .catch((error: unknown) => log.warn({ err: error }, 'upstream resolution failed'));
      }, health.refreshMs);
      refresh.unref();
    },
    close() {
      clearInterval(refresh);
      resolver.close();
    },
  };
}

import type { Flow, SendTarget, TransportName } from '../../../transport/types.ts';
import { orderSrv } from '../../../util/weighted-order.ts';

/** What resolves an upstream's host (src/dns/sip-resolver.ts, RFC 3263). */
export interface TargetResolver {
  resolve(
    host: string,
    options: { port?: number; transport?: TransportName; transports: readonly TransportName[] },
  ): Promise<SendTarget[]>;
}

/** One upstream as configured. */
export interface UpstreamDefinition {
  readonly name: string;
  /** An address, or a name resolved by RFC 3263 (NAPTR, SRV, A/AAAA) on the configured DNS servers. */
  readonly host: string;
  readonly port?: number;
  readonly transport?: TransportName;
  /** Lower first; the next priority only when every upstream of this one is down. */
  readonly priority: number;
  /** Share of the new requests among the upstreams of one priority. */
  readonly weight: number;
  /** Further addresses it sends requests from. */
  readonly sources?: readonly string[];
}

export interface HealthSettings {
  /** OPTIONS pings and passive marking on; off, every endpoint stays up (except for a 503's Retry-After). */
  readonly enabled: boolean;
  /** Consecutive misses (pings unanswered, requests timed out) that mark an endpoint down. */
  readonly downAfter: number;
  /** Consecutive answers to pings that mark a down endpoint up again. */
  readonly upAfter: number;
  /** A 503's Retry-After is honoured up to this many seconds. */
  readonly maxRetryAfterS: number;
}

export type EndpointState = 'up' | 'down';

/** An address an upstream resolved to, with its health. */
export interface Endpoint {
  readonly upstream: string;
  readonly priority: number;
  readonly weight: number;
  readonly target: SendTarget;
  state: EndpointState;
  misses: number;
  answers: number;
  /** A 503 asked us to wait until then (ms since the epoch). */
  retryAfterUntil: number;
}

export interface EndpointChange {
  readonly upstream: string;
  readonly target: SendTarget;
  readonly state: EndpointState;
  /** Why: `ping-timeout`, `request-timeout`, `503`, `ping-answered`, `retry-after-over`, `resolved`... */
  readonly cause: string;
  readonly retryAfterS?: number;
}

export interface PoolStats {
  failovers: number;
  stateChanges: number;
  /** New requests refused because no upstream of their route was up. */
  unavailable: number;
}

/** Endpoints a request may try at most: the first and its failovers. */
export const MAX_ATTEMPTS = 4;

function keyOf(target: SendTarget): string {
  return `${target.transport}|${target.address}|${target.port}`;
}

/**
 * The upstreams: their resolved endpoints, each endpoint's health, the choice of the
 * endpoints a new request tries (priority, then weight), and which flows come from the
 * trusted side (any endpoint's address, or a configured source).
 */
export class UpstreamPool {
  readonly #definitions: readonly UpstreamDefinition[];
  readonly #health: HealthSettings;
  readonly #transports: readonly TransportName[];
  readonly #now: () => number;
  readonly #random: () => number;
  #endpoints: Endpoint[] = [];
  #byKey = new Map<string, Endpoint>();
  /** `address|port` of datagram endpoints, addresses of stream endpoints, configured sources. */
  #datagramSources = new Set<string>();
  #streamSources = new Set<string>();
  readonly #configuredSources: ReadonlySet<string>;
  readonly #listeners: ((change: EndpointChange) => void)[] = [];
  readonly stats: PoolStats = { failovers: 0, stateChanges: 0, unavailable: 0 };

  constructor(
    definitions: readonly UpstreamDefinition[],
    health: HealthSettings,
    options: { transports: readonly TransportName[]; now?: () => number; random?: () => number },
  ) {
    this.#definitions = definitions;
    this.#health = health;
    this.#transports = options.transports;
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.#configuredSources = new Set(definitions.flatMap((d) => d.sources ?? []));
  }

  get health(): HealthSettings {
    return this.#health;
  }

  get endpoints(): readonly Endpoint[] {
    return this.#endpoints;
  }

  onChange(listener: (change: EndpointChange) => void): void {
    this.#listeners.push(listener);
  }

  /**
   * Resolves every upstream's host (RFC 3263) and keeps the health of endpoints that are still
   * there. An upstream whose name resolves to nothing keeps its former endpoints: a DNS outage
   * does not take the upstreams away.
   */
  async resolve(resolver: TargetResolver): Promise<void> {
    const resolved = await Promise.all(
      this.#definitions.map((definition) =>
        resolver.resolve(definition.host, {
          ...(definition.port === undefined ? {} : { port: definition.port }),
          ...(definition.transport === undefined ? {} : { transport: definition.transport }),
          transports: this.#transports,
        }),
      ),
    );
    const next: Endpoint[] = [];
    const byKey = new Map<string, Endpoint>();
    this.#definitions.forEach((definition, index) => {
      let targets: readonly SendTarget[] = resolved[index]!.filter((t) =>
        this.#transports.includes(t.transport),
      );
      if (targets.length === 0) {
        targets = this.#endpoints.filter((e) => e.upstream === definition.name).map((e) => e.target);
      }
      for (const target of targets) {
        const key = keyOf(target);
        if (byKey.has(key)) continue;
        const previous = this.#byKey.get(key);
        const endpoint: Endpoint =
          previous?.upstream === definition.name
            ? previous
            : {
                upstream: definition.name,
                priority: definition.priority,
                weight: definition.weight,
                target: { transport: target.transport, address: target.address, port: target.port },
                state: 'up',
                misses: 0,
                answers: 0,
                retryAfterUntil: 0,
              };
        byKey.set(key, endpoint);
        next.push(endpoint);
      }
    });
    this.#endpoints = next;
    this.#byKey = byKey;
    this.#datagramSources = new Set(
      next.filter((e) => e.target.transport === 'udp').map((e) => keyOf2(e.target)),
    );
    this.#streamSources = new Set(
      next.filter((e) => e.target.transport !== 'udp').map((e) => e.target.address),
    );
  }

  /**
   * The endpoints a new request tries, in order: the upstreams named (all when undefined),
   * only those up, lowest priority first, in a weighted random order within a priority
   * (RFC 2782's rule, as for SRV records). Empty when none is up.
   */
  select(names: readonly string[] | undefined): SendTarget[] {
    const now = this.#now();
    const candidates: Endpoint[] = [];
    for (const endpoint of this.#endpoints) {
      if (names !== undefined && !names.includes(endpoint.upstream)) continue;
      this.#expireRetryAfter(endpoint, now);
      if (endpoint.state === 'up') candidates.push(endpoint);
    }
    if (candidates.length === 0) {
      this.stats.unavailable++;
      return [];
    }
    return orderSrv(candidates, this.#random)
      .slice(0, MAX_ATTEMPTS)
      .map((e) => e.target);
  }

  /** The endpoint at a numeric address and port (an in-dialog request's next hop), whatever its health. */
  endpointAt(address: string, port: number): SendTarget | undefined {
    for (const endpoint of this.#endpoints) {
      if (endpoint.target.address === address && endpoint.target.port === port) return endpoint.target;
    }
    return undefined;
  }

  /** True when a flow comes from an upstream: the trusted side. */
  isUpstreamFlow(flow: Flow): boolean {
    if (this.#configuredSources.has(flow.remoteAddress)) return true;
    if (flow.transport === 'udp')
      return this.#datagramSources.has(`${flow.remoteAddress}|${flow.remotePort}`);
    // Over streams an upstream connects from a port of its choosing (RFC 3261 18.1.1).
    return this.#streamSources.has(flow.remoteAddress);
  }

  /** An endpoint answered a ping (with anything but a 503). */
  answered(target: SendTarget): void {
    const endpoint = this.#byKey.get(keyOf(target));
    if (endpoint === undefined) return;
    endpoint.misses = 0;
    if (endpoint.state === 'up') return;
    if (endpoint.retryAfterUntil > this.#now()) return;
    endpoint.answers++;
    if (endpoint.answers >= this.#health.upAfter) this.#set(endpoint, 'up', 'ping-answered');
  }

  /** A ping went unanswered, or a request to it timed out with no response at all. */
  missed(target: SendTarget, cause: 'ping-timeout' | 'request-timeout'): void {
    if (!this.#health.enabled) return;
    const endpoint = this.#byKey.get(keyOf(target));
    if (endpoint === undefined) return;
    endpoint.answers = 0;
    endpoint.misses++;
    if (endpoint.state === 'up' && endpoint.misses >= this.#health.downAfter)
      this.#set(endpoint, 'down', cause);
  }

  /**
   * A 503 (Service Unavailable): with Retry-After the endpoint is down for that long (RFC 3261
   * 21.5.4); without, it counts as a miss.
   */
  unavailable(target: SendTarget, retryAfterS: number | undefined): void {
    const endpoint = this.#byKey.get(keyOf(target));
    if (endpoint === undefined) return;
    if (retryAfterS === undefined || retryAfterS <= 0) {
      this.missed(target, 'request-timeout');
      return;
    }
    const seconds = Math.min(retryAfterS, this.#health.maxRetryAfterS);
    endpoint.retryAfterUntil = this.#now() + seconds * 1000;
    endpoint.answers = 0;
    if (endpoint.state === 'up') this.#set(endpoint, 'down', '503', seconds);
  }

  /** Counts a new request sent on to another endpoint after a timeout or a 503. */
  failedOver(): void {
    this.stats.failovers++;
  }

  #expireRetryAfter(endpoint: Endpoint, now: number): void {
    // With no pings to bring it back, the end of the Retry-After does.
    if (endpoint.state === 'down' && !this.#health.enabled && endpoint.retryAfterUntil <= now) {
      this.#set(endpoint, 'up', 'retry-after-over');
    }
  }

  #set(endpoint: Endpoint, state: EndpointState, cause: string, retryAfterS?: number): void {
    endpoint.state = state;
    endpoint.misses = 0;
    endpoint.answers = 0;
    this.stats.stateChanges++;
    const change: EndpointChange = {
      upstream: endpoint.upstream,
      target: endpoint.target,
      state,
      cause,
      ...(retryAfterS === undefined ? {} : { retryAfterS }),
    };
    for (const listener of this.#listeners) listener(change);
  }
}

function keyOf2(target: SendTarget): string {
  return `${target.address}|${target.port}`;
}

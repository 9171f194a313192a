import { Resolver } from 'node:dns/promises';
import { parseAddress } from '../state/ip.ts';
import type { TransportName } from '../transport/types.ts';
import { orderSrv } from '../util/weighted-order.ts';
import { type Cached, TtlCache } from './ttl-cache.ts';

/** Where a SIP request for a name goes: one transport, address and port (RFC 3263 section 4). */
export interface SipTarget {
  readonly transport: TransportName;
  readonly address: string;
  readonly port: number;
}

export interface DnsSettings {
  /** Servers asked (`127.0.0.1`, `127.0.0.1:5353`, `[::1]:53`); absent: the system's. */
  readonly servers?: readonly string[];
  readonly timeoutMs: number;
  readonly tries: number;
  /** Answers (positive and negative, every record type) kept at most. */
  readonly maxEntries: number;
  /** Bounds on an A/AAAA record's own TTL: a record of TTL 0 is not asked for per request. */
  readonly minTtlS: number;
  readonly maxTtlS: number;
  /** How long "no such name / no such record / no answer" is kept (RFC 2308). */
  readonly negativeTtlS: number;
  /**
   * NAPTR and SRV answers are kept this long (at most maxTtlS): node:dns reports the TTL of
   * A/AAAA records only.
   */
  readonly recordTtlS: number;
  /** Queries on the wire at once at most; beyond it a resolution fails at once. */
  readonly maxPending: number;
}

export const DEFAULT_DNS: DnsSettings = {
  timeoutMs: 2000,
  tries: 2,
  maxEntries: 1024,
  minTtlS: 5,
  maxTtlS: 3600,
  negativeTtlS: 30,
  recordTtlS: 60,
  maxPending: 64,
};

export interface DnsStats {
  queries: number;
  cacheHits: number;
  negativeHits: number;
  failures: number;
  refused: number;
}

interface Srv {
  readonly priority: number;
  readonly weight: number;
  readonly port: number;
  readonly name: string;
}

/** Answers kept per name at most: a zone cannot make one resolution fan out without bound. */
const MAX_NAPTR = 8;
const MAX_SRV = 16;
const MAX_ADDRESSES = 8;
const MAX_TARGETS = 32;

/** RFC 3263 section 4.1: NAPTR services and the transports they stand for (RFC 3263 table). */
const NAPTR_SERVICES: Readonly<Record<string, TransportName>> = {
  'SIP+D2U': 'udp',
  'SIP+D2T': 'tcp',
  'SIPS+D2T': 'tls',
};

const SRV_PREFIX: Readonly<Record<TransportName, string>> = {
  udp: '_sip._udp.',
  tcp: '_sip._tcp.',
  tls: '_sips._tcp.',
};

function defaultPort(transport: TransportName): number {
  return transport === 'tls' ? 5061 : 5060;
}

/**
 * RFC 3263 client resolution (NAPTR, then SRV, then A/AAAA) for names sipwarden itself is
 * configured with, on a node:dns Resolver pointed at the configured servers. Every answer,
 * including "no such name", is cached for a bounded time, queries in flight are shared and
 * capped, and every answer is cut to a few records: what a zone or a caller can make it do
 * is bounded.
 */
export class SipResolver {
  readonly #resolver: Resolver;
  readonly #settings: DnsSettings;
  readonly #cache: TtlCache<unknown>;
  readonly #inFlight = new Map<string, Promise<Cached<unknown>>>();
  readonly #random: () => number;
  readonly stats: DnsStats = { queries: 0, cacheHits: 0, negativeHits: 0, failures: 0, refused: 0 };

  constructor(settings: DnsSettings, options: { now?: () => number; random?: () => number } = {}) {
    this.#settings = settings;
    this.#resolver = new Resolver({ timeout: settings.timeoutMs, tries: settings.tries });
    if (settings.servers !== undefined && settings.servers.length > 0)
      this.#resolver.setServers([...settings.servers]);
    this.#cache = new TtlCache(settings.maxEntries, options.now);
    this.#random = options.random ?? Math.random;
  }

  /**
   * The targets for a SIP URI's host, port and transport, in the order to try them; empty when
   * the name has none. `transports` are those sipwarden can send on.
   */
  async resolve(
    host: string,
    options: { port?: number; transport?: TransportName; transports: readonly TransportName[] },
  ): Promise<SipTarget[]> {
    const allowed = options.transports;
    const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
    // RFC 3263 4.1 and 4.2: a numeric address or an explicit port skips NAPTR and SRV.
    if (parseAddress(bare) !== undefined) {
      const transport = options.transport ?? 'udp';
      return [{ transport, address: bare, port: options.port ?? defaultPort(transport) }];
    }
    const name = bare.toLowerCase().replace(/\.$/, '');
    if (options.port !== undefined) {
      const transport = options.transport ?? 'udp';
      return (await this.#addresses(name)).map((address) => ({ transport, address, port: options.port! }));
    }
    if (options.transport === undefined) {
      const viaNaptr = await this.#viaNaptr(name, allowed);
      if (viaNaptr.length > 0) return viaNaptr;
      // RFC 3263 4.1: no NAPTR: SRV for each transport sipwarden supports, first found wins.
      for (const transport of allowed) {
        const targets = await this.#viaSrv(SRV_PREFIX[transport] + name, transport);
        if (targets.length > 0) return targets;
      }
      const transport: TransportName = allowed.includes('udp') ? 'udp' : (allowed[0] ?? 'udp');
      return (await this.#addresses(name)).map((address) => ({
        transport,
        address,
        port: defaultPort(transport),
      }));
    }
    const transport = options.transport;
    const viaSrv = await this.#viaSrv(SRV_PREFIX[transport] + name, transport);
    if (viaSrv.length > 0) return viaSrv;
    return (await this.#addresses(name)).map((address) => ({
      transport,
      address,
      port: defaultPort(transport),
    }));
  }

  async #viaNaptr(name: string, allowed: readonly TransportName[]): Promise<SipTarget[]> {
    const answer = await this.#query<
      { service: string; flags: string; replacement: string; order: number; preference: number }[]
    >(`NAPTR ${name}`, async () => {
      const records = await this.#resolver.resolveNaptr(name);
      const value = records.slice(0, MAX_NAPTR).map((r) => ({
        service: r.service.toUpperCase(),
        flags: r.flags.toLowerCase(),
        replacement: r.replacement.toLowerCase(),
        order: r.order,
        preference: r.preference,
      }));
      return { value, ttlS: this.#settings.recordTtlS };
    });
    if (!answer.ok) return [];
    const usable = answer.value
      .filter((r) => r.flags === 's' && NAPTR_SERVICES[r.service] !== undefined && r.replacement !== '')
      .filter((r) => allowed.includes(NAPTR_SERVICES[r.service]!))
      .sort((a, b) => a.order - b.order || a.preference - b.preference);
    const targets: SipTarget[] = [];
    for (const record of usable) {
      targets.push(...(await this.#viaSrv(record.replacement, NAPTR_SERVICES[record.service]!)));
      if (targets.length >= MAX_TARGETS) break;
    }
    return targets.slice(0, MAX_TARGETS);
  }

  async #viaSrv(name: string, transport: TransportName): Promise<SipTarget[]> {
    const answer = await this.#query<Srv[]>(`SRV ${name}`, async () => {
      const records = await this.#resolver.resolveSrv(name);
      const value = records
        .slice(0, MAX_SRV)
        .map((r) => ({ priority: r.priority, weight: r.weight, port: r.port, name: r.name.toLowerCase() }));
      return { value, ttlS: this.#settings.recordTtlS };
    });
    if (!answer.ok) return [];
    const targets: SipTarget[] = [];
    for (const record of orderSrv(answer.value, this.#random)) {
      // RFC 2782: a target of "." means the service is decidedly not available here.
      if (record.name === '' || record.name === '.') continue;
      for (const address of await this.#addresses(record.name)) {
        targets.push({ transport, address, port: record.port });
      }
      if (targets.length >= MAX_TARGETS) break;
    }
    return targets.slice(0, MAX_TARGETS);
  }

  /** A and AAAA of a name, IPv4 first, each record kept for its own TTL within the bounds. */
  async #addresses(name: string): Promise<string[]> {
    const [v4, v6] = await Promise.all([this.#family(name, 4), this.#family(name, 6)]);
    return [...v4, ...v6];
  }

  async #family(name: string, family: 4 | 6): Promise<string[]> {
    const answer = await this.#query<string[]>(`${family === 4 ? 'A' : 'AAAA'} ${name}`, async () => {
      const records =
        family === 4
          ? await this.#resolver.resolve4(name, { ttl: true })
          : await this.#resolver.resolve6(name, { ttl: true });
      const kept = records.slice(0, MAX_ADDRESSES);
      const ttlS = kept.reduce((min, r) => Math.min(min, r.ttl), this.#settings.maxTtlS);
      return { value: kept.map((r) => r.address), ttlS };
    });
    return answer.ok ? answer.value : [];
  }

  /** One question: from the cache, from a query already in flight, or asked now (within the cap). */
  async #query<T>(key: string, ask: () => Promise<{ value: T; ttlS: number }>): Promise<Cached<T>> {
    const cached = this.#cache.get(key);
    if (cached !== undefined) {
      if (cached.ok) this.stats.cacheHits++;
      else this.stats.negativeHits++;
      return cached as Cached<T>;
    }
    const pending = this.#inFlight.get(key);
    if (pending !== undefined) return (await pending) as Cached<T>;
    if (this.#inFlight.size >= this.#settings.maxPending) {
      this.stats.refused++;
      return { ok: false, error: 'too many queries in flight' };
    }
    const settings = this.#settings;
    const asked = (async (): Promise<Cached<unknown>> => {
      this.stats.queries++;
      try {
        const { value, ttlS } = await ask();
        const bounded = Math.min(settings.maxTtlS, Math.max(settings.minTtlS, ttlS));
        const answer: Cached<unknown> = { ok: true, value };
        this.#cache.set(key, answer, bounded * 1000);
        return answer;
      } catch (error) {
        // NXDOMAIN, NODATA, SERVFAIL and timeouts alike: kept for the negative TTL, so a name
        // that does not resolve is not asked again for every request.
        this.stats.failures++;
        const answer: Cached<unknown> = {
          ok: false,
          error: (error as NodeJS.ErrnoException).code ?? 'error',
        };
        this.#cache.set(key, answer, settings.negativeTtlS * 1000);
        return answer;
      } finally {
        this.#inFlight.delete(key);
      }
    })();
    this.#inFlight.set(key, asked);
    return (await asked) as Cached<T>;
  }

  /** Stops every query in flight (they fail). */
  close(): void {
    this.#resolver.cancel();
    this.#cache.clear();
  }
}

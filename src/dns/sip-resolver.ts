import { parseAddress } from '../state/ip.ts';
import type { TransportName } from '../transport/types.ts';
import { orderSrv } from '../util/weighted-order.ts';
import { type Cached, TtlCache } from './ttl-cache.ts';
import { DnsQueryError, dnsServers, type Lookup, UdpDnsClient } from './udp-client.ts';
import type { QueryType, RecordData } from './wire.ts';

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
  /**
   * Bounds on the TTL an answer is kept for, positive or negative: a record of TTL 0 is not
   * asked for per request, nor one of a week kept for a week.
   */
  readonly minTtlS: number;
  readonly maxTtlS: number;
  /**
   * How long a failure is kept (no answer, SERVFAIL, REFUSED), and "no such name / no such
   * record" when the answer carries no SOA to give its negative TTL (RFC 2308 section 5).
   */
  readonly negativeTtlS: number;
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
/**
 * Queries one resolution may send at most (answers from the cache and queries already in
 * flight are free): 8 NAPTR records of 16 SRV targets each would otherwise ask 265 questions.
 */
export const MAX_QUERIES_PER_RESOLUTION = 48;

/** What is left of one resolution's queries. */
interface Budget {
  left: number;
}

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
 * configured with, asking the configured servers (or the system's) over UDP with its own
 * stub (udp-client.ts), which reads every record's TTL. Every answer is cached for its TTL
 * within [minTtlS, maxTtlS]; "no such name" and "no such record" for the SOA's negative TTL
 * within the same bounds (negativeTtlS without a SOA), failures for negativeTtlS. Queries in
 * flight are shared and capped, and every answer is cut to a few records: what a zone or a
 * caller can make it do is bounded.
 */
export class SipResolver {
  readonly #client: UdpDnsClient;
  readonly #settings: DnsSettings;
  readonly #cache: TtlCache<unknown>;
  readonly #inFlight = new Map<string, Promise<Cached<unknown>>>();
  readonly #random: () => number;
  readonly stats: DnsStats = { queries: 0, cacheHits: 0, negativeHits: 0, failures: 0, refused: 0 };

  constructor(settings: DnsSettings, options: { now?: () => number; random?: () => number } = {}) {
    this.#settings = settings;
    this.#client = new UdpDnsClient(dnsServers(settings.servers), settings.timeoutMs, settings.tries);
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
    const budget: Budget = { left: MAX_QUERIES_PER_RESOLUTION };
    if (options.port !== undefined) {
      const transport = options.transport ?? 'udp';
      return (await this.#addresses(name, budget)).map((address) => ({
        transport,
        address,
        port: options.port!,
      }));
    }
    if (options.transport === undefined) {
      const viaNaptr = await this.#viaNaptr(name, allowed, budget);
      if (viaNaptr.length > 0) return viaNaptr;
      // RFC 3263 4.1: no NAPTR: SRV for each transport sipwarden supports, first found wins.
      for (const transport of allowed) {
        const targets = await this.#viaSrv(SRV_PREFIX[transport] + name, transport, budget);
        if (targets.length > 0) return targets;
      }
      const transport: TransportName = allowed.includes('udp') ? 'udp' : (allowed[0] ?? 'udp');
      return (await this.#addresses(name, budget)).map((address) => ({
        transport,
        address,
        port: defaultPort(transport),
      }));
    }
    const transport = options.transport;
    const viaSrv = await this.#viaSrv(SRV_PREFIX[transport] + name, transport, budget);
    if (viaSrv.length > 0) return viaSrv;
    return (await this.#addresses(name, budget)).map((address) => ({
      transport,
      address,
      port: defaultPort(transport),
    }));
  }

  async #viaNaptr(name: string, allowed: readonly TransportName[], budget: Budget): Promise<SipTarget[]> {
    const answer = await this.#query<
      { service: string; flags: string; replacement: string; order: number; preference: number }[]
    >(`NAPTR ${name}`, name, 'NAPTR', budget, (records) =>
      records
        .flatMap((r) => (r.type === 'NAPTR' ? [r.naptr] : []))
        .slice(0, MAX_NAPTR)
        .map((r) => ({
          service: r.service.toUpperCase(),
          flags: r.flags.toLowerCase(),
          replacement: r.replacement,
          order: r.order,
          preference: r.preference,
        })),
    );
    if (!answer.ok) return [];
    const usable = answer.value
      .filter((r) => r.flags === 's' && NAPTR_SERVICES[r.service] !== undefined && r.replacement !== '')
      .filter((r) => allowed.includes(NAPTR_SERVICES[r.service]!))
      .sort((a, b) => a.order - b.order || a.preference - b.preference);
    const targets: SipTarget[] = [];
    for (const record of usable) {
      targets.push(...(await this.#viaSrv(record.replacement, NAPTR_SERVICES[record.service]!, budget)));
      if (targets.length >= MAX_TARGETS) break;
    }
    return targets.slice(0, MAX_TARGETS);
  }

  async #viaSrv(name: string, transport: TransportName, budget: Budget): Promise<SipTarget[]> {
    const answer = await this.#query<Srv[]>(`SRV ${name}`, name, 'SRV', budget, (records) =>
      records
        .flatMap((r) => (r.type === 'SRV' ? [r.srv] : []))
        .slice(0, MAX_SRV)
        .map((r) => ({ priority: r.priority, weight: r.weight, port: r.port, name: r.target })),
    );
    if (!answer.ok) return [];
    const targets: SipTarget[] = [];
    for (const record of orderSrv(answer.value, this.#random)) {
      // RFC 2782: a target of "." means the service is decidedly not available here.
      if (record.name === '' || record.name === '.') continue;
      for (const address of await this.#addresses(record.name, budget)) {
        targets.push({ transport, address, port: record.port });
      }
      if (targets.length >= MAX_TARGETS) break;
    }
    return targets.slice(0, MAX_TARGETS);
  }

  /** A and AAAA of a name, IPv4 first, each record kept for its own TTL within the bounds. */
  async #addresses(name: string, budget: Budget): Promise<string[]> {
    const [v4, v6] = await Promise.all([this.#family(name, 4, budget), this.#family(name, 6, budget)]);
    return [...v4, ...v6];
  }

  async #family(name: string, family: 4 | 6, budget: Budget): Promise<string[]> {
    const type = family === 4 ? 'A' : 'AAAA';
    const answer = await this.#query<string[]>(`${type} ${name}`, name, type, budget, (records) =>
      records
        .flatMap((r) => (r.type === 'A' || r.type === 'AAAA' ? [r.address] : []))
        .slice(0, MAX_ADDRESSES),
    );
    return answer.ok ? answer.value : [];
  }

  /** One question: from the cache, from a query already in flight, or asked now (within the cap). */
  async #query<T>(
    key: string,
    name: string,
    type: QueryType,
    budget: Budget,
    read: (records: readonly RecordData[]) => T,
  ): Promise<Cached<T>> {
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
    if (budget.left <= 0) {
      this.stats.refused++;
      return { ok: false, error: 'too many queries for one resolution' };
    }
    budget.left--;
    const settings = this.#settings;
    const bounded = (ttlS: number) => Math.min(settings.maxTtlS, Math.max(settings.minTtlS, ttlS));
    const asked = (async (): Promise<Cached<unknown>> => {
      this.stats.queries++;
      let lookup: Lookup;
      try {
        lookup = await this.#client.query(name, type);
      } catch (error) {
        // No usable answer (timeouts, SERVFAIL, REFUSED, a truncated or malformed one): kept
        // for negativeTtlS, so a server that fails is not asked again for every request.
        this.stats.failures++;
        const answer: Cached<unknown> = {
          ok: false,
          error: error instanceof DnsQueryError ? error.code : 'error',
        };
        this.#cache.set(key, answer, settings.negativeTtlS * 1000);
        return answer;
      } finally {
        this.#inFlight.delete(key);
      }
      if (lookup.kind === 'negative') {
        // RFC 2308: NXDOMAIN and NODATA for the SOA's negative TTL; without a SOA, negativeTtlS.
        this.stats.failures++;
        const answer: Cached<unknown> = { ok: false, error: lookup.what };
        const ttlS = lookup.ttlS === undefined ? settings.negativeTtlS : bounded(lookup.ttlS);
        this.#cache.set(key, answer, ttlS * 1000);
        return answer;
      }
      const answer: Cached<unknown> = { ok: true, value: read(lookup.records) };
      this.#cache.set(key, answer, bounded(lookup.ttlS) * 1000);
      return answer;
    })();
    this.#inFlight.set(key, asked);
    return (await asked) as Cached<T>;
  }

  /** Stops every query in flight (they fail). */
  close(): void {
    this.#client.close();
    this.#cache.clear();
  }
}

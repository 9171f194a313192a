/**
 * Configuration of several upstreams (src/core/route/upstreams) and of the DNS resolution
 * of their names (src/dns). Absent `upstreams`, the single `upstream` key is the upstream.
 */
import { z } from 'zod';
import { parseCidr } from '../state/cidr.ts';
import { isHost, isHostname, isIpv4, isIpv6 } from './host.ts';
import { boolean, integer, oneOf, string } from './zod-fields.ts';

const TRANSPORTS = ['udp', 'tcp', 'tls'] as const;

/** The single `upstream`'s default: the one a configuration without either key gets. */
export const DEFAULT_UPSTREAM = { host: '127.0.0.1', port: 5080, transport: 'udp' } as const;

const name = string('must be a name (letters, digits, ., _ and -)').regex(
  /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/,
  {
    error: 'must be a name (letters, digits, ., _ and -)',
  },
);

const address = z.string().refine((text) => isIpv4(text) || isIpv6(text), 'must be an IPv4 or IPv6 address');

export const upstreamEntry = z.strictObject({
  name,
  // An address, or a name resolved by RFC 3263 (NAPTR, SRV, A/AAAA) on dns.servers.
  host: string().refine(isHost, { error: 'must be an IPv4 address, an IPv6 address or a hostname' }),
  // Absent: SRV gives it (RFC 3263 4.2), else 5060 (5061 for tls).
  port: integer(1, 65535).optional(),
  // Absent: NAPTR, then SRV, decide (RFC 3263 4.1), else udp.
  transport: oneOf(TRANSPORTS).optional(),
  // Lower first; the next priority only when every endpoint of this one is down.
  priority: integer(0, 65535).default(1),
  // Share of new requests among the upstreams of one priority.
  weight: integer(0, 65535).default(1),
  // Further addresses it sends requests from: the trusted side, as its endpoints are.
  sources: z.array(address).max(64).optional(),
});

const domain = string('must be a domain, or *. and a domain').refine(
  (text) => isHost(text) || (text.startsWith('*.') && isHostname(text.slice(2))),
  { error: 'must be a domain, or *. and a domain' },
);

export const upstreamRoute = z.strictObject({
  // The Request-URI's host, exactly or (`*.example.com`) with its subdomains.
  domain: domain.optional(),
  // The start of the Request-URI's user part (tel: URIs: of the number).
  userPrefix: string().min(1).max(64).optional(),
  // Source addresses or networks.
  source: z
    .array(
      string().refine((text) => parseCidr(text) !== undefined, {
        error: 'must be an address or a CIDR network',
      }),
    )
    .min(1)
    .max(256)
    .optional(),
  upstreams: z.array(name).min(1).max(16),
});

export const upstreamHealth = z
  .strictObject({
    // OPTIONS pings and marking endpoints down; on by default when `upstreams` lists several.
    enabled: boolean.default(true),
    intervalMs: integer(100, 3_600_000).default(5000),
    // A ping unanswered after this long is a miss.
    timeoutMs: integer(50, 60_000).default(2000),
    // Consecutive misses (pings, or new requests that got no response at all) that mark an endpoint down.
    downAfter: integer(1, 100).default(3),
    // Consecutive answered pings that mark it up again.
    upAfter: integer(1, 100).default(2),
    // A new request with no response at all from its endpoint this long goes to the next one.
    failoverAfterMs: integer(100, 64_000).default(4000),
    // A 503's Retry-After is honoured up to this long.
    maxRetryAfterS: integer(1, 86_400).default(3600),
    // Upstream names are resolved again this often (the cache answers until their TTL runs out).
    refreshMs: integer(1000, 86_400_000).default(30_000),
  })
  .prefault({});

export const dnsSchema = z
  .strictObject({
    // The servers asked (`127.0.0.1`, `127.0.0.1:5353`, `[::1]:53`); absent: the system's.
    servers: z
      .array(
        string('must be an address, with a port if not 53').regex(
          /^(\d{1,3}(\.\d{1,3}){3}(:\d{1,5})?|\[[0-9a-fA-F:.]+\](:\d{1,5})?|[0-9a-fA-F:]+)$/,
          {
            error: 'must be an address, with a port if not 53',
          },
        ),
      )
      .min(1)
      .max(8)
      .optional(),
    timeoutMs: integer(100, 30_000).default(2000),
    tries: integer(1, 5).default(2),
    maxEntries: integer(16, 1_000_000).default(1024),
    // Every answer (A, AAAA, SRV, NAPTR; NXDOMAIN and NODATA with the SOA's negative TTL) is
    // kept for its TTL within these bounds.
    minTtlS: integer(0, 86_400).default(5),
    maxTtlS: integer(1, 604_800).default(3600),
    // Failures (no answer, SERVFAIL, REFUSED), and negative answers without a SOA, are kept this long.
    negativeTtlS: integer(1, 86_400).default(30),
    maxPending: integer(1, 10_000).default(64),
  })
  .prefault({});

/** Checks across the keys: unique names, routes naming known upstreams. */
export function checkUpstreams(
  config: {
    upstream: { host: string; port: number; transport: string; sources?: readonly string[] | undefined };
    tls?: unknown;
    upstreams?: readonly { name: string; transport?: string | undefined }[] | undefined;
    upstreamRoutes?: readonly { upstreams: readonly string[] }[] | undefined;
  },
  issue: (path: (string | number)[], message: string) => void,
): void {
  const names = new Set<string>();
  config.upstreams?.forEach((entry, index) => {
    if (names.has(entry.name)) issue(['upstreams', index, 'name'], `repeats the name ${entry.name}`);
    names.add(entry.name);
    if (entry.transport === 'tls' && config.tls === undefined) {
      issue(['upstreams', index, 'transport'], 'needs tls: sipwarden connects to it over TLS');
    }
  });
  // `upstream` is the shorthand for one upstream: with `upstreams` it would not be used.
  const single = config.upstream;
  const isDefault =
    single.host === DEFAULT_UPSTREAM.host &&
    single.port === DEFAULT_UPSTREAM.port &&
    single.transport === DEFAULT_UPSTREAM.transport &&
    single.sources === undefined;
  if (config.upstreams !== undefined && !isDefault) {
    issue(['upstream'], 'must not be set with upstreams (list that upstream in upstreams)');
  }
  if (config.upstreamRoutes !== undefined && config.upstreams === undefined) {
    issue(['upstreamRoutes'], 'needs upstreams: routes choose among them');
  }
  config.upstreamRoutes?.forEach((route, index) => {
    route.upstreams.forEach((upstream, position) => {
      if (!names.has(upstream))
        issue(['upstreamRoutes', index, 'upstreams', position], `names no upstream: ${upstream}`);
    });
  });
}

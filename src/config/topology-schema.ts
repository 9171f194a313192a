/**
 * The `topologyHiding:` section: what sipwarden hides from each side in the messages that
 * leave towards it (src/core/route/topology/topology-hiding.ts). On by default towards the
 * untrusted side (the clients); off towards the upstream. Checked with the rest of the file
 * by schema.ts.
 */
import { z } from 'zod';
import {
  ESSENTIAL_HEADERS,
  type HiddenSide,
  type TopologySettings,
} from '../core/route/topology/topology-hiding.ts';
import { boolean, string } from './zod-fields.ts';

/** What a product, a host name or the inside of a network shows in, by default. */
export const DEFAULT_STRIPPED = ['server', 'user-agent', 'warning', 'organization'] as const;

const headerName = string('must be a header field name')
  .regex(/^[A-Za-z0-9!%*+`'~._-]{1,64}$/, { error: 'must be a header field name' })
  .transform((name) => name.toLowerCase())
  .refine((name) => !ESSENTIAL_HEADERS.has(name), {
    error: 'is a field sipwarden routes on and cannot strip',
  });

/** A header field value sipwarden writes: printable, one line. */
const fieldValue = string('must be a header field value').regex(/^[\x20-\x7e]{1,128}$/, {
  error: 'must be 1..128 printable characters',
});

const stripHeaders = z
  .array(headerName)
  .max(64)
  .default(() => [...DEFAULT_STRIPPED]);

/** Towards the clients: everything that can be hidden, on by default. */
const untrusted = z
  .strictObject({
    enabled: boolean.default(true),
    // Only sipwarden's Via on requests; the others are put back on the responses.
    via: boolean.default(true),
    // sipwarden's Record-Route entry stands for the route set.
    recordRoute: boolean.default(true),
    // Contact URIs replaced by sealed sipwarden URIs that map back.
    contact: boolean.default(true),
    stripHeaders,
    // Written (after stripping) in responses and requests respectively.
    server: fieldValue.optional(),
    userAgent: fieldValue.optional(),
  })
  .prefault({});

/** Towards the upstream: Via and header fields (it routes on the route set and Contact). Off by default. */
const trusted = z
  .strictObject({
    enabled: boolean.default(false),
    via: boolean.default(true),
    stripHeaders,
    server: fieldValue.optional(),
    userAgent: fieldValue.optional(),
  })
  .prefault({});

export const topologySchema = z
  .strictObject({
    untrusted,
    trusted,
  })
  .prefault({});

export type TopologyConfig = z.output<typeof topologySchema>;

/** The proxy's settings from the section: a side that is off is absent. */
export function topologySettings(config: TopologyConfig): TopologySettings {
  const headers = (entry: TopologyConfig['trusted']) => ({
    stripHeaders: entry.stripHeaders,
    ...(entry.server === undefined ? {} : { server: entry.server }),
    ...(entry.userAgent === undefined ? {} : { userAgent: entry.userAgent }),
  });
  const { untrusted: u, trusted: t } = config;
  const untrustedSide: HiddenSide | undefined = u.enabled
    ? { via: u.via, recordRoute: u.recordRoute, contact: u.contact, ...headers(u) }
    : undefined;
  const trustedSide: HiddenSide | undefined = t.enabled
    ? { via: t.via, recordRoute: false, contact: false, ...headers(t) }
    : undefined;
  return {
    ...(untrustedSide ? { untrusted: untrustedSide } : {}),
    ...(trustedSide ? { trusted: trustedSide } : {}),
  };
}

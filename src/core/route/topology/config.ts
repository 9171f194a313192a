/**
 * The `topologyHiding:` section: what sipwarden hides from each side in the messages that
 * leave towards it (src/core/route/topology/topology-hiding.ts). On by default towards the
 * untrusted side (the clients); off towards the upstream. Checked with the rest of the file
 * by schema.ts.
 */
import { z } from 'zod';
import { boolean, string } from '../../../config/zod-fields.ts';
import { ESSENTIAL_HEADERS, type HiddenSide, type TopologySettings } from './topology-hiding.ts';

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

function side(enabled: boolean) {
  return z
    .strictObject({
      enabled: boolean.default(enabled),
      // Only sipwarden's Via on requests; the others are put back on the responses.
      via: boolean.default(true),
      // Untrusted side only: sipwarden's Record-Route entry stands for the route set.
      recordRoute: boolean.default(true),
      // Untrusted side only: Contact URIs replaced by sealed sipwarden URIs that map back.
      contact: boolean.default(true),
      stripHeaders: z
        .array(headerName)
        .max(64)
        .default(() => [...DEFAULT_STRIPPED]),
      // Written (after stripping) in responses and requests respectively.
      server: fieldValue.optional(),
      userAgent: fieldValue.optional(),
    })
    .prefault({});
}

export const topologySchema = z
  .strictObject({
    untrusted: side(true),
    trusted: side(false),
  })
  .prefault({});

export type TopologyConfig = z.output<typeof topologySchema>;

/** The proxy's settings from the section: a side that is off is absent. */
export function topologySettings(config: TopologyConfig): TopologySettings {
  const of = (entry: TopologyConfig['untrusted']): HiddenSide | undefined =>
    entry.enabled
      ? {
          via: entry.via,
          recordRoute: entry.recordRoute,
          contact: entry.contact,
          stripHeaders: entry.stripHeaders,
          ...(entry.server === undefined ? {} : { server: entry.server }),
          ...(entry.userAgent === undefined ? {} : { userAgent: entry.userAgent }),
        }
      : undefined;
  const untrusted = of(config.untrusted);
  const trusted = of(config.trusted);
  return { ...(untrusted ? { untrusted } : {}), ...(trusted ? { trusted } : {}) };
}

/**
 * The `nat:` section: NAT traversal for phones registered through sipwarden
 * (src/core/route/nat): OPTIONS keepalives to their UDP flows, and what happens when a flow
 * dies. On by default. Checked with the rest of the file by schema.ts.
 */
import { z } from 'zod';
import type { NatSettings } from '../core/route/nat/nat-traversal.ts';
import { boolean, integer } from './zod-fields.ts';

const keepalive = z
  .strictObject({
    // OPTIONS to each phone registered over UDP, from the socket its REGISTER came to.
    enabled: boolean.default(true),
    // Below the shortest UDP timeout of the NATs in front of the phones (often 30-60 s).
    intervalS: integer(1, 3600).default(30),
    // Keepalives unanswered in a row after which the flow is dead.
    maxMisses: integer(1, 100).default(3),
  })
  .prefault({});

export const natSchema = z
  .strictObject({
    enabled: boolean.default(true),
    keepalive,
    // A dead flow's bindings removed at the registrar (REGISTER with Expires: 0 and the Path).
    unregisterDeadFlows: boolean.default(true),
    // Registered flows held at most; beyond, new ones get no keepalive nor 430.
    maxFlows: integer(1, 10_000_000).default(100_000),
    maxBindingsPerFlow: integer(1, 1000).default(16),
  })
  .prefault({});

export type NatConfig = z.output<typeof natSchema>;

/** The proxy's settings from the section; undefined when NAT traversal is off. */
export function natSettings(config: NatConfig): NatSettings | undefined {
  if (!config.enabled) return undefined;
  return {
    maxFlows: config.maxFlows,
    maxBindingsPerFlow: config.maxBindingsPerFlow,
    unregister: config.unregisterDeadFlows,
    ...(config.keepalive.enabled
      ? {
          keepalive: { intervalMs: config.keepalive.intervalS * 1000, maxMisses: config.keepalive.maxMisses },
        }
      : {}),
  };
}

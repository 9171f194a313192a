/**
 * Registration caching (src/core/route/registration-cache.ts): sipwarden answers phones'
 * re-REGISTERs from the PBX's last 2xx and refreshes the PBX less often. Off by default.
 */
import { z } from 'zod';
import { boolean, integer } from './zod-fields.ts';

export const registrationCacheSchema = z
  .strictObject({
    enabled: boolean.default(false),
    // Registrations held at most (one per phone's Call-ID); the least recently used goes first.
    maxEntries: integer(1, 10_000_000).default(100_000),
    // A re-REGISTER goes to the PBX once the binding it granted has less than this share of its
    // lifetime left; above it, sipwarden answers from the cache.
    refreshBelowPercent: integer(1, 99).default(50),
  })
  .prefault({});

/** The JSON shapes the management API answers with (and its clients read). */
import type { SecurityEvent } from '../events/types.ts';
import type { FraudHold } from '../fraud/holds.ts';
import type { BlockEntry, BlockScope } from '../state/types.ts';

export interface BlockView {
  /** The blocked address, network (CIDR) or rule key. */
  readonly key: string;
  readonly scope: BlockScope;
  readonly rule: string;
  readonly reason: string;
  /** ISO 8601. */
  readonly createdAt: string;
  /** ISO 8601, or null for a block until removed. */
  readonly expiresAt: string | null;
  /** Whole seconds left, or null for a block until removed. */
  readonly remainingSeconds: number | null;
  /** Messages refused because of this block. */
  readonly hits: number;
}

export interface BlocksAnswer {
  readonly blocks: readonly BlockView[];
  /** Blocks in force, of which `blocks` holds at most `limit`. */
  readonly total: number;
}

export interface BlockAnswer {
  readonly block: BlockView;
}

export interface UnblockAnswer {
  readonly removed: true;
}

export interface EventsAnswer {
  readonly events: readonly SecurityEvent[];
}

export interface HoldView {
  /** `user@domain`. */
  readonly identity: string;
  readonly verified: boolean;
  readonly rule: string;
  readonly reason: string;
  /** The SIP status the identity's calls get while held. */
  readonly status: number;
  /** ISO 8601. */
  readonly since: string;
  /** Calls refused because of the hold. */
  readonly refused: number;
}

export interface HoldsAnswer {
  readonly holds: readonly HoldView[];
}

export interface ReleaseAnswer {
  readonly released: true;
}

export function holdView(hold: FraudHold): HoldView {
  return {
    identity: hold.identity,
    verified: hold.verified,
    rule: hold.rule,
    reason: hold.reason,
    status: hold.status,
    since: new Date(hold.since).toISOString(),
    refused: hold.refused,
  };
}

export function blockView(entry: BlockEntry, now: number): BlockView {
  const permanent = !Number.isFinite(entry.expiresAt);
  return {
    key: entry.key,
    scope: entry.scope,
    rule: entry.rule,
    reason: entry.reason,
    createdAt: new Date(entry.createdAt).toISOString(),
    expiresAt: permanent ? null : new Date(entry.expiresAt).toISOString(),
    remainingSeconds: permanent ? null : Math.max(0, Math.ceil((entry.expiresAt - now) / 1000)),
    hits: entry.hits,
  };
}

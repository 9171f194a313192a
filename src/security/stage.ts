import type { MalformedError, OutcomeContext, PacketContext, RequestContext } from '../core/inspector.ts';
import type { EventInput } from '../events/types.ts';
import type { UserDirectory } from '../identity/user-directory.ts';
import type { Logger } from '../log/logger.ts';
import type { Policy } from '../policy/policy.ts';
import type { SipResponse } from '../sip/message.ts';
import type { ActivityStore, BlockTable, TrustTable } from '../state/types.ts';
import type { ChallengeProof } from './challenge-proof.ts';
import type { TrunkTable } from './trunks.ts';

/**
 * The pipeline's unit: one stage, one job. A stage reads the message and the state; it
 * never reaches into another stage. Its hooks are optional: a stage implements those
 * points of the message's life it has something to say about.
 */

export type Phase = 'gate' | 'validate' | 'detect' | 'policy' | 'authenticate' | 'state';

/** What the pipeline does with a non-pass decision. */
export type StageVerdict =
  | { readonly action: 'pass' }
  /** Event only, then go on to the next stage. */
  | { readonly action: 'alert'; readonly event: EventInput }
  /** Answer a request with a status (a response is dropped). */
  | {
      readonly action: 'reject';
      readonly status: number;
      readonly reason: string;
      readonly headers?: readonly { readonly name: string; readonly value: string }[];
      readonly event: EventInput;
    }
  /** No answer at all. */
  | { readonly action: 'drop'; readonly event: EventInput }
  /**
   * Block a source address, its network, or a rule key for a period, then drop this
   * message (or answer it with `status` when given).
   */
  | {
      readonly action: 'block';
      readonly scope: 'address' | 'network' | 'key';
      readonly key: string;
      readonly durationMs: number;
      readonly status?: number;
      readonly event: EventInput;
    }
  /**
   * Answer a request with `status`, but only after `delayMs` (slows a scanner or a flood
   * tool down: it waits for each answer). The core holds a bounded number of answers.
   */
  | {
      readonly action: 'tarpit';
      readonly delayMs: number;
      readonly status: number;
      readonly reason: string;
      readonly event: EventInput;
    };

export const STAGE_PASS: StageVerdict = Object.freeze({ action: 'pass' });

/** Shared services every stage factory may use. */
export interface StageDependencies {
  readonly store: ActivityStore;
  readonly blocks: BlockTable;
  /** Known-good sources; with declared trunks, their addresses are trusted too (trustWithTrunks). */
  readonly trust: TrustTable;
  readonly log: Logger;
  /** Declared trunks (`security.trunks`) and their call limits; none when absent. */
  readonly trunks?: TrunkTable;
  /**
   * Challenges the upstream issued, per source, and their answers: password-guessing records
   * them and earns trust from them; the gate lets an answer through overload shedding.
   */
  readonly challenges?: ChallengeProof;
  /** The user store, when sipwarden authenticates by itself (the authenticate stage, policies). */
  readonly users?: UserDirectory;
  /**
   * sipwarden's own Digest authentication, when it authenticates by itself: the challenge a
   * request without credentials gets (the policy stage's `require-authentication`).
   */
  readonly authenticator?: { challenge(context: RequestContext, now: number): StageVerdict };
  /** The identity policy (`policy:`), compiled; absent or empty: the policy stage allows everything. */
  readonly policy?: Policy;
}

/**
 * Builds a stage from its settings (as written under `security.settings.<name>`). A factory
 * checks its settings once, at start, with its own schema, and throws StageConfigError
 * listing every problem as `path: reason` (paths relative to the stage's settings).
 */
export type StageFactory = (settings: unknown, deps: StageDependencies) => Stage;

export class StageConfigError extends Error {
  readonly issues: readonly string[];
  constructor(issues: readonly string[]) {
    super(issues.join('; '));
    this.name = 'StageConfigError';
    this.issues = issues;
  }
}

export interface Stage {
  /** The name used in config, events and metrics. */
  readonly name: string;
  readonly phase: Phase;
  /** What happens when the stage itself fails (throws): let traffic through, or refuse it. */
  readonly failMode: 'open' | 'closed';
  /** Before parsing: must be cheap and synchronous. */
  admit?(packet: PacketContext, now: number): StageVerdict;
  malformed?(packet: PacketContext, error: MalformedError, now: number): StageVerdict;
  request?(context: RequestContext, now: number): StageVerdict | Promise<StageVerdict>;
  response?(context: RequestContext, response: SipResponse, now: number): StageVerdict;
  outcome?(context: OutcomeContext, now: number): StageVerdict;
}

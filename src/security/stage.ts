import type { ContentInspection } from '../content/inspection.ts';
import type { MalformedError, OutcomeContext, PacketContext, RequestContext } from '../core/inspector.ts';
import type { EventInput } from '../events/types.ts';
import type { FraudHolds } from '../fraud/holds.ts';
import type { UserDirectory } from '../identity/user-directory.ts';
import type { Logger } from '../log/logger.ts';
import type { Policy } from '../policy/policy.ts';
import type { SipRequest, SipResponse } from '../sip/message.ts';
import type { ActivityStore, BlockTable, TrustTable } from '../state/types.ts';
import type { Flow } from '../transport/types.ts';
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
      /** The reason phrase of that answer; absent: the event's reason. */
      readonly reason?: string;
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
    }
  /**
   * Answer a request as part of a protocol sipwarden speaks itself: a Digest challenge, a
   * refused authentication. Carried out in a dry run and for allowlisted sources too, since
   * letting the request through would forward it unauthenticated. A challenge is the
   * protocol's first step, not a refusal: it has no event; a failure has one. `detection`
   * is another stage's verdict on the same failure (password guessing's block): carried out
   * as that stage's own would be (exempt for an allowlisted source, reported in a dry run),
   * and when it ends the message's way (a block drops it) this answer is not sent.
   */
  | {
      readonly action: 'answer';
      readonly status: number;
      readonly reason: string;
      readonly headers?: readonly { readonly name: string; readonly value: string }[];
      readonly event?: EventInput;
      readonly detection?: { readonly stage: Stage; readonly verdict: StageVerdict };
    };

export const STAGE_PASS: StageVerdict = Object.freeze({ action: 'pass' });

/**
 * Challenges a request for Digest credentials in sipwarden's own realm (the authenticate
 * stage's service): 401 with WWW-Authenticate for a REGISTER, 407 with Proxy-Authenticate
 * otherwise (RFC 3261 22.3), SHA-256 and MD5 (RFC 8760). The policy stage calls it for its
 * "require authentication" action; the authenticate stage verifies the answer.
 */
export interface Authenticator {
  /** An `answer` verdict carrying a fresh challenge for this request. */
  challenge(context: RequestContext, now: number): StageVerdict;
  /** True when the request's credentials answer a challenge of ours to this source (a nonce we signed for it). */
  ownsCredentials(request: SipRequest, source: string): boolean;
}

/**
 * A failed authentication that sipwarden decided itself (a wrong password for one of its
 * own challenges), reported to the stage that counts failures (password guessing), which
 * registers its counter here. Its verdict (a block past a threshold) is returned.
 */
export interface AuthFailure {
  readonly flow: Flow;
  /** The user name the credentials named, lower-cased. */
  readonly user: string;
  /** The status the request is answered with. */
  readonly status: number;
}

export type AuthFailureCounter = (failure: AuthFailure, now: number) => StageVerdict;

export class AuthFailures {
  #counter: { readonly stage: Stage; readonly count: AuthFailureCounter } | undefined;

  /** Registers the stage that counts failures (one: the last registered). */
  listen(stage: Stage, count: AuthFailureCounter): void {
    this.#counter = { stage, count };
  }

  /** The counting stage's verdict on this failure, when one listens and decides. */
  report(
    failure: AuthFailure,
    now: number,
  ): { readonly stage: Stage; readonly verdict: StageVerdict } | undefined {
    const counter = this.#counter;
    if (counter === undefined) return undefined;
    const verdict = counter.count(failure, now);
    return verdict.action === 'pass' ? undefined : { stage: counter.stage, verdict };
  }
}

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
  /** Identities held for an operator (the fraud stage adds, the management API releases); the stage's own when absent. */
  readonly fraudHolds?: FraudHolds;
  /** sipwarden's own Digest challenges (the authenticate stage's settings); absent when it cannot authenticate. */
  readonly authenticator?: Authenticator;
  /** Where the authenticate stage reports wrong passwords for the password-guessing stage to count. */
  readonly authFailures?: AuthFailures;
  /** The identity policy (`policy:`), compiled; absent or empty: the policy stage allows everything. */
  readonly policy?: Policy;
  /** Content scanning (`content:`): the content stage's scanner and settings; absent when off. */
  readonly content?: ContentInspection;
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

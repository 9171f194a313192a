/**
 * Password guessing: failed authentications counted per source and per user.
 *
 * A failure is a final 401, 403 or 407 to a request that carried credentials
 * (Authorization or Proxy-Authorization). The first request of a digest exchange carries
 * none and is challenged with a 401/407: that is the protocol, not a failure (RFC 3261
 * 22.2). A 401/407 whose challenge says `stale=true` (RFC 7616 3.3) is not one either: the
 * password was right, only the nonce had expired, which phones refreshing a registration
 * meet all the time. The challenge is seen in the response hook and remembered for the
 * outcome (StaleChallenges).
 *
 * - Per source: past `perSource.failures` in its window, the source is blocked. A trusted
 *   source (one that authenticated lately: an office NAT address) is allowed
 *   `trustedMultiplier` times as many, so that a few misconfigured phones behind it do not
 *   cut the whole office off.
 * - Per user: guessing spread over many sources, a few guesses each, stays under every
 *   per-source threshold, but not under the user's. Past `perUser.failures` in its window
 *   (under attack), the user's account is blocked (`perUser.block`, a `user=<name>` key by
 *   default): the gate then refuses that user's requests from every source before they
 *   reach the registrar, so no further guess is answered, however many addresses the
 *   attacker has. Blocking each failing address instead would still let every new address
 *   have its guesses answered.
 * - The user's known-good sources (where they authenticated before) keep working: the
 *   per-user rule only reports their failures, and the gate lets their requests through a
 *   blocked account: an attacker cannot lock a user out by failing in their name.
 * - Trust comes only from proof (ChallengeProof): a 2xx to a REGISTER or INVITE whose
 *   credentials answer a challenge the upstream issued to that source for that request
 *   records the success in the trust table. Any other 2xx to a request with credentials
 *   (a made-up Authorization header on an OPTIONS, say) proves nothing.
 *
 * - A wrong password for sipwarden's own challenge (the authenticate stage, `mode: local`)
 *   counts the same way: that stage reports it (StageDependencies.authFailures), and this
 *   stage's verdict comes with its answer.
 *
 * Outcome verdicts apply to the source's next messages: the transaction already ended.
 */
import { z } from 'zod';
import type { OutcomeContext, RequestContext } from '../../core/inspector.ts';
import type { SipResponse } from '../../sip/message.ts';
import type { Flow } from '../../transport/types.ts';
import { accountOf, sourceKey, userKey } from '../block-keys.ts';
import { ChallengeProof } from '../challenge-proof.ts';
import { credentialsOf } from '../credentials.ts';
import {
  blockSpec,
  boolean,
  integer,
  oneOf,
  parseStageSettings,
  threshold,
  trustedMultiplier,
  uniqueList,
  windowMs,
} from '../rule-schema.ts';
import {
  STAGE_PASS,
  type Stage,
  type StageDependencies,
  type StageFactory,
  type StageVerdict,
} from '../stage.ts';
import { StaleChallenges } from '../stale-challenges.ts';
import { verdictFor } from '../verdicts.ts';

const STAGE = 'detect:password-guessing';
const HOUR = 60 * 60 * 1000;

const settingsSchema = z.strictObject({
  perSource: z
    .strictObject({ failures: threshold.default(5), windowMs: windowMs.default(60_000) })
    .prefault({}),
  perUser: z
    .strictObject({
      failures: threshold.default(10),
      windowMs: windowMs.default(10 * 60_000),
      /** What the per-user rule blocks: the account (`key`, the default), or the failing source. */
      block: blockSpec.default({ scope: 'key', durationMs: 30 * 60_000 }),
    })
    .prefault({}),
  trustedMultiplier: trustedMultiplier.default(5),
  /** Final statuses that, to a request with credentials, mean the credentials were wrong. */
  failureStatuses: uniqueList(integer(400, 699, 'must be a SIP status from 400 to 699'), 16).default([
    401, 403, 407,
  ]),
  /** `alert` reports without blocking (a dry run). */
  action: oneOf(['block', 'alert']).default('block'),
  /** What the per-source rule blocks. */
  block: blockSpec.default({ scope: 'address', durationMs: HOUR }),
  /** Record proven successes in the trust table (turn off when another stage does). */
  recordTrust: boolean.default(true),
});

export type PasswordGuessingSettings = z.input<typeof settingsSchema>;

/** The user a request tried to authenticate as: the digest user name, else the To user (REGISTER) or From user. */
function targetUser(context: OutcomeContext, username: string): string {
  return accountOf(context.request, username);
}

export const createPasswordGuessingStage: StageFactory = (
  settings: unknown,
  deps: StageDependencies,
): Stage => {
  const s = parseStageSettings(settingsSchema, settings);
  const failures = new Set(s.failureStatuses);
  const { store, trust } = deps;
  const spec = { action: s.action, block: s.block, tarpitMs: 0 } as const;
  const userSpec = { action: s.action, block: s.perUser.block, tarpitMs: 0 } as const;
  const stale = new StaleChallenges();
  const proof = deps.challenges ?? new ChallengeProof();

  /** One failed authentication from `flow` as `user` ('' when unknown): counted per source and per user. */
  function countFailure(flow: Flow, user: string, status: number, now: number): StageVerdict {
    const source = flow.remoteAddress;
    const bySource = store.hit(`pwd:src|${source}`, s.perSource.windowMs, now);
    const byUser = user.length > 0 ? store.hit(`pwd:user|${user}`, s.perUser.windowMs, now) : 0;
    const trusted = trust.isTrusted(source, now);
    const sourceLimit = trusted ? s.perSource.failures * s.trustedMultiplier : s.perSource.failures;
    const details: Record<string, string | number> = {
      status,
      sourceFailures: Math.round(bySource),
      sourceThreshold: sourceLimit,
      sourceWindowMs: s.perSource.windowMs,
    };
    if (user.length > 0) {
      details.user = user;
      details.userFailures = Math.round(byUser);
      details.userThreshold = s.perUser.failures;
      details.userWindowMs = s.perUser.windowMs;
    }

    if (bySource > sourceLimit) {
      return verdictFor(spec, flow, {
        type: 'password-guessing',
        stage: STAGE,
        rule: 'per-source',
        key: sourceKey(source),
        reason: `${Math.round(bySource)} failed authentications from this source in ${s.perSource.windowMs} ms, over ${sourceLimit}`,
        details,
        defaultStatus: 403,
      });
    }
    if (byUser > s.perUser.failures) {
      const known = trust.isKnownFor(source, user, now);
      const spared = known || trusted;
      // The user's known-good and trusted sources are reported, never blocked, by this rule.
      return verdictFor(spared ? { ...spec, action: 'alert' } : userSpec, flow, {
        type: 'password-guessing',
        stage: STAGE,
        rule: 'per-user',
        key: userKey(user),
        reason: `user ${user} under attack: ${Math.round(byUser)} failed authentications in ${s.perUser.windowMs} ms, over ${s.perUser.failures}${
          spared ? `; source spared (${known ? 'known-good for this user' : 'trusted'})` : ''
        }`,
        details,
        defaultStatus: 403,
      });
    }
    return STAGE_PASS;
  }

  const stage: Stage = {
    name: 'password-guessing',
    phase: 'detect',
    failMode: 'open',

    response(context: RequestContext, response: SipResponse, now: number): StageVerdict {
      if (context.direction === 'client') {
        stale.note(context, response, now);
        if (s.recordTrust) proof.note(context, response, now);
      }
      return STAGE_PASS;
    },

    outcome(context: OutcomeContext, now: number): StageVerdict {
      if (context.direction !== 'client') return STAGE_PASS;
      const status = context.status;
      const success = status >= 200 && status < 300;
      if (!success && !failures.has(status)) return STAGE_PASS;
      const request = context.request;
      const credentials = credentialsOf(request);
      // No credentials: a challenge, the normal first half of a digest exchange.
      if (credentials === undefined) return STAGE_PASS;
      const flow = context.flow;
      const source = flow.remoteAddress;
      // Credentials for sipwarden's own challenge: checked, and their failures counted, by the
      // authenticate stage; the upstream's refusal of a request it verified is no wrong password.
      if (deps.authenticator?.ownsCredentials(request, source) === true) return STAGE_PASS;
      const user = targetUser(context, credentials.username);
      if (success) {
        const proven = s.recordTrust ? proof.proven(source, request, status, now) : undefined;
        if (proven !== undefined) trust.succeed(source, proven, now);
        return STAGE_PASS;
      }
      if ((status === 401 || status === 407) && stale.take(source, request, now)) return STAGE_PASS;
      return countFailure(flow, user, status, now);
    },
  };
  // sipwarden's own Digest verification reports its wrong passwords here (the authenticate stage).
  deps.authFailures?.listen(stage, (failure, now) =>
    countFailure(failure.flow, failure.user, failure.status, now),
  );
  return stage;
};

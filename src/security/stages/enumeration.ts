/**
 * Extension enumeration (svwar and the like): one source trying many user names to learn
 * which exist.
 *
 * - Failed targets: per source, the distinct target users whose requests failed in a
 *   window. A failure is a final 403, 404 or 604, or a 401/407 to a request that carried
 *   credentials. A 401/407 to a request without credentials is the normal first half of a
 *   digest exchange (an office's 200 phones re-registering get 200 of them from one
 *   address) and is not counted; nor is one whose challenge says the nonce was stale
 *   (RFC 7616 3.3: the credentials were right). The rule fires only when failures also make up at least
 *   `minFailureRatio` of the source's requests to users in the window: a trunk carrying
 *   thousands of calls, a few of them to numbers that do not exist, is not a scanner.
 * - OPTIONS sweep: per source, the distinct Request-URI users probed with OPTIONS.
 *
 * Trusted sources (authenticated lately) get `trustedMultiplier` times the thresholds.
 * The target user is the To user of a REGISTER (its Request-URI names the domain only) and
 * the Request-URI user otherwise.
 */
import { z } from 'zod';
import type { OutcomeContext, RequestContext } from '../../core/inspector.ts';
import type { SipRequest, SipResponse } from '../../sip/message.ts';
import { userOf } from '../attributes.ts';
import { sourceKey } from '../block-keys.ts';
import { credentialsOf } from '../credentials.ts';
import {
  type ActionSpec,
  blockSpec,
  decimal,
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

const STAGE = 'detect:enumeration';
const HOUR = 60 * 60 * 1000;

const status = integer(400, 699, 'must be a SIP status from 400 to 699');

const settingsSchema = z.strictObject({
  failedUsers: z
    .strictObject({
      /** Distinct failed target users per source above which the source is an enumerator. */
      count: threshold.default(10),
      windowMs: windowMs.default(60_000),
      /** Failures that count whatever the request carried. */
      statuses: uniqueList(status, 16).default([403, 404, 604]),
      /** Failures that count only when the request carried credentials. */
      authStatuses: uniqueList(status, 4).default([401, 407]),
      /** Share of the source's requests to users that failed, 0..1. */
      minFailureRatio: decimal(0, 1).default(0.5),
    })
    .prefault({}),
  optionsSweep: z
    .strictObject({
      /** Distinct Request-URI users probed with OPTIONS per source. 0 turns the rule off. */
      count: integer(0, 10_000_000).default(20),
      windowMs: windowMs.default(60_000),
    })
    .prefault({}),
  trustedMultiplier: trustedMultiplier.default(10),
  action: oneOf(['block', 'drop', 'alert']).default('block'),
  block: blockSpec.default({ scope: 'address', durationMs: HOUR }),
});

export type EnumerationSettings = z.input<typeof settingsSchema>;

/** The user a request targets: REGISTER's To user, the Request-URI user otherwise (or To's when it has none). */
export function targetUserOf(request: SipRequest): string {
  if (request.method === 'REGISTER') return userOf(request.to.uri);
  const user = userOf(request.uri);
  return user.length > 0 ? user : userOf(request.to.uri);
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

export const createEnumerationStage: StageFactory = (settings: unknown, deps: StageDependencies): Stage => {
  const s = parseStageSettings(settingsSchema, settings);
  const failed = s.failedUsers;
  const statuses = new Set(failed.statuses);
  const authStatuses = new Set(failed.authStatuses);
  const sweep = s.optionsSweep;
  const { store, trust } = deps;
  const spec: ActionSpec = { action: s.action, block: s.block, tarpitMs: 0 };
  const stale = new StaleChallenges();

  function limit(base: number, source: string, now: number): number {
    return trust.isTrusted(source, now) ? base * s.trustedMultiplier : base;
  }

  return {
    name: 'enumeration',
    phase: 'detect',
    failMode: 'open',

    request(context: RequestContext, now: number): StageVerdict {
      if (sweep.count === 0 || context.direction !== 'client' || context.request.method !== 'OPTIONS') {
        return STAGE_PASS;
      }
      if (context.inDialog) return STAGE_PASS;
      const user = userOf(context.request.uri);
      if (user.length === 0) return STAGE_PASS; // a keep-alive to the server itself
      const source = context.flow.remoteAddress;
      const n = store.distinct(`enum:options|${source}`, user, sweep.windowMs, now);
      if (n <= sweep.count) return STAGE_PASS;
      const max = limit(sweep.count, source, now);
      if (n <= max) return STAGE_PASS;
      return verdictFor(spec, context.flow, {
        type: 'enumeration',
        stage: STAGE,
        rule: 'options-sweep',
        key: sourceKey(source),
        reason: `OPTIONS to ${Math.round(n)} distinct users in ${sweep.windowMs} ms, over ${max}`,
        details: { distinctUsers: round(n), threshold: max, windowMs: sweep.windowMs },
        defaultStatus: 404,
      });
    },

    response(context: RequestContext, response: SipResponse, now: number): StageVerdict {
      if (context.direction === 'client') stale.note(context, response, now);
      return STAGE_PASS;
    },

    outcome(context: OutcomeContext, now: number): StageVerdict {
      if (context.direction !== 'client') return STAGE_PASS;
      const request = context.request;
      const user = targetUserOf(request);
      if (user.length === 0) return STAGE_PASS;
      const source = context.flow.remoteAddress;
      const status = context.status;
      // Provisional statuses never reach here; every final outcome to a user counts in the ratio.
      const all = store.hit(`enum:all|${source}`, failed.windowMs, now);
      const isFailure =
        statuses.has(status) ||
        (authStatuses.has(status) &&
          credentialsOf(request) !== undefined &&
          !stale.take(source, request, now));
      if (!isFailure) return STAGE_PASS;
      const failures = store.hit(`enum:failed|${source}`, failed.windowMs, now);
      const users = store.distinct(`enum:users|${source}`, user, failed.windowMs, now);
      if (users <= failed.count) return STAGE_PASS;
      const ratio = all > 0 ? Math.min(1, failures / all) : 1;
      if (ratio < failed.minFailureRatio) return STAGE_PASS;
      const max = limit(failed.count, source, now);
      if (users <= max) return STAGE_PASS;
      return verdictFor(spec, context.flow, {
        type: 'enumeration',
        stage: STAGE,
        rule: 'failed-users',
        key: sourceKey(source),
        reason: `${Math.round(users)} distinct users failed (${status} last) in ${failed.windowMs} ms, over ${max}; ${Math.round(
          ratio * 100,
        )}% of this source's requests failed`,
        details: {
          distinctUsers: round(users),
          threshold: max,
          windowMs: failed.windowMs,
          failures: round(failures),
          requests: round(all),
          failureRatio: round(ratio),
          status,
        },
        defaultStatus: 404,
      });
    },
  };
};

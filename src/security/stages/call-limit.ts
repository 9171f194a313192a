import { z } from 'zod';
import type { OutcomeContext, RequestContext } from '../../core/inspector.ts';
import { identityKey } from '../../identity/identity.ts';
import { verifiedIdentityKey } from '../block-keys.ts';
import { eventFor } from '../event-input.ts';
import { integer, parseStageSettings } from '../rule-schema.ts';
import { STAGE_PASS, type Stage, type StageDependencies, type StageVerdict } from '../stage.ts';
import { NO_TRUNKS, type Trunk } from '../trunks.ts';

/**
 * At most N concurrent calls per caller identity, counted from the dialogs the proxy
 * holds: a stolen account cannot run up a bill with a hundred parallel calls.
 *
 * The caller identity is the From URI's user@host the proxy counts dialogs by. For a call
 * sipwarden authenticated itself (`context.identity`) that is the verified identity: the
 * authenticate stage refuses a call whose From is not the verified user@domain, so an
 * account's calls share one count however its holder writes From; the refusal names the
 * identity (`identity=user@domain`).
 *
 * A declared trunk (`security.trunks`, see trunks.ts) is held to its own limits instead:
 * `maxConcurrentCalls` per caller identity (the trunk's total when it calls with one fixed
 * identity) and `maxCallsPerSecond` new calls from it (a call the upstream challenges
 * counts once, not again when sent with credentials). Nothing else raises the limit: a
 * correct password proves the account, not that its holder is a trunk.
 */
const settingsSchema = z.strictObject({
  maxConcurrentCalls: integer(1, 100_000).default(5),
});

/** RFC 3261 21.5.4: a peer over its agreed rate may retry shortly. */
const RATE_RETRY_AFTER_S = 1;

export function createCallLimitStage(raw: unknown, deps: StageDependencies): Stage {
  const settings = parseStageSettings(settingsSchema, raw);
  const trunks = deps.trunks ?? NO_TRUNKS;

  function overConcurrency(context: RequestContext, active: number, trunk: Trunk | undefined): StageVerdict {
    const limit = trunk?.maxConcurrentCalls ?? settings.maxConcurrentCalls;
    return {
      action: 'reject',
      status: 403,
      reason: 'Too Many Concurrent Calls',
      event: eventFor(context.flow, {
        type: 'policy',
        stage: 'call-limit',
        rule: trunk ? 'trunk-concurrent-calls' : 'max-concurrent-calls',
        action: 'reject',
        status: 403,
        ...(trunk
          ? { key: `trunk=${trunk.name}` }
          : context.identity
            ? { key: verifiedIdentityKey(context.identity) }
            : {}),
        reason: trunk
          ? `trunk ${trunk.name}: caller identity over the trunk's concurrent call limit`
          : context.identity
            ? `${identityKey(context.identity)} over its concurrent call limit`
            : 'caller identity over its concurrent call limit',
        details: { active, limit, ...(trunk ? { trunk: trunk.name } : {}) },
      }),
    };
  }

  function overRate(context: RequestContext, trunk: Trunk, rate: number): StageVerdict {
    return {
      action: 'reject',
      status: 503,
      reason: 'Service Unavailable',
      headers: [{ name: 'Retry-After', value: String(RATE_RETRY_AFTER_S) }],
      event: eventFor(context.flow, {
        type: 'policy',
        stage: 'call-limit',
        rule: 'trunk-call-rate',
        action: 'reject',
        status: 503,
        key: `trunk=${trunk.name}`,
        reason: `trunk ${trunk.name}: new calls over its rate`,
        details: { rate: Math.round(rate * 10) / 10, limit: trunk.maxCallsPerSecond, trunk: trunk.name },
      }),
    };
  }

  function request(context: RequestContext, now: number): StageVerdict {
    // Set by the proxy for a new INVITE from the client side only.
    const active = context.activeDialogs;
    if (active === undefined) return STAGE_PASS;
    const trunk = trunks.forCall(context.flow.remoteAddress, context.request);
    if (trunk !== undefined) {
      if (active >= trunk.maxConcurrentCalls) return overConcurrency(context, active, trunk);
      // Only admitted calls count: a trunk offering more than its rate still gets its rate.
      const rate = trunk.callRate(now) + 1;
      if (rate > trunk.maxCallsPerSecond) return overRate(context, trunk, rate);
      trunk.callRate(now, true);
      return STAGE_PASS;
    }
    return active < settings.maxConcurrentCalls ? STAGE_PASS : overConcurrency(context, active, undefined);
  }
  /** A trunk's call challenged by the upstream comes again with credentials: count it once. */
  function outcome(context: OutcomeContext, now: number): StageVerdict {
    const { request: message, status } = context;
    if (status !== 401 && status !== 407) return STAGE_PASS;
    if (context.direction !== 'client' || message.method !== 'INVITE' || message.to.params.has('tag')) {
      return STAGE_PASS;
    }
    trunks.forCall(context.flow.remoteAddress, message)?.uncountCall(now);
    return STAGE_PASS;
  }
  // A detector of hijacked accounts: an allowlisted office is alerted on, not refused.
  return { name: 'call-limit', phase: 'detect', failMode: 'open', request, outcome };
}

/**
 * Toll fraud, caught while calls are set up: OpenSIPS fraud_detection's five values per
 * caller identity and called prefix (calls per minute, total calls, concurrent calls,
 * sequential calls to the prefix, call duration), each with a warning (an alert) and a
 * critical threshold (the rule's action), in rules that apply by hour and day; and beyond
 * it, destination categories (premium, high-risk, satellite...) allowed or denied per group
 * or role, spend velocity (minutes to expensive destinations in the last hour), destination
 * novelty (many destination groups new to the identity) and calls at unusual hours.
 *
 * The caller identity is the verified one (context.identity, set by the authenticate stage)
 * where it exists, else the From user and domain, marked unverified in every event. So a
 * hijacked account used from many addresses is stopped as one identity, not per address.
 *
 * Actions: alert; reject the call; block the identity (a key block `identity:user@domain`
 * in the block table, shown by `sipwarden blocks`, enforced here on every new call of it,
 * since the gate runs before authentication); hold (refuse its new calls until an operator
 * releases it: `sipwarden fraud release`). Call duration is known when a call ends (BYE),
 * as in fraud_detection, which checks it when the dialog ends: its critical action, and a
 * spend-velocity threshold crossed by a call that ends, fall on the identity's next calls
 * (block and hold; reject only reports).
 */
import type { OutcomeContext, RequestContext } from '../../core/inspector.ts';
import type { EventAction, EventInput } from '../../events/types.ts';
import { type DestinationTable, loadDestinations, SHIPPED_DESTINATIONS } from '../../fraud/destinations.ts';
import { e164Of, type NumberingPlan } from '../../fraud/dialled-number.ts';
import { FraudState, type IdentityRecord } from '../../fraud/fraud-state.ts';
import { FraudHolds } from '../../fraud/holds.ts';
import {
  type ActionSettings,
  type FraudRuleSettings,
  type FraudSettings,
  fraudSettingsSchema,
} from '../../fraud/settings.ts';
import { identityKey } from '../../identity/identity.ts';
import { TimeWindow } from '../../util/time-window.ts';
import { boundedText, domainOf, userOf } from '../attributes.ts';
import { identityBlockKey } from '../block-keys.ts';
import { eventFor } from '../event-input.ts';
import { parseStageSettings } from '../rule-schema.ts';
import {
  STAGE_PASS,
  type Stage,
  StageConfigError,
  type StageDependencies,
  type StageVerdict,
} from '../stage.ts';

const STAGE = 'fraud';
const DAY = 86_400_000;
export const HELD_REASON = 'Held For Fraud Review';
export const BLOCKED_REASON = 'Identity Blocked For Fraud';
const REFUSED_REASON = 'Call Refused By Fraud Check';
const DENIED_REASON = 'Destination Not Allowed';

/** Who places a call: the verified identity, else the From user (unverified). */
interface Caller {
  readonly key: string;
  readonly verified: boolean;
  readonly groups: readonly string[];
  readonly roles: readonly string[];
}

function callerOf(context: RequestContext): Caller {
  const identity = context.identity;
  if (identity !== undefined) {
    return { key: identityKey(identity), verified: true, groups: identity.groups, roles: identity.roles };
  }
  const from = context.request.from.uri;
  return { key: `${userOf(from)}@${domainOf(from)}`, verified: false, groups: [], roles: [] };
}

interface Audience {
  readonly users?: readonly string[] | undefined;
  readonly groups?: readonly string[] | undefined;
  readonly roles?: readonly string[] | undefined;
}

/**
 * Everyone when the rule names no user, group or role; else a caller it names (by identity),
 * or a verified caller in one of its groups or roles.
 */
function applies(audience: Audience, caller: Caller): boolean {
  if (audience.users === undefined && audience.groups === undefined && audience.roles === undefined)
    return true;
  return (
    (audience.users?.includes(caller.key) ?? false) ||
    (audience.groups?.some((g) => caller.groups.includes(g)) ?? false) ||
    (audience.roles?.some((r) => caller.roles.includes(r)) ?? false)
  );
}

interface CompiledRule extends FraudRuleSettings {
  readonly window: TimeWindow | undefined;
}

type Level = 'warning' | 'critical';

/** One check that fired. */
interface Finding {
  readonly rule: string;
  readonly level: Level;
  readonly spec: ActionSettings;
  readonly reason: string;
  readonly details: Record<string, string | number>;
  /** The reason phrase of a refusal. */
  readonly phrase: string;
}

const THRESHOLDS = [
  ['callsPerMinute', 'calls per minute'],
  ['totalCalls', 'total calls in the period'],
  ['concurrentCalls', 'concurrent calls'],
  ['sequentialCalls', 'sequential calls to the prefix'],
] as const;

function levelOf(
  value: number,
  pair: { warning?: number | undefined; critical?: number | undefined },
): Level | undefined {
  if (pair.critical !== undefined && value > pair.critical) return 'critical';
  if (pair.warning !== undefined && value > pair.warning) return 'warning';
  return undefined;
}

/** How strongly a finding acts: the strongest decides the call. */
function weight(f: Finding): number {
  if (f.level === 'warning' || f.spec.action === 'alert') return 1;
  return f.spec.action === 'block' ? 4 : f.spec.action === 'hold' ? 3 : 2;
}

/** Loads the destination table and checks the categories the settings name against it. */
function destinationTable(settings: FraudSettings): DestinationTable {
  const path = settings.destinations.file ?? SHIPPED_DESTINATIONS;
  const loaded = loadDestinations(path, settings.destinations.maxRows);
  if (!loaded.ok) throw new StageConfigError(loaded.errors.map((e) => `destinations.file: ${e}`));
  const known = loaded.table.categories();
  const issues: string[] = [];
  const check = (where: string, list: readonly string[] | undefined) => {
    for (const category of list ?? []) {
      if (!known.has(category)) {
        issues.push(
          `${where}: category "${category}" is not in ${path} (it has: ${[...known].sort().join(', ')})`,
        );
      }
    }
  };
  settings.access.forEach((a, i) => {
    check(`access[${i}].allow`, a.allow);
    check(`access[${i}].deny`, a.deny);
  });
  check('spendVelocity.categories', settings.spendVelocity?.categories);
  if (issues.length > 0) throw new StageConfigError(issues);
  return loaded.table;
}

export function createFraudStage(raw: unknown, deps: StageDependencies): Stage {
  const settings = parseStageSettings(fraudSettingsSchema, raw);
  const table = destinationTable(settings);
  const plan: NumberingPlan = settings.destinations.numbering;
  const rules: CompiledRule[] = settings.rules.map((r) => ({
    ...r,
    window: r.when === undefined ? undefined : new TimeWindow(r.when),
  }));
  const rulesByName = new Map(rules.map((r) => [r.name, r]));
  const unusual = settings.unusualHours.map((u) => ({ ...u, window: new TimeWindow(u.normal) }));
  const spend = settings.spendVelocity;
  const novelty = settings.novelty;
  const holds = deps.fraudHolds ?? new FraudHolds();
  /** Whether calls are counted and followed at all. */
  const counts = rules.length > 0 || spend !== undefined || novelty !== undefined;
  const state = new FraudState({
    maxIdentities: settings.maxIdentities,
    maxCalls: settings.maxCalls,
    maxCallMs: settings.maxCallMs,
    totalCallsPeriodMs: settings.totalCallsPeriodMs,
  });

  /** The rule for a call: the longest prefix of the number among the rules applying now to this caller. */
  function ruleFor(e164: string | undefined, caller: Caller, now: number): CompiledRule | undefined {
    let best: CompiledRule | undefined;
    for (const rule of rules) {
      if (rule.prefix !== '' && (e164 === undefined || !e164.startsWith(rule.prefix))) continue;
      if (best !== undefined && rule.prefix.length <= best.prefix.length) continue;
      if (!applies(rule, caller) || (rule.window !== undefined && !rule.window.contains(now))) continue;
      best = rule;
    }
    return best;
  }

  function event(
    context: { flow: RequestContext['flow'] },
    f: Finding,
    caller: { key: string; verified: boolean },
    action: EventAction,
    status?: number,
  ) {
    return eventFor(context.flow, {
      type: 'fraud',
      stage: STAGE,
      // The event bus folds events of one rule and key into one aggregate: a warning has
      // a name of its own, so that the critical action that follows it is reported too.
      rule: f.level === 'warning' ? `${f.rule}:warning` : f.rule,
      action,
      key: identityBlockKey(caller.key),
      reason: `${caller.key}${caller.verified ? '' : ' (unverified)'}: ${f.reason}`,
      ...(status === undefined ? {} : { status }),
      details: { ...f.details, level: f.level, verified: caller.verified ? 'yes' : 'no' },
    });
  }

  /** The verdict of a finding on a call being set up. */
  function verdictOf(context: RequestContext, f: Finding, caller: Caller, now: number): StageVerdict {
    const spec = f.spec;
    if (f.level === 'warning' || spec.action === 'alert')
      return { action: 'alert', event: event(context, f, caller, 'alert') };
    switch (spec.action) {
      case 'reject':
        return {
          action: 'reject',
          status: spec.status,
          reason: f.phrase,
          event: event(context, f, caller, 'reject', spec.status),
        };
      case 'hold':
        holds.hold({
          identity: caller.key,
          verified: caller.verified,
          rule: f.rule,
          reason: f.reason,
          status: spec.status,
          since: now,
        });
        f.details.fraudAction = 'hold';
        return {
          action: 'reject',
          status: spec.status,
          reason: HELD_REASON,
          event: event(context, f, caller, 'reject', spec.status),
        };
      case 'block':
        f.details.blockKey = identityBlockKey(caller.key);
        f.details.blockMs = spec.blockMs;
        return {
          action: 'block',
          scope: 'key',
          key: identityBlockKey(caller.key),
          durationMs: spec.blockMs,
          status: spec.status,
          // The caller learns that it is blocked, not the thresholds that blocked it.
          reason: BLOCKED_REASON,
          event: event(context, f, caller, 'block', spec.status),
        };
    }
  }

  /** A finding when a call ended: block and hold fall on the identity's next calls; the call itself goes on. */
  function afterCall(
    context: RequestContext,
    f: Finding,
    caller: { key: string; verified: boolean },
    now: number,
  ): { action: 'alert'; event: EventInput } {
    if (f.level === 'critical' && f.spec.action === 'hold') {
      holds.hold({
        identity: caller.key,
        verified: caller.verified,
        rule: f.rule,
        reason: f.reason,
        status: f.spec.status,
        since: now,
      });
      f.details.fraudAction = 'hold';
    } else if (f.level === 'critical' && f.spec.action === 'block') {
      const key = identityBlockKey(caller.key);
      deps.blocks.block({
        key,
        scope: 'key',
        reason: f.reason,
        rule: f.rule,
        createdAt: now,
        expiresAt: now + f.spec.blockMs,
      });
      f.details.blockKey = key;
      f.details.blockMs = f.spec.blockMs;
      return { action: 'alert', event: event(context, f, caller, 'block') };
    }
    return { action: 'alert', event: event(context, f, caller, 'alert') };
  }

  function refusal(
    context: RequestContext,
    caller: Caller,
    rule: string,
    status: number,
    phrase: string,
    reason: string,
  ): StageVerdict {
    const f: Finding = {
      rule,
      level: 'critical',
      spec: { action: 'reject', status, blockMs: 0 },
      reason,
      details: {},
      phrase,
    };
    return { action: 'reject', status, reason: phrase, event: event(context, f, caller, 'reject', status) };
  }

  function thresholdFindings(
    rule: CompiledRule,
    record: IdentityRecord,
    now: number,
    into: Finding[],
    base: Record<string, string | number>,
  ): void {
    const counters = state.countAttempt(record, rule.name, now);
    const values = {
      callsPerMinute: counters.perMinute.total(now),
      totalCalls: counters.total,
      concurrentCalls: counters.concurrent + 1,
      sequentialCalls: record.sequential,
    };
    for (const [name, words] of THRESHOLDS) {
      const pair = rule[name];
      if (pair === undefined) continue;
      const value = values[name];
      const level = levelOf(value, pair);
      if (level === undefined) continue;
      const limit = pair[level]!;
      into.push({
        rule: rule.name,
        level,
        spec: rule,
        reason: `${value} ${words} for prefix "${rule.prefix}" over the ${level} threshold ${limit}`,
        details: { ...base, check: name, value, threshold: limit, prefix: rule.prefix },
        phrase: REFUSED_REASON,
      });
    }
  }

  function newCall(context: RequestContext, now: number): StageVerdict {
    const caller = callerOf(context);
    const blockKey = identityBlockKey(caller.key);
    if (deps.blocks.hasKeyBlocks()) {
      const entry = deps.blocks.matchKey(blockKey, now);
      if (entry !== undefined) {
        entry.hits++;
        return refusal(
          context,
          caller,
          'identity-blocked',
          403,
          BLOCKED_REASON,
          // The block's own reason names the identity and the rule's finding already.
          entry.rule === 'admin'
            ? `blocked by an operator: ${entry.reason}`
            : `blocked by rule ${entry.rule}`,
        );
      }
    }
    const hold = holds.get(caller.key);
    if (hold !== undefined) {
      hold.refused++;
      return refusal(
        context,
        caller,
        'identity-held',
        hold.status,
        HELD_REASON,
        `held for an operator (${hold.rule}): ${hold.reason}`,
      );
    }
    if (!caller.verified && !settings.unverified) return STAGE_PASS;

    const dialled = userOf(context.request.uri);
    const e164 = e164Of(dialled, plan);
    const destination = e164 === undefined ? undefined : table.match(e164);
    const category = destination?.category;
    const base: Record<string, string | number> = {
      number: boundedText(dialled),
      category: category ?? 'unlisted',
      ...(destination === undefined ? {} : { destination: destination.prefix }),
    };
    const findings: Finding[] = [];

    if (category !== undefined) {
      for (const a of settings.access) {
        if (!applies(a, caller)) continue;
        if (a.allow?.includes(category)) break;
        if (a.deny?.includes(category)) {
          findings.push({
            rule: a.name,
            level: 'critical',
            spec: a,
            reason: `calls to ${category} destinations are not allowed (${destination?.description ?? ''})`,
            details: { ...base, check: 'category' },
            phrase: DENIED_REASON,
          });
          break;
        }
      }
    }

    const hours = unusual.find((u) => applies(u, caller));
    if (hours !== undefined && !hours.window.contains(now)) {
      findings.push({
        rule: hours.name,
        level: 'critical',
        spec: hours,
        reason: 'call outside the normal hours',
        details: { ...base, check: 'unusualHours' },
        phrase: REFUSED_REASON,
      });
    }

    // Nothing to count (access rules or unusual hours alone): no state for this caller.
    if (!counts) return strongest(context, findings, caller, now);
    const record = state.identity(caller.key);
    const rule = ruleFor(e164, caller, now);
    if (rule !== undefined) thresholdFindings(rule, record, now, findings, base);

    const expensive = spend !== undefined && category !== undefined && spend.categories.includes(category);
    if (expensive) {
      const minutes = state.spendMinutes(record, now);
      const level = levelOf(minutes, { warning: spend.warningMinutes, critical: spend.criticalMinutes });
      if (level !== undefined) {
        const limit = level === 'critical' ? spend.criticalMinutes : spend.warningMinutes;
        findings.push({
          rule: 'spend-velocity',
          level,
          spec: spend,
          reason: `${Math.round(minutes)} minutes to expensive destinations in the last hour, over the ${level} threshold ${limit}`,
          details: {
            ...base,
            check: 'spendVelocity',
            value: Math.round(minutes * 10) / 10,
            threshold: limit ?? 0,
          },
          phrase: REFUSED_REASON,
        });
      }
    }

    if (novelty !== undefined && destination !== undefined && e164 !== undefined) {
      // A group: the table row's prefix (a country, a range), or the first three digits when
      // only a world zone matched. Only a call to a new group fires: known ones go on.
      const group = destination.prefix.length >= 2 ? destination.prefix : e164.slice(0, 3);
      const fresh = state.noteDestination(
        record,
        group,
        now,
        novelty.windowMs,
        novelty.knownForDays * DAY,
        novelty.maxKnownPerIdentity,
      );
      const level = levelOf(fresh, novelty);
      if (level !== undefined) {
        const limit = novelty[level]!;
        findings.push({
          rule: 'destination-novelty',
          level,
          spec: novelty,
          reason: `${fresh} destination groups new to this caller within ${Math.round(novelty.windowMs / 60_000)} minutes, over the ${level} threshold ${limit}`,
          details: { ...base, check: 'novelty', group, value: fresh, threshold: limit },
          phrase: REFUSED_REASON,
        });
      }
    }

    const verdict = strongest(context, findings, caller, now);
    // A refused call is not followed: it never counts as concurrent.
    if (verdict.action === 'pass' || verdict.action === 'alert') {
      state.track(
        context.request.callId,
        { identity: caller.key, verified: caller.verified, rule: rule?.name, expensive, startedAt: now },
        now,
      );
    }
    return verdict;
  }

  /** The verdict of the strongest finding (the first of equals); only it acts (a hold is added once chosen). */
  function strongest(
    context: RequestContext,
    findings: readonly Finding[],
    caller: Caller,
    now: number,
  ): StageVerdict {
    let best: Finding | undefined;
    for (const finding of findings) if (best === undefined || weight(finding) > weight(best)) best = finding;
    return best === undefined ? STAGE_PASS : verdictOf(context, best, caller, now);
  }

  function callEnded(context: RequestContext, now: number): StageVerdict {
    const ended = state.end(context.request.callId, now);
    if (ended === undefined || ended.answeredAt === undefined) return STAGE_PASS;
    const caller = { key: ended.identity, verified: ended.verified };
    const rule = ended.rule === undefined ? undefined : rulesByName.get(ended.rule);
    const seconds = Math.round(ended.seconds);
    const found: Finding[] = [];
    if (rule?.callDurationS !== undefined) {
      const level = levelOf(seconds, rule.callDurationS);
      if (level !== undefined) {
        const limit = rule.callDurationS[level]!;
        found.push({
          rule: rule.name,
          level,
          spec: rule,
          reason: `a call of ${seconds} s to prefix "${rule.prefix}" over the ${level} threshold ${limit} s`,
          details: { check: 'callDuration', value: seconds, threshold: limit, prefix: rule.prefix },
          phrase: REFUSED_REASON,
        });
      }
    }
    if (spend !== undefined && ended.expensive) {
      const minutes = state.spendMinutes(state.identity(ended.identity), now);
      const level = levelOf(minutes, { warning: spend.warningMinutes, critical: spend.criticalMinutes });
      if (level !== undefined) {
        const limit = level === 'critical' ? spend.criticalMinutes : spend.warningMinutes;
        found.push({
          rule: 'spend-velocity',
          level,
          spec: spend,
          reason: `${Math.round(minutes)} minutes to expensive destinations in the last hour, over the ${level} threshold ${limit}`,
          details: { check: 'spendVelocity', value: Math.round(minutes * 10) / 10, threshold: limit ?? 0 },
          phrase: REFUSED_REASON,
        });
      }
    }
    let verdict: StageVerdict = STAGE_PASS;
    for (const f of found) {
      const candidate = afterCall(context, f, caller, now);
      if (verdict.action === 'pass' || candidate.event.action === 'block') verdict = candidate;
    }
    return verdict;
  }

  function request(context: RequestContext, now: number): StageVerdict {
    const method = context.request.method;
    if (method === 'INVITE' && context.direction === 'client' && !context.inDialog)
      return newCall(context, now);
    // Either party may hang up (RFC 3261 15.1.1).
    if (method === 'BYE' && context.inDialog) return callEnded(context, now);
    return STAGE_PASS;
  }

  function outcome(context: OutcomeContext, now: number): StageVerdict {
    const message = context.request;
    if (message.method !== 'INVITE' || context.direction !== 'client' || message.to.params.has('tag'))
      return STAGE_PASS;
    const { status } = context;
    if (status >= 200 && status < 300) {
      state.answered(message.callId, now);
    } else if (status >= 300) {
      const ended = state.end(message.callId, now);
      // Challenged by the upstream: the call comes again with credentials and counts then.
      if (ended?.rule !== undefined && (status === 401 || status === 407))
        state.uncountAttempt(ended.identity, ended.rule, now);
    }
    return STAGE_PASS;
  }

  return { name: STAGE, phase: 'policy', failMode: 'open', request, outcome };
}

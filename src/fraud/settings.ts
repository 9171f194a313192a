/**
 * The fraud stage's settings (`security.settings.fraud`), checked once at start. The rules
 * follow OpenSIPS's fraud_detection module: a rule names a called prefix, the hours and days
 * it applies (a TimeWindow), and a warning and a critical threshold for each of five
 * values counted per caller identity and rule: calls per minute, total calls, concurrent
 * calls, sequential calls to the rule's prefix, and call duration. Warning raises an alert;
 * critical takes the rule's action. Beyond it: categories of destinations allowed or denied
 * per group or role, spend velocity, destination novelty and unusual hours.
 */
import { z } from 'zod';
import { boolean, string, timeWindowSpec } from '../config/zod-fields.ts';
import { integer, oneOf, rejectStatus, ruleName, uniqueList } from '../security/rule-schema.ts';
import { CATEGORY } from './destinations.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** The names the stage's own checks report under. */
export const RESERVED_RULES = [
  'spend-velocity',
  'destination-novelty',
  'identity-blocked',
  'identity-held',
] as const;

/** What a fraud check does when it fires. `hold` refuses the identity's calls until an operator releases it. */
export const FRAUD_ACTIONS = ['alert', 'reject', 'block', 'hold'] as const;
export type FraudAction = (typeof FRAUD_ACTIONS)[number];

const category = string().regex(CATEGORY, {
  error: 'must be a lower-case category name (letters, digits, dashes)',
});
const categories = uniqueList(category, 64);
const names = uniqueList(string().min(1).max(64), 256);

const windowSpec = timeWindowSpec;

/**
 * Whom a rule applies to: any caller when none is given; else the callers listed by identity
 * (verified or not), and verified identities in one of the groups or roles.
 */
const appliesTo = {
  /** Caller identities (`user@domain`, lower-case) the rule applies to, verified or not. */
  users: uniqueList(
    string().regex(/^[^@\sA-Z]{1,128}@[^@\sA-Z]{1,128}$/, { error: 'must be user@domain, in lower case' }),
    10_000,
  ).optional(),
  groups: names.optional(),
  roles: names.optional(),
};

const actionFields = {
  action: oneOf(FRAUD_ACTIONS),
  /** The answer of a refused call (reject, block, hold: then of every call of the identity while held). */
  status: rejectStatus.default(403),
  /** How long a block lasts. */
  blockMs: integer(
    1000,
    30 * DAY,
    'must be a duration in milliseconds from 1000 to 2592000000 (30 days)',
  ).default(HOUR),
};

function belowCritical(
  warning: number | undefined,
  critical: number | undefined,
  path: string,
  ctx: z.RefinementCtx,
): void {
  if (warning !== undefined && critical !== undefined && warning >= critical) {
    ctx.addIssue({ code: 'custom', path: [path], message: 'must be below critical' });
  }
}

function pair(max: number) {
  return z
    .strictObject({ warning: integer(1, max).optional(), critical: integer(1, max).optional() })
    .superRefine((p, ctx) => belowCritical(p.warning, p.critical, 'warning', ctx));
}

/** One fraud_detection rule. */
const rule = z.strictObject({
  name: ruleName,
  /** E.164 digits the dialled number starts with; '' (default): every number. */
  prefix: string()
    .regex(/^\d{0,15}$/, { error: 'must be 0 to 15 digits (E.164, country code first)' })
    .default(''),
  when: windowSpec.optional(),
  ...appliesTo,
  callsPerMinute: pair(100_000).optional(),
  totalCalls: pair(10_000_000).optional(),
  concurrentCalls: pair(100_000).optional(),
  sequentialCalls: pair(10_000_000).optional(),
  callDurationS: pair(7 * 24 * 3600).optional(),
  ...actionFields,
  action: actionFields.action.default('reject'),
});

const access = z
  .strictObject({
    name: ruleName,
    ...appliesTo,
    allow: categories.optional(),
    deny: categories.optional(),
    ...actionFields,
    action: actionFields.action.default('reject'),
  })
  .refine((a) => (a.allow?.length ?? 0) + (a.deny?.length ?? 0) > 0, {
    error: 'must list categories to allow or deny',
  });

const spendVelocity = z
  .strictObject({
    categories: categories.min(1).default(['premium', 'high-risk', 'satellite']),
    warningMinutes: integer(1, 100_000).optional(),
    criticalMinutes: integer(1, 100_000).optional(),
    ...actionFields,
    action: actionFields.action.default('hold'),
  })
  .superRefine((s, ctx) => belowCritical(s.warningMinutes, s.criticalMinutes, 'warningMinutes', ctx));

const novelty = z
  .strictObject({
    /** New destination groups (table prefixes) within this window are counted. */
    windowMs: integer(60_000, 7 * DAY).default(HOUR),
    /** A group called within this many days is known, not new. */
    knownForDays: integer(1, 365).default(30),
    warning: integer(1, 1000).optional(),
    critical: integer(1, 1000).optional(),
    /** Groups remembered per identity at most (the least recently called are forgotten first). */
    maxKnownPerIdentity: integer(4, 1024).default(64),
    ...actionFields,
    action: actionFields.action.default('hold'),
  })
  .superRefine((s, ctx) => belowCritical(s.warning, s.critical, 'warning', ctx));

const unusualHours = z.strictObject({
  name: ruleName,
  ...appliesTo,
  /** The normal hours; a call outside them fires. */
  normal: windowSpec,
  ...actionFields,
  action: actionFields.action.default('alert'),
});

const numbering = z
  .strictObject({
    internationalPrefix: string()
      .regex(/^\d{0,4}$/, { error: 'must be 0 to 4 digits' })
      .default('00'),
    nationalPrefix: string()
      .regex(/^\d{0,4}$/, { error: 'must be 0 to 4 digits' })
      .default('0'),
    countryCode: string()
      .regex(/^[1-9]\d{0,2}$/, { error: 'must be a country code of 1 to 3 digits' })
      .optional(),
  })
  .prefault({});

export const fraudSettingsSchema = z
  .strictObject({
    destinations: z
      .strictObject({
        /** Absent: the table shipped with sipwarden (data/destinations.csv). */
        file: string().min(1).optional(),
        maxRows: integer(1, 200_000).default(20_000),
        numbering,
      })
      .prefault({}),
    access: z.array(access).max(256).default([]),
    rules: z.array(rule).max(1024).default([]),
    /** Total calls are counted in fixed periods of this length (UTC-aligned): 1 day by default. */
    totalCallsPeriodMs: integer(60_000, 31 * DAY).default(DAY),
    spendVelocity: spendVelocity.optional(),
    novelty: novelty.optional(),
    unusualHours: z.array(unusualHours).max(256).default([]),
    /** Unverified callers (From user, no authentication) are checked too: default true. */
    unverified: boolean.default(true),
    /** Caller identities with counters at once; the least recently seen is forgotten beyond. */
    maxIdentities: integer(100, 10_000_000).default(100_000),
    /** Calls followed at once (for concurrency and duration); the oldest is forgotten beyond. */
    maxCalls: integer(100, 10_000_000).default(100_000),
    /** Longest a call is followed without its BYE (the maximum session length). */
    maxCallMs: integer(60_000, 7 * DAY).default(12 * HOUR),
  })
  .superRefine((settings, ctx) => {
    // Events, holds and blocks name the rule: one name, one rule.
    const seen = new Set<string>(RESERVED_RULES);
    for (const [list, entries] of [
      ['access', settings.access],
      ['rules', settings.rules],
      ['unusualHours', settings.unusualHours],
    ] as const) {
      entries.forEach((entry, i) => {
        if (seen.has(entry.name)) {
          ctx.addIssue({
            code: 'custom',
            path: [list, i, 'name'],
            message: `"${entry.name}" names another rule already`,
          });
        }
        seen.add(entry.name);
      });
    }
  });

export type FraudSettings = z.output<typeof fraudSettingsSchema>;
export type FraudRuleSettings = FraudSettings['rules'][number];
export type AccessSettings = FraudSettings['access'][number];
export type ActionSettings = { action: FraudAction; status: number; blockMs: number };

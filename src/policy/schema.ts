/**
 * `policy:` in the configuration file: identity policy as first-match rules. Each rule has
 * a unique `name`, a `match` (every condition given must hold; none given: every request)
 * and an `action`. What each condition and action means: policy.ts. Everything a rule names
 * is checked here, once, with the path of the mistake (`policy.rules[2].match.to.regex:
 * ...`): CIDR networks, time windows, destination prefixes and regular expressions
 * (safe-regex.ts). What needs more than the rule itself (rules that can never match, groups
 * the user store does not know, an authenticator for `require-authentication`) is checked
 * by check.ts for `check-config` and `start`.
 */
import { z } from 'zod';
import { boolean, integer, oneOf, string, timeWindowSpec } from '../config/zod-fields.ts';
import { method, rejectStatus, ruleName, uniqueList } from '../security/rule-schema.ts';
import { parseCidr } from '../state/cidr.ts';
import { compileSafeRegex } from './safe-regex.ts';

export const POLICY_TRANSPORTS = ['udp', 'tcp', 'tls'] as const;

/**
 * allow and deny decide; require-authentication, require-tls, require-encrypted-media and
 * limit decide only when their requirement is not met (no identity, not TLS, a call offered
 * without SRTP keys sipwarden can use, over a limit): otherwise the evaluation goes on with
 * the next rule.
 */
export const POLICY_ACTIONS = [
  'allow',
  'deny',
  'require-authentication',
  'require-tls',
  'require-encrypted-media',
  'limit',
] as const;
export type PolicyActionName = (typeof POLICY_ACTIONS)[number];

/** The actions that end the evaluation whenever their rule matches. */
export const FINAL_ACTIONS: ReadonlySet<PolicyActionName> = new Set(['allow', 'deny']);

/** The name events give the decision when no rule decided and `policy.default` is deny. */
export const DEFAULT_RULE_NAME = 'default';

const MAX_RULES = 1000;
const MAX_LIST = 1000;

/**
 * One value or a list of them, as a list. A single value is made a list of one before it is
 * checked, so that a wrong value reads with its own message (`networks[0]: must be ...`).
 */
function oneOrMany<T extends z.ZodType>(item: T, max: number) {
  return z.preprocess(
    (value) => (Array.isArray(value) || value === undefined ? value : [value]),
    uniqueList(item, max).min(1, { error: 'must not be empty' }),
  );
}

const lowerName = (what: string) =>
  string(`must be ${what}`)
    .min(1, { error: `must be ${what}` })
    .max(128, { error: `must be ${what} of at most 128 characters` })
    .transform((v) => v.toLowerCase());

const network = string().refine((v) => parseCidr(v.trim()) !== undefined, {
  error: 'must be an IP address or CIDR network',
});

/** A dialled-number prefix: `+` and digits (international; `+` alone: every international number), or digits, `*` and `#` as dialled. */
const prefix = string().regex(/^(\+[0-9*#]{0,16}|[0-9*#]{1,16})$/, {
  error: 'must be a number prefix: digits (and * or #), with a leading + for an international one',
});

const regex = string().superRefine((source, ctx) => {
  const check = compileSafeRegex(source);
  if (!check.ok) ctx.addIssue({ code: 'custom', message: check.reason });
});

const time = timeWindowSpec;

const match = z
  .strictObject({
    /** `alice` (any domain) or `alice@example.com`. */
    users: oneOrMany(lowerName('a user name'), MAX_LIST).optional(),
    groups: oneOrMany(lowerName('a group name'), MAX_LIST).optional(),
    roles: oneOrMany(lowerName('a role name'), MAX_LIST).optional(),
    organisations: oneOrMany(lowerName('an organisation name'), MAX_LIST).optional(),
    domains: oneOrMany(lowerName('a domain'), MAX_LIST).optional(),
    /** true: the request carries a verified identity; false: it does not. */
    authenticated: boolean.optional(),
    /** How the identity was proved: `digest` (a password) or `tls-certificate` (mutual TLS). */
    authenticatedBy: oneOrMany(oneOf(['digest', 'tls-certificate'] as const), 2).optional(),
    /** Source addresses or networks. */
    networks: oneOrMany(network, MAX_LIST).optional(),
    transports: oneOrMany(oneOf(POLICY_TRANSPORTS), 3).optional(),
    methods: oneOrMany(method, 32).optional(),
    /** The dialled number (dialled-number.ts). */
    to: z
      .strictObject({
        prefixes: oneOrMany(prefix, MAX_LIST).optional(),
        regex: regex.optional(),
      })
      .optional(),
    time: time.optional(),
  })
  .prefault({});

const reasonText = string().regex(/^[\x20-\x7e]{1,64}$/, {
  error: 'must be 1 to 64 printable ASCII characters (it is sent as the SIP reason phrase)',
});

const limit = z.strictObject({
  /** Calls (INVITE dialogs) the caller may have open at once. */
  concurrentCalls: integer(1, 100_000, 'must be an integer from 1 to 100000').optional(),
  /** New calls per minute, counted per verified identity (else per source address). */
  callsPerMinute: integer(1, 100_000, 'must be an integer from 1 to 100000').optional(),
});

const rule = z
  .strictObject({
    name: ruleName,
    match,
    action: oneOf(POLICY_ACTIONS),
    /** The answer of a deny, a require-tls or a limit (default 403); of a require-encrypted-media (default 488). */
    status: rejectStatus.optional(),
    /** Its reason phrase (default: the status's usual phrase). */
    reason: reasonText.optional(),
    limit: limit.optional(),
  })
  .superRefine((r, ctx) => {
    if (r.name === DEFAULT_RULE_NAME) {
      ctx.addIssue({
        code: 'custom',
        path: ['name'],
        message: `"${DEFAULT_RULE_NAME}" names policy.default`,
      });
    }
    const answers =
      r.action === 'deny' ||
      r.action === 'require-tls' ||
      r.action === 'require-encrypted-media' ||
      r.action === 'limit';
    for (const key of ['status', 'reason'] as const) {
      if (r[key] !== undefined && !answers) {
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: 'only applies when action is deny, require-tls, require-encrypted-media or limit',
        });
      }
    }
    if (r.action === 'limit') {
      if (r.limit?.concurrentCalls === undefined && r.limit?.callsPerMinute === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['limit'],
          message: 'is required when action is limit: set concurrentCalls, callsPerMinute or both',
        });
      }
    } else if (r.limit !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['limit'], message: 'only applies when action is limit' });
    }
  });

export const policySchema = z
  .strictObject({
    /** What happens to a request no rule decides: today's behaviour is allow. */
    default: oneOf(['allow', 'deny']).default('allow'),
    /** The international access prefix a dialled number may start with instead of `+`. */
    internationalPrefix: string()
      .regex(/^[0-9]{0,4}$/, { error: 'must be up to 4 digits (00 in most of the world, 011 in NANP)' })
      .default('00'),
    rules: z
      .array(rule)
      .max(MAX_RULES, { error: `must list at most ${MAX_RULES} rules` })
      .default([]),
  })
  .superRefine((policy, ctx) => {
    const seen = new Set<string>();
    policy.rules.forEach((r, index) => {
      if (seen.has(r.name)) {
        ctx.addIssue({ code: 'custom', path: ['rules', index, 'name'], message: `repeats "${r.name}"` });
      }
      seen.add(r.name);
      const international = policy.internationalPrefix;
      r.match.to?.prefixes?.forEach((p, i) => {
        if (international.length > 0 && p.startsWith(international)) {
          ctx.addIssue({
            code: 'custom',
            path: ['rules', index, 'match', 'to', 'prefixes', i],
            message: `starts with the international prefix ${international}: write +${p.slice(international.length)} (numbers dialled with ${international} are matched as +)`,
          });
        }
      });
    });
  })
  .prefault({});

export type PolicySettings = z.output<typeof policySchema>;
export type PolicyRuleSettings = PolicySettings['rules'][number];
export type PolicyMatchSettings = PolicyRuleSettings['match'];

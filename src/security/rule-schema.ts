/**
 * The pieces the detection stages' settings are built from, and the one way they are
 * checked: at start, by the stage's factory, every problem reported as `path: reason`
 * (paths relative to the stage's settings) in a StageConfigError. Objects are strict (a
 * misspelt key is an error, with a suggestion) and numbers bounded, as in the main config.
 */
import { z } from 'zod';
import { formatIssues, genericMessage } from '../config/format-issues.ts';
import { boolean, integer as boundedInteger, decimal, oneOf, string } from '../config/zod-fields.ts';
import { ATTRIBUTES, type Attribute } from './attributes.ts';
import { StageConfigError } from './stage.ts';

const HOUR = 60 * 60 * 1000;
const DAY = 24 * HOUR;

/** An integer in `min..max`; a missing value reads "is required". */
export function integer(min: number, max: number, message = `must be an integer from ${min} to ${max}`) {
  return boundedInteger(min, max, message);
}

export { boolean, decimal, oneOf };

/** A counting window: 100 ms to 1 day. */
export const windowMs = integer(100, DAY, 'must be a window in milliseconds from 100 to 86400000 (1 day)');

/** How long a block lasts: 1 s to 30 days. */
export const blockDurationMs = integer(
  1000,
  30 * DAY,
  'must be a duration in milliseconds from 1000 to 2592000000 (30 days)',
);

/** A count threshold: passed when the count goes above it. */
export const threshold = integer(1, 10_000_000, 'must be an integer from 1 to 10000000');

/** How many times a trusted source's per-source thresholds are multiplied. */
export const trustedMultiplier = decimal(1, 1000);

/** A SIP status a stage may answer with (a final, non-2xx, non-3xx one). */
export const rejectStatus = integer(400, 699, 'must be a SIP status from 400 to 699');

/** A rule or signature name: what events and `disabled` lists use. */
export const ruleName = string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, {
  error: 'must be 1 to 64 lower-case letters, digits and dashes',
});

export const attribute = oneOf(ATTRIBUTES);

/** A list without repeats. */
export function uniqueList<T extends z.ZodType>(item: T, max: number) {
  return z
    .array(item)
    .max(max, { error: `must list at most ${max} entries` })
    .refine((list) => new Set(list).size === list.length, { error: 'must not list an entry twice' });
}

/** One value or a list of them, normalised to a list. */
export function oneOrMany<T extends z.ZodType>(item: T, max: number) {
  return z.union([item.transform((v) => [v]), uniqueList(item, max).min(1, { error: 'must not be empty' })], {
    error: (issue) => (issue.input === undefined ? undefined : 'must be a value or a list of values'),
  });
}

/** SIP methods are case-sensitive tokens (RFC 3261 section 7.1); configs spell them upper-case. */
export const method = string().regex(/^[A-Za-z][A-Za-z0-9._!%*+`'~-]{0,31}$/, {
  error: 'must be a SIP method name such as INVITE',
});

export const ACTIONS = ['alert', 'reject', 'drop', 'block', 'tarpit'] as const;
export type Action = (typeof ACTIONS)[number];

export const BLOCK_SCOPES = ['address', 'network', 'key'] as const;
export type BlockScope = (typeof BLOCK_SCOPES)[number];

export const blockSpec = z.strictObject({
  scope: oneOf(BLOCK_SCOPES).default('address'),
  durationMs: blockDurationMs.default(10 * 60 * 1000),
});

export type BlockSpec = z.infer<typeof blockSpec>;

/** How long a tarpit holds a request's answer before sending it. */
export const tarpitMs = integer(100, 60_000, 'must be a delay in milliseconds from 100 to 60000');

/**
 * What a rule does when it fires: the fields every rule shares. `status` is the answer of a
 * `reject` or, `tarpitMs` later, of a `tarpit` (and, for a `block`, an answer to the message
 * that set it; absent: no answer).
 */
export const actionFields = {
  action: oneOf(ACTIONS),
  status: rejectStatus.optional(),
  block: blockSpec.optional(),
  tarpitMs: tarpitMs.default(5000),
};

/** The action part of a compiled rule. */
export interface ActionSpec {
  readonly action: Action;
  readonly status?: number | undefined;
  readonly block?: BlockSpec | undefined;
  readonly tarpitMs: number;
}

/**
 * Checks `settings` against `schema` (absent settings are `{}`, so every default applies),
 * or throws a StageConfigError listing every problem as `path: reason`.
 */
export function parseStageSettings<T extends z.ZodType>(schema: T, settings: unknown): z.output<T> {
  const result = schema.safeParse(settings ?? {}, { error: genericMessage });
  if (!result.success) throw new StageConfigError(formatIssues(result.error.issues, schema));
  return result.data;
}

export type { Attribute };

/**
 * The zod builders of every settings schema: the configuration file's (schema.ts) and each
 * security stage's (src/security/rule-schema.ts). A missing value gets no message here, so
 * it falls through to the parse-wide error map (format-issues.ts: "is required"); a value
 * present but wrong reads the message given, in the operator's words.
 */
import { z } from 'zod';
import { TimeWindow, TimeWindowError } from '../util/time-window.ts';

/** An integer in `min..max`. */
export function integer(min: number, max: number, message = `must be ${min}..${max}`) {
  return z
    .number({ error: (issue) => (issue.input === undefined ? undefined : message) })
    .int({ error: message })
    .min(min, { error: message })
    .max(max, { error: message });
}

/** A number (not necessarily whole) in `min..max`. */
export function decimal(min: number, max: number, message = `must be a number from ${min} to ${max}`) {
  return z
    .number({ error: (issue) => (issue.input === undefined ? undefined : message) })
    .min(min, { error: message })
    .max(max, { error: message });
}

/** One of `values`, listed in the message. */
export function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, {
    error: (issue) => (issue.input === undefined ? undefined : `must be one of ${values.join(', ')}`),
  });
}

/** A string; `message` says what it should be. */
export function string(message = 'must be a string') {
  return z.string({ error: (issue) => (issue.input === undefined ? undefined : message) });
}

export const boolean = z.boolean({
  error: (issue) => (issue.input === undefined ? undefined : 'must be true or false'),
});

/**
 * Days and hours a rule applies (`{ days: mon-fri, hours: "08:00-18:00", timezone }`),
 * checked as src/util/time-window.ts reads them: for policy and fraud rules alike.
 */
export const timeWindowSpec = z
  .strictObject({
    days: string().optional(),
    hours: string().optional(),
    timezone: string().optional(),
  })
  .superRefine((spec, ctx) => {
    try {
      new TimeWindow(spec);
    } catch (error) {
      if (!(error instanceof TimeWindowError)) throw error;
      ctx.addIssue({ code: 'custom', message: error.message });
    }
  });

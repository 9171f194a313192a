/**
 * Turns zod issues into the lines an operator reads: `listen[0].port: must be 1..65535`.
 * Messages specific to one setting live in schema.ts; the generic ones (a missing key, a
 * wrong type, an unknown key) are written here so that no library wording leaks out.
 */
import { z } from 'zod';
import type { $ZodIssue, $ZodRawIssue } from 'zod/v4/core';

/** A config with this many mistakes is better fixed a screenful at a time. */
const MAX_LINES = 50;
const MAX_KEY_SHOWN = 64;

const TYPE_NAMES: Readonly<Record<string, string>> = {
  object: 'a mapping',
  array: 'a list',
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
};

/** The parse-wide error map: it applies only where schema.ts gave no message of its own. */
export function genericMessage(issue: $ZodRawIssue): string | undefined {
  if (issue.code === 'invalid_type') {
    if (issue.input === undefined) return 'is required';
    return `must be ${TYPE_NAMES[issue.expected] ?? `a ${issue.expected}`}`;
  }
  return undefined;
}

/** `['listen', 0, 'port']` -> `listen[0].port`; the empty path is the document itself. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += (out === '' ? '' : '.') + shorten(String(segment));
  }
  return out === '' ? '(top level)' : out;
}

export function formatIssues(issues: readonly $ZodIssue[], schema: z.ZodType): string[] {
  const lines: string[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeys(schema, issue.path);
      for (const key of issue.keys) {
        const suggestion = closest(key, known);
        const hint = suggestion === undefined ? '' : ` (did you mean ${suggestion}?)`;
        lines.push(`${formatPath([...issue.path, key])}: unknown key${hint}`);
      }
    } else {
      lines.push(`${formatPath(issue.path)}: ${issue.message}`);
    }
  }
  if (lines.length > MAX_LINES) {
    const more = lines.length - MAX_LINES;
    return [...lines.slice(0, MAX_LINES), `... and ${more} more`];
  }
  return lines;
}

function shorten(key: string): string {
  return key.length > MAX_KEY_SHOWN ? `${key.slice(0, MAX_KEY_SHOWN)}...` : key;
}

/** The keys the schema accepts at `path`, found by walking the schema itself. */
function knownKeys(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let node: z.ZodType | undefined = unwrap(schema);
  for (const segment of path) {
    if (node instanceof z.ZodObject && typeof segment === 'string') {
      const child: unknown = node.shape[segment];
      node = child instanceof z.ZodType ? unwrap(child) : undefined;
    } else if (node instanceof z.ZodArray && typeof segment === 'number') {
      node = unwrap(node.element as z.ZodType);
    } else {
      return [];
    }
  }
  return node instanceof z.ZodObject ? Object.keys(node.shape) : [];
}

function unwrap(schema: z.ZodType): z.ZodType {
  let node = schema;
  for (let depth = 0; depth < 8; depth += 1) {
    if (node instanceof z.ZodDefault || node instanceof z.ZodPrefault || node instanceof z.ZodOptional) {
      node = node.unwrap() as z.ZodType;
    } else {
      break;
    }
  }
  return node;
}

/** The known key a typo most likely meant: same letters ignoring case and `_`/`-`, or one or two edits away. */
function closest(key: string, known: readonly string[]): string | undefined {
  if (key.length > MAX_KEY_SHOWN) return undefined;
  const folded = fold(key);
  let best: string | undefined;
  let bestDistance = Math.min(2, Math.floor(key.length / 3)) + 1;
  for (const candidate of known) {
    if (fold(candidate) === folded) return candidate;
    const distance = editDistance(folded, fold(candidate));
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

function fold(key: string): string {
  return key.toLowerCase().replace(/[_-]/g, '');
}

/** Optimal string alignment distance: insertions, deletions, substitutions, adjacent swaps. */
function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i += 1) {
    const row = [i];
    for (let j = 1; j <= b.length; j += 1) {
      if (i === 0) {
        row.push(j);
        continue;
      }
      const above = rows[i - 1]!;
      let best = Math.min(above[j]! + 1, row[j - 1]! + 1, above[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, rows[i - 2]![j - 2]! + 1);
      }
      row.push(best);
    }
    rows.push(row);
  }
  return rows[a.length]![b.length]!;
}

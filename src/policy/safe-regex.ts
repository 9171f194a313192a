/**
 * Destination patterns are written by the operator but run on every new call against a
 * number the caller chose: a pattern that backtracks catastrophically (`(\d+)+$`, `(a|a)*`)
 * would let one INVITE stall the event loop. A pattern is accepted only when it is
 * structurally safe, which this checks conservatively on the pattern's text:
 *
 * - no repeated group holds a quantifier of variable count or an alternation (no nested
 *   quantifiers, no `(a|ab)*`, no `(\d\d?)+`): the cause of exponential backtracking
 *   (fixed counts such as `(\d{3})+` are fine);
 * - at most MAX_REPETITIONS quantifiers of variable count in all (`*`, `+`, `?`, `{n,m}`
 *   with m > n; `{3}` is not one), so that the polynomial cost of adjacent ones
 *   (`\d*\d*`) stays small on the at most 32 characters of a dialled number
 *   (dialled-number.ts);
 * - no back-references and no look-arounds (not needed for numbers; they defeat the rules
 *   above), and at most MAX_PATTERN_LENGTH characters.
 *
 * It compiles with the `u` flag, so that a malformed escape is an error, not a literal.
 * Some safe patterns are refused (`(\d+-)+`): write them without the nested repetition.
 */

export const MAX_PATTERN_LENGTH = 200;
export const MAX_REPETITIONS = 3;

export type RegexCheck = { ok: true; regex: RegExp } | { ok: false; reason: string };

interface Group {
  /** Whether a quantifier of variable count or an alternation occurs in the group (or a group inside it). */
  varies: boolean;
  alternates: boolean;
}

export function compileSafeRegex(source: string): RegexCheck {
  if (source.length === 0) return { ok: false, reason: 'must not be empty' };
  if (source.length > MAX_PATTERN_LENGTH) {
    return { ok: false, reason: `must be at most ${MAX_PATTERN_LENGTH} characters` };
  }
  let regex: RegExp;
  try {
    regex = new RegExp(source, 'u');
  } catch (error) {
    return { ok: false, reason: `is not a valid regular expression (${(error as Error).message})` };
  }
  const structure = checkStructure(source);
  return structure === undefined ? { ok: true, regex } : { ok: false, reason: structure };
}

/** Why the pattern could backtrack badly, or undefined when it cannot. */
function checkStructure(source: string): string | undefined {
  const stack: Group[] = [{ varies: false, alternates: false }];
  let repetitions = 0;
  /** What the last atom was: a closed group (with its flags), another atom, or nothing. */
  let last: Group | 'atom' | undefined;
  let i = 0;
  while (i < source.length) {
    const c = source[i]!;
    if (c === '\\') {
      const next = source[i + 1] ?? '';
      if (/[1-9]/.test(next) || next === 'k') return 'must not use back-references';
      i += 2;
      last = 'atom';
      continue;
    }
    if (c === '[') {
      // A class is one atom: skip to its unescaped end.
      i++;
      if (source[i] === '^') i++;
      if (source[i] === ']') i++;
      while (i < source.length && source[i] !== ']') i += source[i] === '\\' ? 2 : 1;
      i++;
      last = 'atom';
      continue;
    }
    if (c === '(') {
      if (
        source.startsWith('(?=', i) ||
        source.startsWith('(?!', i) ||
        source.startsWith('(?<=', i) ||
        source.startsWith('(?<!', i)
      ) {
        return 'must not use look-ahead or look-behind';
      }
      stack.push({ varies: false, alternates: false });
      if (source.startsWith('(?:', i)) i += 3;
      else if (source.startsWith('(?<', i)) i = source.indexOf('>', i) + 1;
      else i++;
      last = undefined;
      continue;
    }
    if (c === ')') {
      const closed = stack.pop()!;
      const parent = stack[stack.length - 1]!;
      parent.varies ||= closed.varies;
      parent.alternates ||= closed.alternates;
      i++;
      last = closed;
      continue;
    }
    if (c === '|') {
      stack[stack.length - 1]!.alternates = true;
      i++;
      last = undefined;
      continue;
    }
    const quantifier = quantifierAt(source, i);
    if (quantifier !== undefined) {
      if (quantifier.variable && ++repetitions > MAX_REPETITIONS) {
        return `must use at most ${MAX_REPETITIONS} quantifiers of variable count (*, +, ?, {n,m})`;
      }
      if (quantifier.repeating && typeof last === 'object' && (last.varies || last.alternates)) {
        return 'must not repeat a group that holds a variable repetition or an alternation (catastrophic backtracking)';
      }
      if (quantifier.variable) stack[stack.length - 1]!.varies = true;
      i += quantifier.length;
      if (source[i] === '?') i++;
      last = undefined;
      continue;
    }
    i++;
    last = 'atom';
  }
  return undefined;
}

interface Quantifier {
  /** It may repeat its atom (at most more than once). */
  readonly repeating: boolean;
  /** Its count is open (at most more than at least): a backtracking choice. */
  readonly variable: boolean;
  readonly length: number;
}

function quantifierAt(source: string, i: number): Quantifier | undefined {
  const c = source[i];
  if (c === '*' || c === '+') return { repeating: true, variable: true, length: 1 };
  if (c === '?') return { repeating: false, variable: true, length: 1 };
  if (c !== '{') return undefined;
  const match = /^\{(\d+)(,(\d*))?\}/.exec(source.slice(i, i + 24));
  if (match === null) return undefined;
  const min = Number(match[1]);
  const max = match[2] === undefined ? min : match[3] === '' ? Number.POSITIVE_INFINITY : Number(match[3]);
  return { repeating: max > 1, variable: max > min, length: match[0].length };
}

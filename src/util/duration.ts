/**
 * Durations as an operator writes them: `1500ms`, `30s`, `10m`, `1h`, `2d`, `1w`, a decimal
 * such as `1.5h`, or a bare number of seconds (`3600`, or the number 3600). Used by the
 * management API and the command line, so both read `--for 1h` and `"duration": "1h"` alike.
 */

export class DurationError extends Error {
  readonly code = 'SW_ERR_BAD_DURATION';
  constructor(message: string) {
    super(message);
    this.name = 'DurationError';
  }
}

const UNIT_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

const PATTERN = /^(\d{1,15}(?:\.\d{1,6})?)(ms|s|m|h|d|w)?$/;

/** Longer than anyone means: keeps arithmetic on epoch milliseconds exact. */
const MAX_MS = 100 * 365 * 86_400_000;

/** Milliseconds for a duration; throws DurationError with a message that shows the accepted forms. */
export function parseDuration(value: string | number): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) {
      throw new DurationError(`${value} is not a duration: a number of seconds must be 0 or more`);
    }
    return checkRange(Math.round(value * 1000), String(value));
  }
  const text = value.trim();
  const match = PATTERN.exec(text);
  if (match === null) {
    const shown = JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
    throw new DurationError(
      `${shown} is not a duration: use a number and a unit, such as 1500ms, 30s, 10m, 1h, 2d or 1w, or a number of seconds`,
    );
  }
  const unit = match[2] ?? 's';
  return checkRange(Math.round(Number(match[1]) * UNIT_MS[unit]!), text);
}

function checkRange(ms: number, shown: string): number {
  if (ms > MAX_MS) throw new DurationError(`${shown} is too long: at most 100 years`);
  return ms;
}

/** `90061000` -> `1d1h1m1s`; for messages and tables. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return 'permanent';
  let rest = Math.max(0, Math.round(ms / 1000));
  if (rest === 0) return ms > 0 ? `${Math.round(ms)}ms` : '0s';
  let out = '';
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    if (rest >= size) {
      out += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  return out;
}

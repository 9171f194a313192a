/**
 * Days of the week and hours of the day, as policy and fraud rules name them
 * (`days: mon-fri`, `hours: 08:00-18:00`, `timezone: Europe/Paris`): parsed once at start,
 * checked per call with one Intl lookup. A window whose end is before its start wraps past
 * midnight (`22:00-06:00`).
 */

const DAY_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
export type DayName = (typeof DAY_NAMES)[number];

export interface TimeWindowSpec {
  /** `mon-fri`, `sat,sun`, `mon,wed-fri`; absent: every day. */
  readonly days?: string;
  /** `HH:MM-HH:MM`, local to `timezone`; absent: the whole day. */
  readonly hours?: string;
  /** An IANA time zone; absent: UTC. */
  readonly timezone?: string;
}

export class TimeWindowError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TimeWindowError';
  }
}

function dayIndex(name: string): number {
  const i = DAY_NAMES.indexOf(name.trim().toLowerCase() as DayName);
  if (i < 0) throw new TimeWindowError(`unknown day "${name}" (use ${DAY_NAMES.join(', ')})`);
  return i;
}

function parseDays(text: string): ReadonlySet<number> {
  const days = new Set<number>();
  for (const part of text.split(',')) {
    const [first, last] = part.split('-');
    const from = dayIndex(first ?? '');
    const to = last === undefined ? from : dayIndex(last);
    // mon-fri, or fri-mon across the week's end.
    for (let d = from, n = 0; n < 7; d = (d + 1) % 7, n++) {
      days.add(d);
      if (d === to) break;
    }
  }
  return days;
}

function parseMinute(text: string): number {
  const match = /^(\d{1,2}):(\d{2})$/.exec(text.trim());
  const hours = Number(match?.[1]);
  const minutes = Number(match?.[2]);
  if (!match || hours > 24 || minutes > 59 || (hours === 24 && minutes !== 0))
    throw new TimeWindowError(`"${text}" is not a time of day (HH:MM)`);
  return hours * 60 + minutes;
}

export class TimeWindow {
  readonly #days: ReadonlySet<number> | undefined;
  readonly #start: number;
  readonly #end: number;
  readonly #format: Intl.DateTimeFormat;
  readonly spec: TimeWindowSpec;

  /** Throws TimeWindowError with what is wrong. */
  constructor(spec: TimeWindowSpec) {
    this.spec = spec;
    this.#days = spec.days === undefined ? undefined : parseDays(spec.days);
    if (spec.hours === undefined) {
      this.#start = 0;
      this.#end = 24 * 60;
    } else {
      const [start, end, extra] = spec.hours.split('-');
      if (start === undefined || end === undefined || extra !== undefined)
        throw new TimeWindowError(`"${spec.hours}" is not a range of hours (HH:MM-HH:MM)`);
      this.#start = parseMinute(start);
      this.#end = parseMinute(end);
    }
    try {
      this.#format = new Intl.DateTimeFormat('en-US', {
        timeZone: spec.timezone ?? 'UTC',
        weekday: 'short',
        hour: '2-digit',
        minute: '2-digit',
        hourCycle: 'h23',
      });
    } catch {
      throw new TimeWindowError(`unknown time zone "${spec.timezone}"`);
    }
  }

  /** Whether the instant `epochMs` falls in the window, in the window's time zone. */
  contains(epochMs: number): boolean {
    let weekday = 0;
    let minute = 0;
    for (const part of this.#format.formatToParts(epochMs)) {
      if (part.type === 'weekday') weekday = dayIndex(part.value);
      else if (part.type === 'hour') minute += Number(part.value) * 60;
      else if (part.type === 'minute') minute += Number(part.value);
    }
    if (this.#start <= this.#end) {
      return (this.#days?.has(weekday) ?? true) && minute >= this.#start && minute < this.#end;
    }
    // Past midnight: the early hours belong to the day the window opened.
    if (minute >= this.#start) return this.#days?.has(weekday) ?? true;
    if (minute < this.#end) return this.#days?.has((weekday + 6) % 7) ?? true;
    return false;
  }
}

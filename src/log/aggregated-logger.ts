import type { LogFn, Logger } from './logger.ts';

/**
 * A logger for paths that traffic drives (a refused message, a failed send, a stage that
 * throws on some input): an attacker must never grow the log by a line per packet. Lines
 * are grouped by level and message text, as the events are by type, rule and key
 * (event-bus.ts): within `windowMs` of a group's first line, the first `burst` lines are
 * written as they come and the rest only counted; the next line after the window writes a
 * summary of those left out (`suppressed`) before it, and so does `flush()` (on a timer
 * and at close). Groups are bounded: past `maxGroups` messages, all further ones share one.
 */

export interface AggregatedLoggerOptions {
  readonly windowMs?: number;
  readonly burst?: number;
  readonly maxGroups?: number;
  readonly now?: () => number;
}

interface Group {
  readonly level: Level;
  readonly message: string;
  firstSeen: number;
  written: number;
  suppressed: number;
  /** The context of the last line left out, for the summary. */
  lastContext: Record<string, unknown> | undefined;
  /** Where the summary goes: the logger (with its bindings) that saw the group's first line. */
  target: Logger;
}

type Level = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
const LEVELS: readonly Level[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];
const OVERFLOW = 'further log messages (too many distinct ones to group)';

class Aggregator {
  readonly windowMs: number;
  readonly burst: number;
  readonly maxGroups: number;
  readonly now: () => number;
  readonly groups = new Map<string, Group>();

  constructor(options: AggregatedLoggerOptions) {
    this.windowMs = options.windowMs ?? 10_000;
    this.burst = options.burst ?? 5;
    this.maxGroups = options.maxGroups ?? 256;
    this.now = options.now ?? Date.now;
  }

  log(target: Logger, level: Level, context: Record<string, unknown> | undefined, message: string): void {
    const now = this.now();
    let key = `${level}\u0000${message}`;
    let group = this.groups.get(key);
    if (group === undefined && this.groups.size >= this.maxGroups) {
      key = `${level}\u0000${OVERFLOW}`;
      group = this.groups.get(key);
    }
    if (group !== undefined && now - group.firstSeen >= this.windowMs) {
      this.#summarize(group);
      this.groups.delete(key);
      group = undefined;
    }
    if (group === undefined) {
      group = { level, message, firstSeen: now, written: 0, suppressed: 0, lastContext: undefined, target };
      this.groups.set(key, group);
    }
    if (group.written < this.burst) {
      group.written++;
      if (context === undefined) target[level](message);
      else target[level](context, message);
      return;
    }
    group.suppressed++;
    group.lastContext = context;
  }

  /** Writes the summaries of groups whose window has passed (all of them with `all`). */
  flush(all: boolean): void {
    const now = this.now();
    for (const [key, group] of this.groups) {
      if (!all && now - group.firstSeen < this.windowMs) continue;
      this.#summarize(group);
      this.groups.delete(key);
    }
  }

  #summarize(group: Group): void {
    if (group.suppressed === 0) return;
    group.target[group.level](
      {
        ...(group.lastContext ?? {}),
        suppressed: group.suppressed,
        firstSeen: new Date(group.firstSeen).toISOString(),
        windowMs: this.windowMs,
      },
      `${group.message} (and ${group.suppressed} more like it)`,
    );
  }
}

export interface AggregatedLogger extends Logger {
  /** Writes the summaries still pending (at shutdown). */
  flush(): void;
  /** Stops the summary timer and writes what is pending. */
  close(): void;
}

function wrap(inner: Logger, aggregator: Aggregator): Logger {
  const fn =
    (level: Level): LogFn =>
    (first: Record<string, unknown> | string, second?: string) => {
      if (typeof first === 'string') aggregator.log(inner, level, undefined, first);
      else aggregator.log(inner, level, first, second ?? '');
    };
  const logger = Object.fromEntries(LEVELS.map((level) => [level, fn(level)])) as Record<Level, LogFn>;
  return { ...logger, child: (bindings) => wrap(inner.child(bindings), aggregator) };
}

export function aggregateLog(inner: Logger, options: AggregatedLoggerOptions = {}): AggregatedLogger {
  const aggregator = new Aggregator(options);
  const timer = setInterval(() => aggregator.flush(false), aggregator.windowMs);
  timer.unref();
  return {
    ...wrap(inner, aggregator),
    flush: () => aggregator.flush(true),
    close: () => {
      clearInterval(timer);
      aggregator.flush(true);
    },
  };
}

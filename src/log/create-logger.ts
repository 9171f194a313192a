/**
 * The process logger: pino writing one JSON object per line to stdout (or a given stream),
 * with `name: "sipwarden"`, an ISO 8601 `time` and the level as a word, so that `jq`, a
 * SIEM or a log shipper reads it without a lookup table.
 */
import { pino } from 'pino';
import type { Logger } from './logger.ts';

export type LogLevelName = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

export interface LogDestination {
  write(line: string): void;
}

export interface CreateLoggerOptions {
  readonly level: LogLevelName;
  /** Where lines go; stdout when absent. */
  readonly destination?: LogDestination;
}

export function createLogger(options: CreateLoggerOptions): Logger {
  const settings: pino.LoggerOptions = {
    name: 'sipwarden',
    level: options.level,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    // The host name adds nothing to one process's log and differs between containers.
    base: { pid: process.pid },
  };
  // pino's default destination writes stdout without blocking and flushes what is pending
  // when the process exits.
  return options.destination === undefined ? pino(settings) : pino(settings, options.destination);
}

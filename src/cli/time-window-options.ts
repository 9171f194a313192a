/**
 * `--since`, `--until` and `--limit` of the commands that read a table of the events
 * database (`sipwarden audit`, `sipwarden cdrs`): times as the API reads them (a duration
 * back from now, ISO 8601 or epoch ms), a limit within the table's bound.
 */
import { parseTimeSpec } from '../api/time-spec.ts';
import { CliError, EXIT_USAGE } from './cli-error.ts';

export interface TimeWindow {
  readonly since?: number;
  readonly until?: number;
  readonly limit?: number;
}

export function readTimeWindow(
  options: { readonly since?: string; readonly until?: string; readonly limit?: string },
  maxLimit: number,
  now = Date.now(),
): TimeWindow {
  const time = (name: string, text: string | undefined): number | undefined => {
    if (text === undefined) return undefined;
    const result = parseTimeSpec(text, now);
    if (!result.ok) throw new CliError(EXIT_USAGE, [`${name}: ${result.message}`]);
    return result.time;
  };
  const since = time('--since', options.since);
  const until = time('--until', options.until);
  let limit: number | undefined;
  if (options.limit !== undefined) {
    limit = Number(options.limit);
    if (!/^\d+$/.test(options.limit) || limit < 1 || limit > maxLimit) {
      throw new CliError(EXIT_USAGE, [`--limit: must be a whole number 1..${maxLimit}`]);
    }
  }
  return {
    ...(since === undefined ? {} : { since }),
    ...(until === undefined ? {} : { until }),
    ...(limit === undefined ? {} : { limit }),
  };
}

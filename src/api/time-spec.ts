/**
 * A point in time as a query gives it: a duration back from now (`10m`, `2h`, `1d`), an
 * ISO 8601 time (`2026-05-01T10:00:00Z`), or epoch milliseconds (`1777629600000`).
 */
import { DurationError, parseDuration } from '../util/duration.ts';

const EPOCH_MS = /^\d{1,15}$/;
const ISO_8601 = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/i;

export type TimeSpecResult = { ok: true; time: number } | { ok: false; message: string };

export function parseTimeSpec(text: string, now: number): TimeSpecResult {
  if (EPOCH_MS.test(text)) return { ok: true, time: Number(text) };
  if (ISO_8601.test(text)) {
    const time = Date.parse(text);
    if (Number.isFinite(time)) return { ok: true, time };
  } else {
    try {
      return { ok: true, time: now - parseDuration(text) };
    } catch (error) {
      if (!(error instanceof DurationError)) throw error;
    }
  }
  const shown = JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}...` : text);
  return {
    ok: false,
    message: `${shown} is not a time: use a duration back from now (10m, 2h, 1d), an ISO 8601 time or epoch milliseconds`,
  };
}

/**
 * Parsing of the attack tools' option values, with bounds: every run is bounded in count
 * and time, whatever the operator types.
 */
import { attackError } from './errors.ts';

/** The most messages one run may send (per-request tables are sized by it). */
export const MAX_COUNT = 1_000_000;
/** The longest one run may last. */
export const MAX_DURATION_MS = 3_600_000;
/** The fastest rate one may ask for (0 means: as fast as the machine goes). */
export const MAX_RATE = 1_000_000;

export const DEFAULT_COUNT = 100;
export const DEFAULT_DURATION_MS = 10_000;
export const DEFAULT_RATE = 100;

/** Bounds shared by every kind. */
export interface Limits {
  /** Messages (or probes, guesses, calls, connections: the kind's unit) at most. */
  readonly count: number;
  /** Milliseconds at most for the sending phase. */
  readonly durationMs: number;
  /** Per second; 0: unpaced. */
  readonly rate: number;
}

export function parseCount(text: string, name = '--count', max = MAX_COUNT): number {
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || value < 1 || value > max) {
    throw attackError('SW_ERR_ATTACK_OPTION', `${name} ${text}: must be a whole number 1..${max}`);
  }
  return value;
}

/** `10`, `10s`, `500ms`, `2m`: a duration; a bare number is seconds. */
export function parseDuration(text: string, name = '--duration', maxMs = MAX_DURATION_MS): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!match) throw attackError('SW_ERR_ATTACK_OPTION', `${name} ${text}: must be like 10, 10s, 500ms or 2m`);
  const amount = Number(match[1]);
  const unit = match[2] ?? 's';
  const ms = Math.round(unit === 'ms' ? amount : unit === 'm' ? amount * 60_000 : amount * 1000);
  if (ms < 1 || ms > maxMs) {
    throw attackError('SW_ERR_ATTACK_OPTION', `${name} ${text}: must be between 1 ms and ${maxMs / 1000} s`);
  }
  return ms;
}

export function parseRate(text: string, name = '--rate'): number {
  const value = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text.trim()) || value > MAX_RATE) {
    throw attackError(
      'SW_ERR_ATTACK_OPTION',
      `${name} ${text}: must be 0 (unpaced) to ${MAX_RATE} per second`,
    );
  }
  return value;
}

/** `100-199` or `100,101,alice`: user names, bounded to `max`. */
export function parseUserList(text: string, max = 100_000): string[] {
  const users: string[] = [];
  for (const part of text.split(',')) {
    const item = part.trim();
    if (item === '') continue;
    const range = /^(\d+)-(\d+)$/.exec(item);
    if (range) {
      const first = Number(range[1]);
      const last = Number(range[2]);
      const width = range[1]!.length === range[2]!.length ? range[1]!.length : 0;
      if (last < first) throw attackError('SW_ERR_ATTACK_OPTION', `${item}: an empty range`);
      for (let n = first; n <= last; n++) {
        if (users.length >= max) throw attackError('SW_ERR_ATTACK_OPTION', `${text}: more than ${max} users`);
        users.push(String(n).padStart(width, '0'));
      }
    } else {
      if (!/^[A-Za-z0-9._~+-]{1,64}$/.test(item)) {
        throw attackError('SW_ERR_ATTACK_OPTION', `${item}: a user name of 1..64 letters, digits or ._~+-`);
      }
      if (users.length >= max) throw attackError('SW_ERR_ATTACK_OPTION', `${text}: more than ${max} users`);
      users.push(item);
    }
  }
  if (users.length === 0) throw attackError('SW_ERR_ATTACK_OPTION', `${text}: no user`);
  return users;
}

/**
 * Settings every kind shares, and small helpers around them: where to send from, how long
 * to wait for late answers, how to read an answer.
 */
import { isIPv6 } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SipMessage } from '../sip/message.ts';
import { parseMessage } from '../sip/parse.ts';
import { type AddressRange, isLoopbackAddress, parseAddressRange } from './address-range.ts';
import type { Limits } from './options.ts';
import type { Endpoint } from './target.ts';

export interface CommonOptions {
  /** Resolved target (loopback unless the operator allowed remote ones). */
  readonly target: Endpoint;
  readonly limits: Limits;
  /** Wait for late answers after the last send, ms; default 1000. */
  readonly answerWaitMs?: number;
  /** Where to send from: one address or a pool; default loopback for a loopback target. */
  readonly sources?: AddressRange;
  readonly maxSources?: number;
  /** A fixed User-Agent; undefined: the kind's default. */
  readonly userAgent?: string;
  /** Seed for the kind's random choices (the fuzzer replays from it). */
  readonly seed?: number;
  readonly signal?: AbortSignal;
}

export const DEFAULT_ANSWER_WAIT_MS = 1000;

/** One loopback address of the target's family, or the wildcard for a remote target. */
export function defaultSourceAddress(target: Endpoint): string {
  const v6 = isIPv6(target.address);
  if (isLoopbackAddress(target.address)) return v6 ? '::1' : '127.0.0.1';
  return v6 ? '::' : '0.0.0.0';
}

export function sourcesOf(options: CommonOptions): AddressRange {
  return options.sources ?? parseAddressRange(defaultSourceAddress(options.target));
}

/** The datagram as a SIP message, or undefined when it does not parse. */
export function readMessage(data: Buffer): SipMessage | undefined {
  const parsed = parseMessage(data);
  return parsed.ok ? parsed.message : undefined;
}

/**
 * Waits up to `maxMs` for late answers, returning early once `done()` says every request
 * has its answer (polled every 20 ms).
 */
export async function waitForAnswers(
  maxMs: number,
  done: () => boolean,
  signal?: AbortSignal,
): Promise<void> {
  const deadline = performance.now() + maxMs;
  while (performance.now() < deadline && !done() && !signal?.aborted) await sleep(20);
}

export function achievedRate(count: number, elapsedMs: number): number {
  return elapsedMs > 0 ? Math.round((count * 1000) / elapsedMs) : count;
}

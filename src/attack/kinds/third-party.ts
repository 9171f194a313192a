/**
 * What bye-spoof, response-inject and spit share: a caller, a callee (our own, listening
 * where the target forwards calls, or the target itself when no --uas is given) and, for
 * the forgeries, a third address that is neither.
 */
import { isIPv6 } from 'node:net';
import { isLoopbackAddress } from '../address-range.ts';
import { type CommonOptions, defaultSourceAddress, sourcesOf } from '../context.ts';
import type { Random } from '../random.ts';
import type { Endpoint } from '../target.ts';
import { Callee } from '../ua/callee.ts';
import { Phone } from '../ua/caller.ts';
import { SipEndpoint } from '../ua/endpoint.ts';

export interface CalleeChoice {
  /** Our own callee's address (the target's upstream); absent: the target is the callee. */
  readonly uas?: Endpoint;
  /** A callee already running there (assess shares one across attacks); wins over uas. */
  readonly callee?: Callee;
}

/**
 * The callee for one run: the shared one (its ring time set for the run, restored after),
 * or one started on --uas for the run, or none (the target answers).
 */
export async function openCallee(
  choice: CalleeChoice,
  ringMs = 0,
): Promise<{ callee: Callee | undefined; release(): void }> {
  const shared = choice.callee;
  if (shared !== undefined) {
    const before = shared.ringMs;
    shared.ringMs = ringMs;
    return {
      callee: shared,
      release: () => {
        shared.ringMs = before;
      },
    };
  }
  if (choice.uas !== undefined) {
    const started = await Callee.start(choice.uas.address, choice.uas.port, { ringMs });
    return { callee: started, release: () => started.close() };
  }
  return { callee: undefined, release: () => {} };
}

export interface ThirdPartyOptions extends CommonOptions, CalleeChoice {
  /** Where forged requests come from; default another loopback address. */
  readonly spoofSource?: string;
}

export interface Cast {
  readonly phone: Phone;
  readonly callee: Callee | undefined;
  readonly forger: SipEndpoint;
  close(): void;
}

/** A loopback address other than the caller's for the forger (same address on IPv6: ::1 is alone). */
export function forgerAddress(options: ThirdPartyOptions, callerAddress: string): string {
  if (options.spoofSource !== undefined) return options.spoofSource;
  if (isLoopbackAddress(callerAddress) && !isIPv6(callerAddress)) {
    return callerAddress === '127.0.0.66' ? '127.0.0.67' : '127.0.0.66';
  }
  return defaultSourceAddress(options.target);
}

export async function cast(options: ThirdPartyOptions, random: Random, ringMs: number): Promise<Cast> {
  const callerAddress = sourcesOf(options).at(0);
  const closers: (() => void)[] = [];
  try {
    const callerEndpoint = await SipEndpoint.bind(callerAddress);
    closers.push(() => callerEndpoint.close());
    const forger = await SipEndpoint.bind(forgerAddress(options, callerAddress));
    closers.push(() => forger.close());
    const opened = await openCallee(options, ringMs);
    closers.push(() => opened.release());
    const callee = opened.callee;
    const phone = new Phone(callerEndpoint, options.target, random);
    return {
      phone,
      callee,
      forger,
      close: () => {
        for (const close of closers) close();
      },
    };
  } catch (error) {
    for (const close of closers) close();
    throw error;
  }
}

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

export interface ThirdPartyOptions extends CommonOptions {
  /** Our own callee's address (the target's upstream); absent: the target is the callee. */
  readonly uas?: Endpoint;
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
    const callee =
      options.uas === undefined
        ? undefined
        : await Callee.start(options.uas.address, options.uas.port, { ringMs });
    if (callee) closers.push(() => callee.close());
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

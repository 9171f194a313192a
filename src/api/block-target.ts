/**
 * What an operator may block through the API: an IPv4 or IPv6 address, or a network in
 * CIDR form, in the block table's own canonical spelling (the state layer's parser: IPv6
 * compressed lower-case, IPv4-mapped IPv6 as IPv4, host bits of a network cleared), so the
 * key shown, stored and removed is one and the same.
 */
import { normalizeAddress } from '../state/ip.ts';
import { parseBlockKey } from '../state/memory-block-table.ts';
import type { BlockScope } from '../state/types.ts';

export interface BlockTarget {
  readonly key: string;
  readonly scope: Extract<BlockScope, 'address' | 'network'>;
}

/** Shorter prefixes than these would block a large part of the Internet, most likely by mistake. */
export const MIN_PREFIX_IPV4 = 8;
export const MIN_PREFIX_IPV6 = 16;

export type BlockTargetResult = { ok: true; target: BlockTarget } | { ok: false; message: string };

export function parseBlockTarget(text: string): BlockTargetResult {
  const target = parseBlockKey('address', text);
  if (target === undefined || target.scope === 'key') {
    return { ok: false, message: `${shown(text)} is not an IP address or a network in CIDR form` };
  }
  if (target.scope === 'network') {
    const min = target.family === 4 ? MIN_PREFIX_IPV4 : MIN_PREFIX_IPV6;
    if (target.prefix < min) {
      return {
        ok: false,
        message: `${shown(text)}: a prefix shorter than /${min} would block too much of the Internet`,
      };
    }
  }
  return { ok: true, target: { key: target.key, scope: target.scope } };
}

/** The canonical spelling of an IP address, or undefined when `text` is not one. */
export function canonicalAddress(text: string): string | undefined {
  return normalizeAddress(text);
}

function shown(text: string): string {
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}...` : text);
}

/**
 * What an operator may block through the API: an IPv4 or IPv6 address, or a network in
 * CIDR form, in the block table's own canonical spelling (the state layer's parser: IPv6
 * compressed lower-case, IPv4-mapped IPv6 as IPv4, host bits of a network cleared), or a
 * rule key as the stages spell it (security/block-keys.ts: `user=alice`, `fromUser=...`,
 * `toUser=...`, `userAgent=...`, `source=ADDRESS`), which the gate refuses on every request
 * naming it, or a caller identity (`identity:user@domain`), whose new calls the fraud stage
 * refuses; so the key shown, stored and removed is one and the same.
 */
import { boundedText, MAX_ATTRIBUTE_LENGTH } from '../security/attributes.ts';
import {
  attributeKey,
  IDENTITY_KEY_PREFIX,
  identityBlockKey,
  KEY_KINDS,
  type KeyKind,
  sourceKey,
} from '../security/block-keys.ts';
import { normalizeAddress } from '../state/ip.ts';
import { parseBlockKey } from '../state/memory-block-table.ts';
import type { BlockScope } from '../state/types.ts';

export interface BlockTarget {
  readonly key: string;
  readonly scope: BlockScope;
}

/** Shorter prefixes than these would block a large part of the Internet, most likely by mistake. */
export const MIN_PREFIX_IPV4 = 8;
export const MIN_PREFIX_IPV6 = 16;

export type BlockTargetResult = { ok: true; target: BlockTarget } | { ok: false; message: string };

const IDENTITY = /^[!-?A-~]{1,128}@[!-?A-~]{1,128}$/;

export function parseBlockTarget(text: string): BlockTargetResult {
  if (text.startsWith(IDENTITY_KEY_PREFIX)) {
    // Lower-cased as the fraud stage spells identities (attributes.ts userOf, domainOf).
    const identity = text.slice(IDENTITY_KEY_PREFIX.length).toLowerCase();
    if (!IDENTITY.test(identity)) {
      return {
        ok: false,
        message: `${shown(text)}: identity: takes user@domain (printable ASCII, no spaces)`,
      };
    }
    return { ok: true, target: { key: identityBlockKey(identity), scope: 'key' } };
  }
  const eq = text.indexOf('=');
  if (eq > 0) return parseRuleKey(text.slice(0, eq), text.slice(eq + 1), text);
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

/** Users are lower-cased as the stages read them (attributes.ts userOf); a User-Agent is kept as sent. */
function parseRuleKey(kind: string, value: string, text: string): BlockTargetResult {
  if (!(KEY_KINDS as readonly string[]).includes(kind)) {
    return {
      ok: false,
      message: `${shown(text)}: a key is one of ${KEY_KINDS.map((k) => `${k}=`).join(', ')}`,
    };
  }
  if (value.length === 0 || value.length > MAX_ATTRIBUTE_LENGTH || boundedText(value) !== value) {
    return {
      ok: false,
      message: `${shown(text)}: the value must be 1 to ${MAX_ATTRIBUTE_LENGTH} printable ASCII characters`,
    };
  }
  if (kind === 'source') {
    const address = normalizeAddress(value);
    if (address === undefined) return { ok: false, message: `${shown(text)}: source= takes an IP address` };
    return { ok: true, target: { key: sourceKey(address), scope: 'key' } };
  }
  const spelt = kind === 'userAgent' ? value : value.toLowerCase();
  return { ok: true, target: { key: attributeKey(kind as KeyKind, spelt), scope: 'key' } };
}

function shown(text: string): string {
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}...` : text);
}

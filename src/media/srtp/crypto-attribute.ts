/**
 * SDES: the SDP crypto attribute (RFC 4568 sections 4, 6 and 9.2), parsed and written
 * strictly. `a=crypto:<tag> <crypto-suite> <key-params> [<session-params>]`
 *
 * What sipwarden accepts is narrower than the grammar, and says why when it refuses:
 * one inline key (several keys need MKIs, which the sessions do not carry), no MKI, the
 * key derivation rate 0, and no session parameter that weakens the protection
 * (UNENCRYPTED_SRTP, UNENCRYPTED_SRTCP, UNAUTHENTICATED_SRTP) or that it does not
 * implement (FEC_ORDER, FEC_KEY, unknown ones: RFC 4568 section 6.3.7 lets an answerer
 * refuse an attribute whose session parameters it does not support). WSH, a hint about the
 * sender's replay window, is accepted.
 *
 * The parsed key is a MasterKey, which never prints: a parsed attribute can be logged.
 */
import { MasterKey } from './master-key.ts';
import { type SrtpSuite, srtpSuite } from './suites.ts';

export interface CryptoAttribute {
  /** 1 to 9 digits, unique within the m= section (RFC 4568 section 4.1). */
  readonly tag: number;
  readonly suite: SrtpSuite;
  readonly key: MasterKey;
  /** The key's lifetime in packets, when written (`|2^31`). */
  readonly lifetime?: number;
  /** WSH, when written: the sender's suggested replay window (at least 64). */
  readonly windowSizeHint?: number;
}

export type CryptoAttributeError =
  | 'syntax'
  | 'unknown-suite'
  | 'key-length'
  | 'several-keys'
  | 'mki'
  | 'lifetime'
  | 'kdr'
  | 'weakening-parameter'
  | 'unsupported-parameter';

export type CryptoParseResult =
  | { readonly ok: true; readonly attribute: CryptoAttribute }
  | { readonly ok: false; readonly error: CryptoAttributeError };

/** The longest attribute value read; a real one is under 200 characters. */
const MAX_VALUE = 1024;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const LIFETIME = /^(2\^)?(\d{1,20})$/;
const WEAKENING = new Set(['UNENCRYPTED_SRTP', 'UNENCRYPTED_SRTCP', 'UNAUTHENTICATED_SRTP']);

const fail = (error: CryptoAttributeError): CryptoParseResult => ({ ok: false, error });

/** Parses the value of an `a=crypto` attribute (what follows `crypto:`). */
export function parseCryptoAttribute(value: string): CryptoParseResult {
  if (value.length > MAX_VALUE) return fail('syntax');
  // RFC 4568 section 9.2: fields are separated by one or more whitespace characters (SP or HTAB).
  const fields = value.trim().split(/[ \t]+/);
  if (fields.length < 3) return fail('syntax');
  const [tagText, suiteName, keyParams, ...sessionParams] = fields as [string, string, string, ...string[]];
  if (!/^\d{1,9}$/.test(tagText)) return fail('syntax');
  const suite = srtpSuite(suiteName);
  if (suite === undefined) return /^[A-Za-z0-9_]+$/.test(suiteName) ? fail('unknown-suite') : fail('syntax');
  const keys = keyParams.split(';');
  if (keys.length > 1) return fail('several-keys');
  const keyParam = keys[0]!;
  if (!keyParam.startsWith('inline:')) return fail('syntax');
  const [keySalt, ...extras] = keyParam.slice('inline:'.length).split('|');
  if (keySalt === undefined || !BASE64.test(keySalt) || keySalt.length % 4 !== 0) return fail('syntax');
  const material = Buffer.from(keySalt, 'base64');
  // Strict base64: what decodes must encode back to the same text (no stray bits).
  if (material.toString('base64') !== keySalt) return fail('syntax');
  const key = MasterKey.fromConcatenated(material, suite);
  material.fill(0);
  if (key === undefined) return fail('key-length');
  let lifetime: number | undefined;
  if (extras.length > 2) return fail('syntax');
  for (const extra of extras) {
    if (extra.includes(':')) {
      if (!/^\d{1,20}:\d{1,3}$/.test(extra)) return fail('syntax');
      return fail('mki');
    }
    if (lifetime !== undefined) return fail('syntax');
    const match = LIFETIME.exec(extra);
    if (match === null) return fail('syntax');
    const n = Number(match[2]);
    lifetime = match[1] === undefined ? n : 2 ** n;
    // RFC 3711 section 9.2: no more than 2^48 SRTP packets under one master key.
    if (!Number.isSafeInteger(lifetime) || lifetime < 1 || lifetime > 2 ** 48) return fail('lifetime');
  }
  let windowSizeHint: number | undefined;
  for (const param of sessionParams) {
    if (WEAKENING.has(param)) return fail('weakening-parameter');
    const kdr = /^KDR=(\d{1,2})$/.exec(param);
    if (kdr !== null) {
      if (Number(kdr[1]) > 24) return fail('syntax');
      if (Number(kdr[1]) !== 0) return fail('kdr');
      continue;
    }
    const wsh = /^WSH=(\d{2,10})$/.exec(param);
    if (wsh !== null && windowSizeHint === undefined) {
      windowSizeHint = Number(wsh[1]);
      // RFC 4568 section 6.3.7: the minimum window is 64.
      if (windowSizeHint < 64) return fail('syntax');
      continue;
    }
    return fail('unsupported-parameter');
  }
  return {
    ok: true,
    attribute: {
      tag: Number(tagText),
      suite,
      key,
      ...(lifetime === undefined ? {} : { lifetime }),
      ...(windowSizeHint === undefined ? {} : { windowSizeHint }),
    },
  };
}

/** Writes the value of an `a=crypto` attribute for a key of ours. */
export function formatCryptoAttribute(attribute: {
  readonly tag: number;
  readonly suite: SrtpSuite;
  readonly key: MasterKey;
  readonly lifetime?: number;
}): string {
  if (!Number.isInteger(attribute.tag) || attribute.tag < 0 || attribute.tag > 999_999_999)
    throw new RangeError('a crypto tag has 1 to 9 digits');
  let text = `${attribute.tag} ${attribute.suite.name} inline:${attribute.key.toInline()}`;
  if (attribute.lifetime !== undefined) {
    const exponent = Math.log2(attribute.lifetime);
    text += Number.isInteger(exponent) ? `|2^${exponent}` : `|${attribute.lifetime}`;
  }
  return text;
}

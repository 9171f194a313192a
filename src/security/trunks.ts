/**
 * Declared trunks (`security.trunks`): peers such as a carrier's SBC or another PBX that
 * send many calls from a few fixed addresses, often all under one account (one From user).
 *
 * Why only by declaration. The per-identity call limit exists to stop an attacker who holds
 * a phone account's password from running many fraud calls at once. Everything a trunk
 * shows without configuration (one fixed identity, steady volume, OPTIONS keep-alives, a
 * correct answer to a digest challenge) that attacker shows too: the password is exactly
 * what they stole. So sipwarden never raises call limits on observation; an operator
 * declares the trunk, its addresses, optionally the identity it calls with, and its own
 * limits.
 *
 * What a declaration gives:
 * - Calls from a trunk's addresses (with its identity, when one is declared) are held to
 *   the trunk's `maxConcurrentCalls` and `maxCallsPerSecond` instead of the per-user limit
 *   (the call-limit stage).
 * - The trunk's addresses count as trusted sources for every stage (TrustTable below):
 *   the trusted multipliers of the flood, gate, enumeration and password-guessing
 *   thresholds, no counting in distributed rules, no shedding under overload. Unlike an
 *   allowlisted address, a trunk is still blocked when it goes past the trusted thresholds.
 *
 * Matching is by the packet's source address. On UDP an attacker can forge it: the answers
 * then go to the trunk, so the forger holds no dialog and learns nothing, but its INVITEs
 * reach the upstream with the trunk's limits, which bound them. Over TCP or TLS the
 * address cannot be forged (the handshake needs the answers).
 */
import type { SipRequest, SipUri } from '../sip/message.ts';
import { AddressSet } from '../state/cidr.ts';
import type { TrustTable } from '../state/types.ts';

export interface TrunkSettings {
  readonly name: string;
  /** Addresses and CIDR networks the trunk sends from. */
  readonly addresses: readonly string[];
  /** The From user (`4930123456`) or user@host the trunk calls with; any when absent. */
  readonly identity?: string | undefined;
  readonly maxConcurrentCalls: number;
  readonly maxCallsPerSecond: number;
  /**
   * The trunk authenticates with Digest (a PBX's trunk account): the `authenticate` stage
   * challenges its requests as any user's. Default false: a carrier does not answer
   * challenges, so its addresses are not challenged.
   */
  readonly authenticate?: boolean | undefined;
}

/** One declared trunk, with its own call-rate counter (never evicted: trunks are few). */
export class Trunk {
  readonly name: string;
  readonly identity: string | undefined;
  readonly maxConcurrentCalls: number;
  readonly maxCallsPerSecond: number;
  readonly authenticate: boolean;
  readonly #addresses: AddressSet;
  #second = -1;
  #current = 0;
  #previous = 0;

  constructor(settings: TrunkSettings, label: string) {
    this.name = settings.name;
    this.identity = settings.identity?.toLowerCase();
    this.maxConcurrentCalls = settings.maxConcurrentCalls;
    this.maxCallsPerSecond = settings.maxCallsPerSecond;
    this.authenticate = settings.authenticate ?? false;
    this.#addresses = new AddressSet(settings.addresses, label);
  }

  covers(address: string): boolean {
    return this.#addresses.has(address);
  }

  /** Whether a request's caller is the trunk's declared identity (always, when none is). */
  isCaller(request: SipRequest): boolean {
    const identity = this.identity;
    if (identity === undefined) return true;
    const uri = request.from.uri;
    if (uri.scheme !== 'sip' && uri.scheme !== 'sips') {
      return uri.scheme === 'tel' && 'number' in uri && uri.number.toLowerCase() === identity;
    }
    const sip = uri as SipUri;
    const user = (sip.user ?? '').toLowerCase();
    return identity.includes('@') ? `${user}@${sip.host.toLowerCase()}` === identity : user === identity;
  }

  /**
   * New calls in the last second, the one at `now` included when `count`: this second's
   * count plus the previous second's, weighted by how much of it the sliding second still
   * covers.
   */
  callRate(now: number, count = false): number {
    const second = Math.floor(now / 1000);
    if (second !== this.#second) {
      this.#previous = second === this.#second + 1 ? this.#current : 0;
      this.#current = 0;
      this.#second = second;
    }
    if (count) this.#current++;
    return this.#current + this.#previous * (1 - (now - second * 1000) / 1000);
  }

  /**
   * Takes back a call counted lately: the upstream challenged it (401/407), and the INVITE
   * sent again with credentials is the same call, counted then.
   */
  uncountCall(now: number): void {
    const second = Math.floor(now / 1000);
    // Counted in the last second counted into (#current), else the one before it (#previous).
    if (second === this.#second) {
      if (this.#current > 0) this.#current--;
      else if (this.#previous > 0) this.#previous--;
    } else if (second === this.#second + 1 && this.#current > 0) {
      this.#current--;
    }
  }
}

export class TrunkTable {
  readonly trunks: readonly Trunk[];
  /** Every trunk's addresses together: most sources are no trunk, answered in one lookup. */
  readonly #any: AddressSet;

  /** Throws a `SW_ERR_STATE_ADDRESS_LIST` error naming the first invalid address. */
  constructor(settings: readonly TrunkSettings[]) {
    this.trunks = settings.map((t, i) => new Trunk(t, `security.trunks[${i}].addresses`));
    this.#any = new AddressSet(
      settings.flatMap((t) => t.addresses),
      'security.trunks',
    );
  }

  get size(): number {
    return this.trunks.length;
  }

  /** True when the address is one of a declared trunk's. */
  has(address: string): boolean {
    return this.trunks.length > 0 && this.#any.has(address);
  }

  /**
   * True when a request from the address is not to be challenged by sipwarden's own
   * authentication: the address is a declared trunk's that does not authenticate (any such
   * trunk covering it; trunks with `authenticate` are challenged as users are).
   */
  exemptFromChallenge(address: string): boolean {
    if (!this.has(address)) return false;
    return this.trunks.some((trunk) => !trunk.authenticate && trunk.covers(address));
  }

  /** The trunk a new call comes from: the first in order whose addresses and identity match. */
  forCall(address: string, request: SipRequest): Trunk | undefined {
    if (!this.has(address)) return undefined;
    for (const trunk of this.trunks) {
      if (trunk.covers(address) && trunk.isCaller(request)) return trunk;
    }
    return undefined;
  }
}

export const NO_TRUNKS = new TrunkTable([]);

/** The trust table as the stages see it: a declared trunk's addresses are trusted too. */
export function trustWithTrunks(trust: TrustTable, trunks: TrunkTable): TrustTable {
  if (trunks.size === 0) return trust;
  return {
    succeed: (address, user, now) => trust.succeed(address, user, now),
    isTrusted: (address, now) => trunks.has(address) || trust.isTrusted(address, now),
    isKnownFor: (address, user, now) => trust.isKnownFor(address, user, now),
    stats: () => trust.stats(),
  };
}

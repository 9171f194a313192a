/**
 * SRTP termination for a relayed stream (SDES, RFC 4568): what each party is shown in SDP,
 * and the crypto contexts the relay's packet path uses.
 *
 * In SDES each party's a=crypto carries the key it sends with (RFC 4568 6.1). So per party:
 * `rx`, a session under the party's own key, unprotects what it sends; `tx`, a session under
 * a key of sipwarden's (written in the a=crypto the party receives), protects what the relay
 * sends it. The two sides never share a key: a party that speaks SRTP is given sipwarden's
 * key, never the other party's, and a party that speaks plain RTP is given no crypto at all.
 *
 * Which side speaks SRTP: a party that has described the stream keeps what it chose (a
 * re-offer keeps the protocol). Before that, the party being offered the stream gets SRTP
 * when the offerer used it and, on the upstream side, only in `both` mode; on the client
 * side also for a plain offer when `upstreamOffers: srtp`.
 *
 * An offer of SRTP whose a=crypto lines are all of suites sipwarden does not accept (or that
 * do not parse, or weaken the protection) is not terminated: the stream is relayed as opaque
 * SRTP, its description untouched, as in `pass` mode.
 *
 * Keys are MasterKey objects (never printed); a=crypto lines are written only into the SDP.
 */
import type { Direction } from '../core/inspector.ts';
import type { SdpAttribute, SdpMedia } from '../sdp/index.ts';
import {
  type CryptoAttribute,
  formatCryptoAttribute,
  MasterKey,
  parseCryptoAttribute,
  SrtpSession,
  type SrtpSuite,
  srtpSuite,
} from './srtp/index.ts';

export interface SrtpSettings {
  readonly mode: 'terminate' | 'both' | 'pass';
  readonly upstreamOffers: 'as-offered' | 'srtp';
  readonly suites: readonly string[];
}

/** Crypto lines read from one m= section at most (a real offer has 1 to 4). */
const MAX_CRYPTO_LINES = 16;
/** Keys of sipwarden's kept per party (one per suite offered, and the one in use). */
const MAX_OURS = 8;

const SECURE: Readonly<Record<string, string>> = { 'RTP/AVP': 'RTP/SAVP', 'RTP/AVPF': 'RTP/SAVPF' };
const PLAIN: Readonly<Record<string, string>> = { 'RTP/SAVP': 'RTP/AVP', 'RTP/SAVPF': 'RTP/AVPF' };

export function isSecureProto(proto: string): boolean {
  return PLAIN[proto] !== undefined;
}

/** The a=crypto lines of a section that sipwarden can use, in the section's order. */
export function usableCrypto(media: SdpMedia, suites: ReadonlySet<string>): CryptoAttribute[] {
  const usable: CryptoAttribute[] = [];
  let read = 0;
  for (const attribute of media.attributes) {
    if (attribute.name !== 'crypto' || attribute.value === undefined) continue;
    if (++read > MAX_CRYPTO_LINES) break;
    const parsed = parseCryptoAttribute(attribute.value);
    if (parsed.ok && suites.has(parsed.attribute.suite.name)) usable.push(parsed.attribute);
  }
  return usable;
}

/** One party's SRTP state. */
export class SrtpLeg {
  /** The party's last description: SRTP (true) or plain RTP (false); undefined before it described. */
  secure: boolean | undefined;
  /** The a=crypto line the party sends with (its key), when secure. */
  chosen: CryptoAttribute | undefined;
  /** Unprotects what the party sends. */
  rx: SrtpSession | undefined;
  /** Protects what the relay sends the party. */
  tx: SrtpSession | undefined;
  #txTag = -1;
  /** sipwarden's keys written to this party, by crypto tag. */
  readonly #ours = new Map<number, { readonly suite: SrtpSuite; readonly key: MasterKey }>();

  /** The party described the stream with this line of its own (or with none: plain RTP). */
  described(chosen: CryptoAttribute | undefined): void {
    this.secure = chosen !== undefined;
    if (chosen === undefined) {
      this.chosen = undefined;
      this.rx = undefined;
      this.tx = undefined;
      this.#txTag = -1;
      return;
    }
    // The same key again (a retransmission, a re-offer keeping it): the context, its ROC and replay list, stay.
    const same =
      this.chosen !== undefined && this.chosen.suite === chosen.suite && this.chosen.key.equals(chosen.key);
    this.chosen = chosen;
    if (!same || this.rx === undefined) this.rx = new SrtpSession(chosen.suite, chosen.key);
    this.#settle();
  }

  /** Our key for a tag and suite (made once, kept while the tag keeps its suite). */
  ours(tag: number, suite: SrtpSuite): MasterKey {
    const known = this.#ours.get(tag);
    if (known !== undefined && known.suite === suite) return known.key;
    const key = MasterKey.generate(suite);
    // Bounded: a party re-offering under ever new tags keeps only the latest few keys.
    if (this.#ours.size >= MAX_OURS && !this.#ours.has(tag)) {
      for (const old of this.#ours.keys()) {
        if (old === this.#txTag) continue;
        this.#ours.delete(old);
        break;
      }
    }
    this.#ours.set(tag, { suite, key });
    if (this.#txTag === tag) {
      this.tx = undefined;
      this.#txTag = -1;
    }
    this.#settle();
    return key;
  }

  /** Whether we gave the party this tag with this suite. */
  gave(attribute: CryptoAttribute): boolean {
    return this.#ours.get(attribute.tag)?.suite === attribute.suite;
  }

  /** The party's chosen tag names a key of ours with its suite: what the relay sends it is protected under that key. */
  #settle(): void {
    const chosen = this.chosen;
    if (chosen === undefined) return;
    const ours = this.#ours.get(chosen.tag);
    if (ours === undefined || ours.suite !== chosen.suite) return;
    if (this.tx !== undefined && this.#txTag === chosen.tag) return;
    this.tx = new SrtpSession(ours.suite, ours.key);
    this.#txTag = chosen.tag;
  }
}

export class SrtpTermination {
  readonly #settings: SrtpSettings;
  readonly #suites: ReadonlySet<string>;
  readonly #preferred: readonly SrtpSuite[];

  constructor(settings: SrtpSettings) {
    this.#settings = settings;
    this.#suites = new Set(settings.suites);
    this.#preferred = settings.suites.map((name) => srtpSuite(name)).filter((s) => s !== undefined);
  }

  /**
   * A description written by the party on `writerSide`, already given the relay's address
   * (`relayed`), as the reader's side is to see it. Returns `relayed` itself for a stream
   * left as it is (opaque SRTP), and sets `legs.opaque` accordingly.
   */
  rewrite(
    legs: { readonly client: SrtpLeg; readonly upstream: SrtpLeg; opaque: boolean },
    original: SdpMedia,
    relayed: SdpMedia,
    writerSide: Direction,
  ): SdpMedia {
    const readerSide: Direction = writerSide === 'client' ? 'upstream' : 'client';
    const writer = legs[writerSide];
    const reader = legs[readerSide];
    const secureWriter = isSecureProto(original.proto);
    let chosen: CryptoAttribute | undefined;
    if (secureWriter) {
      const usable = usableCrypto(original, this.#suites);
      if (usable.length === 0) {
        // Nothing sipwarden can terminate: relayed as opaque SRTP, as the parties negotiate it.
        legs.opaque = true;
        legs.client.described(undefined);
        legs.upstream.described(undefined);
        legs.client.secure = undefined;
        legs.upstream.secure = undefined;
        return relayed;
      }
      // An answer picks one of the tags we offered; an offer's first usable line is the one we answer.
      chosen = usable.find((c) => writer.gave(c)) ?? usable[0];
    }
    legs.opaque = false;
    writer.described(chosen);
    const secureReader =
      reader.secure ??
      (readerSide === 'client'
        ? secureWriter || this.#settings.upstreamOffers === 'srtp'
        : secureWriter && this.#settings.mode === 'both');
    const kept = relayed.attributes.filter((a) => a.name !== 'crypto');
    if (!secureReader) return { ...relayed, proto: PLAIN[relayed.proto] ?? relayed.proto, attributes: kept };
    const lines: SdpAttribute[] = [];
    const answering = reader.chosen;
    if (answering !== undefined) {
      // The reader's own line decides: the answer (or re-offer) names its tag and suite.
      const key = reader.ours(answering.tag, answering.suite);
      lines.push(cryptoLine(answering.tag, answering.suite, key));
    } else {
      // Offering: the writer's suite when it used SRTP, else every suite accepted.
      const suites = chosen !== undefined ? [chosen.suite] : this.#preferred;
      suites.forEach((suite, i) => {
        lines.push(cryptoLine(i + 1, suite, reader.ours(i + 1, suite)));
      });
    }
    return { ...relayed, proto: SECURE[relayed.proto] ?? relayed.proto, attributes: [...kept, ...lines] };
  }
}

function cryptoLine(tag: number, suite: SrtpSuite, key: MasterKey): SdpAttribute {
  return { name: 'crypto', value: formatCryptoAttribute({ tag, suite, key }) };
}

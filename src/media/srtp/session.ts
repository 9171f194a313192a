/**
 * One direction of an SRTP/SRTCP crypto context (RFC 3711 section 3.2): the session keys
 * derived once from an SDES master key, and per SSRC the rollover counter, the highest
 * sequence number and the replay lists. Use one session to protect what is sent and
 * another, with the peer's key, to unprotect what is received.
 *
 * protect/unprotect return the output packet, or the reason it was refused as a string
 * (no object per refused packet). protectInto and unprotectInPlace allocate nothing of
 * their own (a relay's packet path): they write into the caller's buffer or decrypt where
 * the packet lies. The AES key schedule is done once (an ECB cipher turned into counter
 * mode over a reused counter buffer). node:crypto itself allocates the keystream its update
 * returns and the HMAC-SHA1 object and digest, and takes no offset (views of the packet
 * are passed): it offers no way to write into a caller's buffer.
 *
 * Order of checks on receipt, as RFC 3711 section 3.3 and pion/srtp do it: the cheap replay
 * check first (a flood of replays costs no HMAC), then authentication, and only an
 * authenticated packet changes the stream's state (ROC, highest index, replay list).
 */
import { type Cipher, createCipheriv, createHmac, timingSafeEqual } from 'node:crypto';
import { deriveSrtcpKeys, deriveSrtpKeys, type SessionKeys } from './key-derivation.ts';
import type { MasterKey } from './master-key.ts';
import { ReplayWindow } from './replay-window.ts';
import type { SrtpSuite } from './suites.ts';

export type SrtpFailure =
  /** Shorter than its headers and tag, or not RTP/RTCP version 2. */
  | 'malformed'
  /** Larger than the session accepts (MAX_PACKET). */
  | 'too-long'
  /** The authentication tag does not match: tampered, or another key. */
  | 'authentication'
  /** An index received before, or older than the replay window. */
  | 'replay'
  /** More SSRCs than a session keeps state for. */
  | 'too-many-sources'
  /** The packet index would pass 2^48 (SRTP) or 2^31 (SRTCP): the key must change first. */
  | 'key-exhausted';

export type SrtpResult = Buffer | SrtpFailure;

/** The largest packet protected or unprotected (a UDP datagram's RTP is far below this). */
export const MAX_PACKET = 16_384;
/** The most SSRCs one session keeps state for (a call's stream has one or a few). */
export const MAX_SOURCES = 16;

const RTP_HEADER = 12;
const RTCP_HEADER = 8;
const SRTCP_INDEX = 4;
const SRTCP_E_FLAG = 0x8000_0000;
const MAX_SRTCP_INDEX = 0x7fff_ffff;
const MAX_ROC = 0xffff_ffff;

interface RtpStream {
  /** The rollover counter and the highest sequence number, s_l (RFC 3711 section 3.3.1). */
  roc: number;
  highestSeq: number;
  readonly replay: ReplayWindow;
}

interface RtcpStream {
  /** The next SRTCP index to send. */
  nextIndex: number;
  readonly replay: ReplayWindow;
}

/**
 * Counter blocks for one packet, rewritten per packet: one buffer for every session of the
 * thread (crypt uses it synchronously, start to end), not 16 KiB per session and direction.
 */
const COUNTERS = Buffer.alloc(MAX_PACKET + 16);

class Transform {
  readonly #ecb: Cipher;
  readonly #authKey: Buffer;
  readonly #salt: Buffer;
  /** The ROC appended to the authenticated portion, rewritten per packet. */
  readonly #trailer = Buffer.alloc(4);

  constructor(keys: SessionKeys) {
    const algorithm = keys.encryption.length === 32 ? 'aes-256-ecb' : 'aes-128-ecb';
    this.#ecb = createCipheriv(algorithm, keys.encryption, null).setAutoPadding(false);
    this.#authKey = keys.authentication;
    this.#salt = keys.salt;
  }

  /**
   * XORs the AES-CM keystream (RFC 3711 section 4.1.1) into out[start, end): IV = (k_s * 2^16)
   * XOR (SSRC * 2^64) XOR (index * 2^16), block j encrypted from IV + j.
   */
  crypt(out: Buffer, start: number, end: number, ssrc: number, index: number): void {
    const length = end - start;
    if (length <= 0) return;
    const blocks = Math.ceil(length / 16);
    const counters = COUNTERS;
    const salt = this.#salt;
    // The index is 48 bits: high 16 and low 32 kept apart to stay in exact integer range.
    const high = Math.floor(index / 0x1_0000_0000);
    const low = index >>> 0;
    for (let j = 0; j < blocks; j++) {
      const o = j * 16;
      for (let i = 0; i < 14; i++) counters[o + i] = salt[i]!;
      counters[o + 14] = 0;
      counters[o + 15] = 0;
      counters[o + 4]! ^= (ssrc >>> 24) & 0xff;
      counters[o + 5]! ^= (ssrc >>> 16) & 0xff;
      counters[o + 6]! ^= (ssrc >>> 8) & 0xff;
      counters[o + 7]! ^= ssrc & 0xff;
      counters[o + 8]! ^= (high >>> 8) & 0xff;
      counters[o + 9]! ^= high & 0xff;
      counters[o + 10]! ^= (low >>> 24) & 0xff;
      counters[o + 11]! ^= (low >>> 16) & 0xff;
      counters[o + 12]! ^= (low >>> 8) & 0xff;
      counters[o + 13]! ^= low & 0xff;
      // The block counter j (below 2^16 for any packet here) fills the two zero octets.
      counters[o + 14] = (j >>> 8) & 0xff;
      counters[o + 15] = j & 0xff;
    }
    const keystream = this.#ecb.update(counters.subarray(0, blocks * 16));
    for (let i = 0; i < length; i++) out[start + i]! ^= keystream[i]!;
  }

  /** HMAC-SHA1 over the authenticated portion and a 32-bit trailer (the ROC for SRTP), truncated. */
  tag(data: Buffer, trailer: number | undefined, length: number): Buffer {
    const hmac = createHmac('sha1', this.#authKey).update(data);
    if (trailer !== undefined) {
      this.#trailer.writeUInt32BE(trailer >>> 0, 0);
      hmac.update(this.#trailer);
    }
    return hmac.digest().subarray(0, length);
  }
}

export class SrtpSession {
  readonly suite: SrtpSuite;
  readonly #rtp: Transform;
  readonly #rtcp: Transform;
  readonly #rtpStreams = new Map<number, RtpStream>();
  readonly #rtcpStreams = new Map<number, RtcpStream>();

  constructor(suite: SrtpSuite, master: MasterKey);
  constructor(suite: SrtpSuite, master: MasterKey | undefined, keys: { rtp: SessionKeys; rtcp: SessionKeys });
  constructor(
    suite: SrtpSuite,
    master: MasterKey | undefined,
    keys?: { rtp: SessionKeys; rtcp: SessionKeys },
  ) {
    this.suite = suite;
    if (master !== undefined) {
      if (master.keyLength !== suite.keyLength)
        throw new RangeError(`a ${suite.name} master key has ${suite.keyLength} octets`);
      keys = { rtp: deriveSrtpKeys(master, suite), rtcp: deriveSrtcpKeys(master, suite) };
    }
    if (keys === undefined) throw new TypeError('an SRTP session needs a master key');
    this.#rtp = new Transform(keys.rtp);
    this.#rtcp = new Transform(keys.rtcp);
  }

  /** A session over session keys derived elsewhere (the same keys for SRTP and SRTCP): for known-answer tests of the transforms. */
  static withSessionKeys(suite: SrtpSuite, keys: SessionKeys): SrtpSession {
    return new SrtpSession(suite, undefined, { rtp: keys, rtcp: keys });
  }

  /** RTP in, SRTP out (RFC 3711 section 3.3). */
  protect(packet: Buffer): SrtpResult {
    const out = Buffer.allocUnsafe(Math.min(packet.length + this.suite.srtpTagLength, MAX_PACKET));
    const length = this.protectInto(packet, out);
    return typeof length === 'number' ? out : length;
  }

  /**
   * RTP (the first `length` octets of `packet`) in, SRTP written into `out` (room for the
   * packet and its tag): the SRTP length, or why it was refused. For a relay that sends
   * from buffers of its own.
   */
  protectInto(packet: Buffer, out: Buffer, length = packet.length): number | SrtpFailure {
    const headerLength = rtpHeaderLength(packet, length);
    if (headerLength === undefined) return 'malformed';
    const tagLength = this.suite.srtpTagLength;
    if (length + tagLength > MAX_PACKET || length + tagLength > out.length) return 'too-long';
    const ssrc = packet.readUInt32BE(8);
    const seq = packet.readUInt16BE(2);
    let stream = this.#rtpStreams.get(ssrc);
    if (stream === undefined) {
      if (this.#rtpStreams.size >= MAX_SOURCES) return 'too-many-sources';
      // A sender's first packet starts its stream with ROC 0.
      stream = { roc: 0, highestSeq: seq, replay: new ReplayWindow() };
      this.#rtpStreams.set(ssrc, stream);
    }
    const roc = estimateRoc(stream.roc, stream.highestSeq, seq);
    if (roc < 0 || roc > MAX_ROC) return 'key-exhausted';
    const index = roc * 0x1_0000 + seq;
    packet.copy(out, 0, 0, length);
    this.#rtp.crypt(out, headerLength, length, ssrc, index);
    this.#rtp.tag(out.subarray(0, length), roc, tagLength).copy(out, length);
    if (index > stream.roc * 0x1_0000 + stream.highestSeq) {
      stream.roc = roc;
      stream.highestSeq = seq;
    }
    return length + tagLength;
  }

  /** SRTP in, RTP out: refused if malformed, replayed or not authentic. */
  unprotect(packet: Buffer): SrtpResult {
    const copy = Buffer.from(packet);
    const length = this.unprotectInPlace(copy);
    return typeof length === 'number' ? copy.subarray(0, length) : length;
  }

  /**
   * SRTP in, RTP out within the same buffer: the payload is decrypted where it lies and the
   * RTP length returned (the packet without its tag). A refused packet is left unchanged.
   */
  unprotectInPlace(packet: Buffer): number | SrtpFailure {
    const tagLength = this.suite.srtpTagLength;
    if (packet.length > MAX_PACKET) return 'too-long';
    if (packet.length < RTP_HEADER + tagLength) return 'malformed';
    const bodyLength = packet.length - tagLength;
    const headerLength = rtpHeaderLength(packet, bodyLength);
    if (headerLength === undefined) return 'malformed';
    const ssrc = packet.readUInt32BE(8);
    const seq = packet.readUInt16BE(2);
    const known = this.#rtpStreams.get(ssrc);
    if (known === undefined && this.#rtpStreams.size >= MAX_SOURCES) return 'too-many-sources';
    // A receiver's first packet of an SSRC sets s_l (RFC 3711 section 3.3.1); state is kept only once authentic.
    const roc = known === undefined ? 0 : estimateRoc(known.roc, known.highestSeq, seq);
    if (roc < 0 || roc > MAX_ROC) return 'replay';
    const index = roc * 0x1_0000 + seq;
    if (known !== undefined && !known.replay.check(index)) return 'replay';
    // node:crypto's update and timingSafeEqual take no offset: views of the packet, not copies.
    const expected = this.#rtp.tag(packet.subarray(0, bodyLength), roc, tagLength);
    if (!timingSafeEqual(expected, packet.subarray(bodyLength))) return 'authentication';
    this.#rtp.crypt(packet, headerLength, bodyLength, ssrc, index);
    const stream = known ?? { roc, highestSeq: seq, replay: new ReplayWindow() };
    if (known === undefined) this.#rtpStreams.set(ssrc, stream);
    if (index > stream.roc * 0x1_0000 + stream.highestSeq) {
      stream.roc = roc;
      stream.highestSeq = seq;
    }
    stream.replay.accept(index);
    return bodyLength;
  }

  /** RTCP in, SRTCP out (RFC 3711 section 3.4): encrypted, E flag set, index and tag appended. */
  protectRtcp(packet: Buffer): SrtpResult {
    const out = Buffer.allocUnsafe(
      Math.min(packet.length + SRTCP_INDEX + this.suite.srtcpTagLength, MAX_PACKET),
    );
    const length = this.protectRtcpInto(packet, out);
    return typeof length === 'number' ? out : length;
  }

  /** RTCP in, SRTCP written into `out`: the SRTCP length, or why it was refused. */
  protectRtcpInto(packet: Buffer, out: Buffer, length = packet.length): number | SrtpFailure {
    if (length < RTCP_HEADER || packet[0]! >> 6 !== 2) return 'malformed';
    const tagLength = this.suite.srtcpTagLength;
    const total = length + SRTCP_INDEX + tagLength;
    if (total > MAX_PACKET || total > out.length) return 'too-long';
    const ssrc = packet.readUInt32BE(4);
    let stream = this.#rtcpStreams.get(ssrc);
    if (stream === undefined) {
      if (this.#rtcpStreams.size >= MAX_SOURCES) return 'too-many-sources';
      stream = { nextIndex: 0, replay: new ReplayWindow() };
      this.#rtcpStreams.set(ssrc, stream);
    }
    const index = stream.nextIndex;
    if (index > MAX_SRTCP_INDEX) return 'key-exhausted';
    stream.nextIndex++;
    packet.copy(out, 0, 0, length);
    this.#rtcp.crypt(out, RTCP_HEADER, length, ssrc, index);
    out.writeUInt32BE((SRTCP_E_FLAG | index) >>> 0, length);
    const authenticated = length + SRTCP_INDEX;
    this.#rtcp.tag(out.subarray(0, authenticated), undefined, tagLength).copy(out, authenticated);
    return total;
  }

  /** SRTCP in, RTCP out. */
  unprotectRtcp(packet: Buffer): SrtpResult {
    const copy = Buffer.from(packet);
    const length = this.unprotectRtcpInPlace(copy);
    return typeof length === 'number' ? copy.subarray(0, length) : length;
  }

  /** SRTCP in, RTCP out within the same buffer: the RTCP length, or why it was refused (the packet then unchanged). */
  unprotectRtcpInPlace(packet: Buffer): number | SrtpFailure {
    const tagLength = this.suite.srtcpTagLength;
    if (packet.length > MAX_PACKET) return 'too-long';
    if (packet.length < RTCP_HEADER + SRTCP_INDEX + tagLength || packet[0]! >> 6 !== 2) return 'malformed';
    const authenticated = packet.length - tagLength;
    const ssrc = packet.readUInt32BE(4);
    const word = packet.readUInt32BE(authenticated - SRTCP_INDEX);
    const encrypted = (word & SRTCP_E_FLAG) !== 0;
    const index = word & MAX_SRTCP_INDEX;
    const known = this.#rtcpStreams.get(ssrc);
    if (known === undefined && this.#rtcpStreams.size >= MAX_SOURCES) return 'too-many-sources';
    if (known !== undefined && !known.replay.check(index)) return 'replay';
    const expected = this.#rtcp.tag(packet.subarray(0, authenticated), undefined, tagLength);
    if (!timingSafeEqual(expected, packet.subarray(authenticated))) return 'authentication';
    const length = authenticated - SRTCP_INDEX;
    if (encrypted) this.#rtcp.crypt(packet, RTCP_HEADER, length, ssrc, index);
    const stream = known ?? { nextIndex: 0, replay: new ReplayWindow() };
    if (known === undefined) this.#rtcpStreams.set(ssrc, stream);
    stream.replay.accept(index);
    return length;
  }
}

/**
 * The ROC guess v of RFC 3711 section 3.3.1 (Appendix A): the index nearest the highest
 * seen. May be -1 (a packet from before the first ROC, refused by the callers).
 */
export function estimateRoc(roc: number, highestSeq: number, seq: number): number {
  if (highestSeq < 0x8000) return seq - highestSeq > 0x8000 ? roc - 1 : roc;
  return highestSeq - 0x8000 > seq ? roc + 1 : roc;
}

/** The RTP header's length (fixed part, CSRCs, extension), or undefined if the packet cannot hold it. */
function rtpHeaderLength(packet: Buffer, size = packet.length): number | undefined {
  if (size < RTP_HEADER || packet[0]! >> 6 !== 2) return undefined;
  let length = RTP_HEADER + (packet[0]! & 0x0f) * 4;
  if (packet[0]! & 0x10) {
    if (size < length + 4) return undefined;
    length += 4 + packet.readUInt16BE(length + 2) * 4;
  }
  return size < length ? undefined : length;
}

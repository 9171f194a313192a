/**
 * The built-in RTP/RTCP relay. For each audio or video stream negotiated through the proxy
 * (RTP/AVP, RTP/AVPF, RTP/SAVP, RTP/SAVPF), each party is shown a port pair of sipwarden's
 * on its own side instead of the other party's address (c=, m=, a=rtcp rewritten, ICE
 * attributes removed, o= and the session c= naming sipwarden), and the relay forwards RTP
 * and RTCP between the two pairs. SRTP (SDES) is terminated by default (srtp-legs.ts): a
 * party's SRTP is authenticated, checked against replays and decrypted here, and what the
 * relay sends a party that speaks SRTP is encrypted under a key of sipwarden's; a packet
 * that fails authentication or is a replay is dropped, counted and evented. The RTP header
 * is in the clear (RFC 3711 3.1), so the checks below apply to SRTP too, before the HMAC.
 *
 * - Ports: numbers are taken from the side's range when the offer passes (they must be
 *   written in it), the sockets are bound only once the answer has negotiated the stream,
 *   and closed with the dialog (BYE, failure, cancel, session timeout) or after the stream
 *   has been silent for the inactivity timeout.
 * - Latching (symmetric RTP, RFC 4961): a party's first packet fixes where its media comes
 *   from, so phones behind NAT work (with `latch: signalled`, only a packet from the address
 *   its SDP declared or its SIP came from may). From then on only that source is accepted (strict source);
 *   anything else is an injection: dropped, counted, evented. A party that speaks SRTP
 *   latches only with a packet that authenticates under its key. A re-INVITE or UPDATE that
 *   moves a party's media lets it latch again.
 * - Checked against the negotiation: a payload type neither party listed (a video payload
 *   type on an audio stream says so), and packet or byte rates `floodFactor` times above
 *   what the codecs need (an RTP flood inside the call): dropped, counted, evented; a flood
 *   can end the call.
 * - Bounded: streams in all and per SIP source, ports by the ranges; events at most once a
 *   second per stream and kind. The packet path allocates nothing of its own: SRTP is
 *   decrypted in place and encrypted into the relay's send buffers (SendBuffers).
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import type { Direction } from '../core/inspector.ts';
import type { MediaContext, MediaLineHandler, SessionLines } from '../core/route/session-description.ts';
import type { Logger } from '../log/logger.ts';
import type { SdpMedia, SdpSession } from '../sdp/index.ts';
import {
  isRelayable,
  type Negotiated,
  negotiatedOf,
  relayedMedia,
  STATIC_VIDEO_TYPES,
} from './negotiated.ts';
import { PortPool } from './port-pool.ts';
import { SendBuffers } from './send-buffers.ts';
import { SrtpLeg, type SrtpSettings, SrtpTermination } from './srtp-legs.ts';

export interface RelaySide {
  /** Where this side's sockets are bound. */
  readonly host: string;
  /** The address written in SDP for the parties on this side. */
  readonly advertise: string;
  readonly portMin: number;
  readonly portMax: number;
}

export interface RtpRelaySettings {
  readonly client: RelaySide;
  readonly upstream: RelaySide;
  readonly maxStreams: number;
  readonly maxStreamsPerSource: number;
  readonly inactivityTimeoutMs: number;
  readonly floodFactor: number;
  readonly floodAction: 'alert' | 'end-call';
  /**
   * Who may latch a party before its first packet: `first-packet` anyone (the first packet
   * fixes the address: NAT that maps media to another address than SIP still works);
   * `signalled` only the address its SDP declared or its SIP came from.
   */
  readonly latch: 'first-packet' | 'signalled';
  /** SRTP termination; absent or `pass`: SRTP is relayed as it comes. */
  readonly srtp?: SrtpSettings;
}

export type MediaDropKind =
  | 'injection'
  | 'payload-type'
  | 'media-type'
  | 'flood'
  | 'srtp-authentication'
  | 'srtp-replay';

/** What the relay reports; called at most once a second per stream and kind. */
export interface MediaRelayObserver {
  dropped(detail: {
    readonly kind: MediaDropKind;
    readonly session: string;
    readonly side: Direction;
    readonly address: string;
    readonly port: number;
    /** Packets of this kind dropped on the stream so far. */
    readonly count: number;
    readonly payloadType?: number;
    readonly mediaType: string;
    /** Flood: the call is being ended. */
    readonly endsCall?: boolean;
  }): void;
  /** An offer's stream was refused (port 0): the relay is full, or its ports are exhausted. */
  refused(detail: { readonly session: string; readonly reason: string; readonly address: string }): void;
}

const QUIET: MediaRelayObserver = { dropped: () => {}, refused: () => {} };

export interface MediaRelayStats {
  forwarded: number;
  /** Of those, sent by the party on the client side and by the one on the upstream side. */
  fromClient: number;
  fromUpstream: number;
  forwardedBytes: number;
  injection: number;
  payloadType: number;
  mediaType: number;
  flood: number;
  /** SRTP or SRTCP packets whose authentication tag did not verify under the party's key. */
  srtpAuthentication: number;
  /** SRTP or SRTCP packets received before, or older than the replay window. */
  srtpReplay: number;
  /** SRTP and SRTCP packets decrypted and authenticated, and packets encrypted towards a party. */
  srtpUnprotected: number;
  srtpProtected: number;
  /** Packets before the stream was negotiated, malformed, or towards a party with no address yet. */
  unusable: number;
  refusedStreams: number;
  inactivityClosed: number;
  bindFailures: number;
}

const SIDES: readonly Direction[] = ['client', 'upstream'];
const KINDS: readonly MediaDropKind[] = [
  'injection',
  'payload-type',
  'media-type',
  'flood',
  'srtp-authentication',
  'srtp-replay',
];
const SRTP_AUTHENTICATION = 4;
const SRTP_REPLAY = 5;

/** One party of a stream, on one side: the socket pair it sends to and receives from. */
class Party {
  rtpPort = 0;
  rtp: Socket | undefined;
  rtcp: Socket | undefined;
  declared: Negotiated | undefined;
  /** The SIP source address of the party's last description. */
  signalling = '';
  rtpLatched = false;
  rtpAddress = '';
  rtpSourcePort = 0;
  rtcpLatched = false;
  rtcpAddress = '';
  rtcpSourcePort = 0;
  /** The current one-second window of what the party sent. */
  windowStart = 0;
  windowPackets = 0;
  windowBytes = 0;
  /** Ceilings for one window: the codecs' rates times the flood factor. */
  maxPackets = 0;
  maxBytes = 0;

  constructor(readonly side: Direction) {}

  unlatch(): void {
    this.rtpLatched = false;
    this.rtcpLatched = false;
  }
}

/** The stream's SRTP legs: each party's keys, or opaque (SRTP relayed as it came). */
interface StreamSrtp {
  readonly client: SrtpLeg;
  readonly upstream: SrtpLeg;
  opaque: boolean;
}

class Stream {
  readonly parties: Record<Direction, Party> = {
    client: new Party('client'),
    upstream: new Party('upstream'),
  };
  /** Payload types either party listed: 1 allowed. */
  readonly allowed = new Uint8Array(128);
  /** Each party's latest list, and the writer's previous one until the other answers. */
  readonly lists: Record<Direction, readonly number[]> = { client: [], upstream: [] };
  previous: readonly number[] = [];
  open = false;
  closed = false;
  lastPacketAt: number;
  readonly drops = new Float64Array(KINDS.length);
  readonly reportedAt = new Float64Array(KINDS.length);
  floodEnded = false;
  readonly srtp: StreamSrtp = { client: new SrtpLeg(), upstream: new SrtpLeg(), opaque: false };

  constructor(
    readonly key: string,
    readonly session: string,
    readonly mediaType: string,
    /** The client side's SIP source address: per-source caps count on it. */
    readonly source: string,
    now: number,
  ) {
    this.lastPacketAt = now;
  }
}

export class RtpRelay implements MediaLineHandler {
  readonly #settings: RtpRelaySettings;
  readonly #signalledLatch: boolean;
  readonly #log: Logger;
  readonly #observer: MediaRelayObserver;
  readonly #pools: Record<Direction, PortPool>;
  /** Streams by session key and m= index. */
  readonly #streams = new Map<string, Stream>();
  readonly #bySession = new Map<string, Stream[]>();
  readonly #perSource = new Map<string, number>();
  readonly #sweep: NodeJS.Timeout;
  readonly #srtp: SrtpTermination | undefined;
  readonly #sendBuffers = new SendBuffers();
  /** Set by the gateway: ends a call whose media flooded (floodAction end-call). */
  endCall: (session: string) => void = () => {};
  readonly stats: MediaRelayStats = {
    forwarded: 0,
    fromClient: 0,
    fromUpstream: 0,
    forwardedBytes: 0,
    injection: 0,
    payloadType: 0,
    mediaType: 0,
    flood: 0,
    srtpAuthentication: 0,
    srtpReplay: 0,
    srtpUnprotected: 0,
    srtpProtected: 0,
    unusable: 0,
    refusedStreams: 0,
    inactivityClosed: 0,
    bindFailures: 0,
  };

  constructor(settings: RtpRelaySettings, log: Logger, observer: MediaRelayObserver = QUIET) {
    this.#settings = settings;
    this.#signalledLatch = settings.latch === 'signalled';
    this.#log = log;
    this.#observer = observer;
    this.#srtp =
      settings.srtp === undefined || settings.srtp.mode === 'pass'
        ? undefined
        : new SrtpTermination(settings.srtp);
    this.#pools = {
      client: new PortPool(settings.client.portMin, settings.client.portMax),
      upstream: new PortPool(settings.upstream.portMin, settings.upstream.portMax),
    };
    const every = Math.max(250, Math.min(5_000, Math.floor(settings.inactivityTimeoutMs / 4)));
    this.#sweep = setInterval(() => this.#closeInactive(Date.now()), every);
    this.#sweep.unref();
  }

  get streamCount(): number {
    return this.#streams.size;
  }

  /** Sockets bound now (two per party of an open stream). */
  get openPorts(): number {
    let open = 0;
    for (const stream of this.#streams.values()) if (stream.open) open += 4;
    return open;
  }

  /** What the metrics show. */
  readings() {
    return { streams: this.#streams.size, openPorts: this.openPorts, ...this.stats };
  }

  /** Every stream: its session, its relay ports on each side, whether they are bound. */
  streams(): { session: string; client: number; upstream: number; open: boolean }[] {
    return [...this.#streams.values()].map((s) => ({
      session: s.session,
      client: s.parties.client.rtpPort,
      upstream: s.parties.upstream.rtpPort,
      open: s.open,
    }));
  }

  /** The relay's ports of a session's streams, for diagnostics and tests. */
  portsOf(session: string): { client: number; upstream: number; open: boolean }[] {
    return (this.#bySession.get(session) ?? []).map((s) => ({
      client: s.parties.client.rtpPort,
      upstream: s.parties.upstream.rtpPort,
      open: s.open,
    }));
  }

  close(): void {
    clearInterval(this.#sweep);
    for (const stream of [...this.#streams.values()]) this.#closeStream(stream);
  }

  // --- MediaLineHandler: the SDP side ---

  rewrite(media: SdpMedia, description: SdpSession, context: MediaContext): SdpMedia {
    if (!isRelayable(media)) return media;
    const key = `${context.session}#${context.index}`;
    const writerSide = opposite(context.toward);
    let stream = this.#streams.get(key);
    if (stream !== undefined && (media.port === 0 || stream.mediaType !== media.type)) {
      // The stream was removed or refused (RFC 3264 8.2), or its section reused for another type.
      this.#closeStream(stream);
      stream = undefined;
    }
    if (media.port === 0) return media;
    const negotiated = negotiatedOf(media, description);
    if (negotiated === undefined) return media;
    const now = Date.now();
    if (stream === undefined) {
      const refusal = this.#refusal(context, writerSide);
      if (refusal !== undefined) {
        this.stats.refusedStreams++;
        this.#observer.refused({
          session: context.session,
          reason: refusal,
          address: context.source.remoteAddress,
        });
        return { ...media, port: 0 };
      }
      const created = this.#create(key, context, media.type, writerSide, now);
      if (created === undefined) {
        this.stats.refusedStreams++;
        this.#observer.refused({
          session: context.session,
          reason: 'no relay ports left in the range',
          address: context.source.remoteAddress,
        });
        return { ...media, port: 0 };
      }
      stream = created;
    }
    this.#describe(stream, writerSide, negotiated, context.source.remoteAddress);
    const reader = stream.parties[context.toward];
    const relayed = relayedMedia(media, this.#settings[context.toward].advertise, reader.rtpPort);
    return this.#srtp === undefined ? relayed : this.#srtp.rewrite(stream.srtp, media, relayed, writerSide);
  }

  rewriteSession(description: SdpSession, context: Omit<MediaContext, 'index'>): SessionLines {
    const host = this.#settings[context.toward].advertise;
    const addrType = host.includes(':') ? 'IP6' : 'IP4';
    return {
      origin: { ...description.origin, addrType, address: host },
      connection: { netType: 'IN', addrType, address: host },
    };
  }

  ended(session: string): void {
    const streams = this.#bySession.get(session);
    if (streams === undefined) return;
    for (const stream of [...streams]) this.#closeStream(stream);
  }

  #refusal(context: MediaContext, writerSide: Direction): string | undefined {
    if (this.#streams.size >= this.#settings.maxStreams) return 'the relay is full (maxStreams)';
    if (writerSide === 'client') {
      const count = this.#perSource.get(context.source.remoteAddress) ?? 0;
      if (count >= this.#settings.maxStreamsPerSource) return 'too many relayed streams from this address';
    }
    return undefined;
  }

  #create(
    key: string,
    context: MediaContext,
    type: string,
    writerSide: Direction,
    now: number,
  ): Stream | undefined {
    const clientPort = this.#pools.client.take(now);
    if (clientPort === undefined) return undefined;
    const upstreamPort = this.#pools.upstream.take(now);
    if (upstreamPort === undefined) {
      this.#pools.client.release(clientPort);
      return undefined;
    }
    // The client side's source: the writer's own when it is there, else the side the offer goes to is learnt later.
    const source = writerSide === 'client' ? context.source.remoteAddress : '';
    const stream = new Stream(key, context.session, type, source, now);
    stream.parties.client.rtpPort = clientPort;
    stream.parties.upstream.rtpPort = upstreamPort;
    this.#streams.set(key, stream);
    const ofSession = this.#bySession.get(context.session);
    if (ofSession === undefined) this.#bySession.set(context.session, [stream]);
    else ofSession.push(stream);
    if (source !== '') this.#perSource.set(source, (this.#perSource.get(source) ?? 0) + 1);
    return stream;
  }

  /** A party's description (offer or answer alike): where it receives, what it may send. */
  #describe(stream: Stream, side: Direction, negotiated: Negotiated, signalling: string): void {
    const party = stream.parties[side];
    const before = party.declared;
    if (
      before !== undefined &&
      (before.address !== negotiated.address ||
        before.rtpPort !== negotiated.rtpPort ||
        before.rtcpPort !== negotiated.rtcpPort)
    ) {
      // The party moved its media (re-INVITE, UPDATE): it latches again from its new place.
      party.unlatch();
    }
    party.declared = negotiated;
    party.signalling = signalling;
    // Until the other party answers, the writer's earlier list stays allowed too.
    stream.previous = stream.lists[side];
    stream.lists[side] = negotiated.payloadTypes;
    stream.allowed.fill(0);
    for (const list of [stream.lists.client, stream.lists.upstream, stream.previous])
      for (const pt of list) stream.allowed[pt] = 1;
    // Each party's ceilings come from the larger of the two descriptions (either may list the faster codec).
    const other = stream.parties[opposite(side)].declared;
    const packets =
      Math.max(negotiated.packetsPerSecond, other?.packetsPerSecond ?? 0) * this.#settings.floodFactor;
    const bytes =
      Math.max(negotiated.bytesPerSecond, other?.bytesPerSecond ?? 0) * this.#settings.floodFactor;
    for (const s of SIDES) {
      stream.parties[s].maxPackets = packets;
      stream.parties[s].maxBytes = bytes;
    }
    if (!stream.open && other !== undefined) this.#open(stream);
  }

  /** Both parties have described the stream: its sockets are bound now. */
  #open(stream: Stream): void {
    stream.open = true;
    stream.lastPacketAt = Date.now();
    for (const side of SIDES) {
      const party = stream.parties[side];
      const { host } = this.#settings[side];
      // Each socket is set on its party before it binds: a failed bind closes the stream, and it.
      party.rtp = this.#socket(stream, party, host, false);
      party.rtp.bind(party.rtpPort, host);
      if (stream.closed) return;
      party.rtcp = this.#socket(stream, party, host, true);
      party.rtcp.bind(party.rtpPort + 1, host);
      if (stream.closed) return;
    }
  }

  #socket(stream: Stream, party: Party, host: string, rtcp: boolean): Socket {
    const family = host.includes(':') ? 6 : 4;
    // The host is an address: answered at once, so the bind is done before bind() returns,
    // before the answer that names the port is forwarded (a peer's first packet finds it).
    const socket = createSocket({
      type: family === 6 ? 'udp6' : 'udp4',
      lookup: (address, _options, callback) => callback(null, address, family),
    });
    const other = stream.parties[opposite(party.side)];
    socket.on('message', (packet: Buffer, from: RemoteInfo) =>
      this.#packet(stream, party, other, rtcp, packet, from),
    );
    socket.on('error', (error) => {
      // A port another process holds: set aside for a minute; the stream is not relayed.
      this.stats.bindFailures++;
      this.#pools[party.side].setAside(party.rtpPort, Date.now() + 60_000);
      this.#log.warn(
        { err: error, port: party.rtpPort, side: party.side, rtcp },
        'relay port could not be used',
      );
      this.#closeStream(stream);
    });
    return socket;
  }

  // --- The packet path: nothing allocated here ---

  #packet(stream: Stream, from: Party, to: Party, rtcp: boolean, packet: Buffer, source: RemoteInfo): void {
    if (stream.closed) return;
    const now = Date.now();
    const srtp = stream.srtp;
    // The sender's SRTP context: it must authenticate before it may latch or be forwarded.
    const fromLeg = srtp[from.side];
    const secureFrom = !srtp.opaque && fromLeg.secure === true;
    let latch = false;
    // Strict source once latched; before that the declared address or the SIP source may latch.
    if (rtcp ? from.rtcpLatched : from.rtpLatched) {
      if (
        source.port !== (rtcp ? from.rtcpSourcePort : from.rtpSourcePort) ||
        source.address !== (rtcp ? from.rtcpAddress : from.rtpAddress)
      ) {
        this.#drop(stream, from, 0, source, -1, now);
        return;
      }
    } else if (
      this.#signalledLatch &&
      source.address !== from.declared?.address &&
      source.address !== from.signalling
    ) {
      this.#drop(stream, from, 0, source, -1, now);
      return;
    } else if (packet.length >= 8 && packet[0]! >> 6 === 2) {
      // Only a well-formed packet latches (an SRTP party's only once it authenticates).
      if (secureFrom) latch = true;
      else this.#latch(from, rtcp, source);
    }
    if (packet.length < 8 || packet[0]! >> 6 !== 2) {
      this.stats.unusable++;
      return;
    }
    // Activity: any well-formed packet of the party's (an SRTP party's once authentic).
    if (!secureFrom) stream.lastPacketAt = now;
    // RTCP, on its own port or multiplexed (RFC 5761 4: second byte 192..223).
    const second = packet[1]!;
    const isRtcp = rtcp || (second >= 192 && second <= 223);
    let pt = -1;
    if (!isRtcp) {
      if (packet.length < 12) {
        this.stats.unusable++;
        return;
      }
      pt = second & 0x7f;
      if (stream.allowed[pt] !== 1) {
        const kind = stream.mediaType === 'audio' && STATIC_VIDEO_TYPES.has(pt) ? 2 : 1;
        this.#drop(stream, from, kind, source, pt, now);
        return;
      }
      if (now - from.windowStart >= 1000) {
        from.windowStart = now;
        from.windowPackets = 0;
        from.windowBytes = 0;
      }
      from.windowPackets++;
      from.windowBytes += packet.length;
      if (from.windowPackets > from.maxPackets || from.windowBytes > from.maxBytes) {
        this.#drop(stream, from, 3, source, pt, now);
        return;
      }
    }
    let length = packet.length;
    if (secureFrom) {
      const rx = fromLeg.rx;
      if (rx === undefined) {
        this.stats.unusable++;
        return;
      }
      const result = isRtcp ? rx.unprotectRtcpInPlace(packet) : rx.unprotectInPlace(packet);
      if (typeof result === 'string') {
        if (result === 'authentication') this.#drop(stream, from, SRTP_AUTHENTICATION, source, pt, now);
        else if (result === 'replay') this.#drop(stream, from, SRTP_REPLAY, source, pt, now);
        else this.stats.unusable++;
        return;
      }
      length = result;
      this.stats.srtpUnprotected++;
      if (latch) this.#latch(from, rtcp, source);
      stream.lastPacketAt = now;
    }
    const declared = to.declared;
    let port: number;
    let address: string;
    if (rtcp ? to.rtcpLatched : to.rtpLatched) {
      address = rtcp ? to.rtcpAddress : to.rtpAddress;
      port = rtcp ? to.rtcpSourcePort : to.rtpSourcePort;
    } else if (declared !== undefined && declared.address !== '0.0.0.0' && declared.address !== '::') {
      address = declared.address;
      port = rtcp ? declared.rtcpPort : declared.rtpPort;
    } else {
      this.stats.unusable++;
      return;
    }
    const socket = rtcp ? to.rtcp : to.rtp;
    if (socket === undefined) return;
    const toLeg = srtp[to.side];
    if (!srtp.opaque && toLeg.secure === true) {
      const tx = toLeg.tx;
      if (tx === undefined) {
        this.stats.unusable++;
        return;
      }
      const slot = this.#sendBuffers.take(length + 32);
      const sealed = isRtcp
        ? tx.protectRtcpInto(packet, slot.buffer, length)
        : tx.protectInto(packet, slot.buffer, length);
      if (typeof sealed === 'string') {
        slot.done();
        this.stats.unusable++;
        return;
      }
      this.stats.srtpProtected++;
      this.#count(from, sealed);
      socket.send(slot.buffer, 0, sealed, port, address, slot.done);
      return;
    }
    this.#count(from, length);
    // Plain RTP as it came: node:dgram's offset and length form would make a view per packet.
    if (length === packet.length) socket.send(packet, port, address);
    else socket.send(packet, 0, length, port, address);
  }

  #latch(party: Party, rtcp: boolean, source: RemoteInfo): void {
    if (rtcp) {
      party.rtcpLatched = true;
      party.rtcpAddress = source.address;
      party.rtcpSourcePort = source.port;
    } else {
      party.rtpLatched = true;
      party.rtpAddress = source.address;
      party.rtpSourcePort = source.port;
    }
  }

  #count(from: Party, bytes: number): void {
    this.stats.forwarded++;
    if (from.side === 'client') this.stats.fromClient++;
    else this.stats.fromUpstream++;
    this.stats.forwardedBytes += bytes;
  }

  /** Counts a dropped packet; reports at most once a second per stream and kind. */
  #drop(stream: Stream, from: Party, kind: number, source: RemoteInfo, pt: number, now: number): void {
    stream.drops[kind]!++;
    if (kind === 0) this.stats.injection++;
    else if (kind === 1) this.stats.payloadType++;
    else if (kind === 2) this.stats.mediaType++;
    else if (kind === 3) this.stats.flood++;
    else if (kind === SRTP_AUTHENTICATION) this.stats.srtpAuthentication++;
    else this.stats.srtpReplay++;
    const endsCall = kind === 3 && this.#settings.floodAction === 'end-call' && !stream.floodEnded;
    if (now - stream.reportedAt[kind]! < 1000 && !endsCall) return;
    stream.reportedAt[kind] = now;
    this.#observer.dropped({
      kind: KINDS[kind]!,
      session: stream.session,
      side: from.side,
      address: source.address,
      port: source.port,
      count: stream.drops[kind]!,
      ...(pt >= 0 ? { payloadType: pt } : {}),
      mediaType: stream.mediaType,
      ...(endsCall ? { endsCall } : {}),
    });
    if (endsCall) {
      stream.floodEnded = true;
      this.#log.warn({ session: stream.session, side: from.side }, 'RTP flood: ending the call');
      this.endCall(stream.session);
    }
  }

  #closeInactive(now: number): void {
    const limit = now - this.#settings.inactivityTimeoutMs;
    const silent: Stream[] = [];
    for (const stream of this.#streams.values())
      if (stream.open && stream.lastPacketAt <= limit) silent.push(stream);
    for (const stream of silent) {
      this.stats.inactivityClosed++;
      this.#log.info({ session: stream.session }, 'media inactive: relay ports closed');
      this.#closeStream(stream);
    }
  }

  #closeStream(stream: Stream): void {
    if (stream.closed) return;
    stream.closed = true;
    this.#streams.delete(stream.key);
    const ofSession = this.#bySession.get(stream.session);
    if (ofSession !== undefined) {
      const rest = ofSession.filter((s) => s !== stream);
      if (rest.length === 0) this.#bySession.delete(stream.session);
      else this.#bySession.set(stream.session, rest);
    }
    if (stream.source !== '') {
      const count = (this.#perSource.get(stream.source) ?? 1) - 1;
      if (count > 0) this.#perSource.set(stream.source, count);
      else this.#perSource.delete(stream.source);
    }
    for (const side of SIDES) {
      const party = stream.parties[side];
      for (const socket of [party.rtp, party.rtcp]) {
        if (socket === undefined) continue;
        socket.removeAllListeners('message');
        socket.on('error', () => {});
        try {
          socket.close();
        } catch {
          // Not bound yet, or closed already.
        }
      }
      party.rtp = undefined;
      party.rtcp = undefined;
      this.#pools[side].release(party.rtpPort);
    }
  }
}

function opposite(side: Direction): Direction {
  return side === 'client' ? 'upstream' : 'client';
}

/**
 * The SDP model (RFC 8866, which obsoletes RFC 4566): pure data. Numbers that may exceed
 * 2^53 (session id and version, NTP times) are kept as their digit strings.
 */

export type SdpAddressType = 'IP4' | 'IP6';

/** o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address> (RFC 8866 5.2) */
export interface SdpOrigin {
  readonly username: string;
  /** Digits, as written. */
  readonly sessionId: string;
  /** Digits, as written. */
  readonly sessionVersion: string;
  readonly netType: 'IN';
  readonly addrType: SdpAddressType;
  /** An IPv4 or IPv6 literal or a fully qualified domain name. */
  readonly address: string;
}

/** c=<nettype> <addrtype> <connection-address> (RFC 8866 5.7) */
export interface SdpConnection {
  readonly netType: 'IN';
  readonly addrType: SdpAddressType;
  /** The address without its /ttl and /count suffixes. */
  readonly address: string;
  /** IPv4 multicast only: the TTL (0..255). */
  readonly ttl?: number;
  /** Multicast only: the number of consecutive addresses. */
  readonly count?: number;
}

/** b=<bwtype>:<bandwidth> (RFC 8866 5.8) */
export interface SdpBandwidth {
  readonly type: string;
  readonly value: number;
}

/** t=<start-time> <stop-time> with its r= lines (RFC 8866 5.9, 5.10). */
export interface SdpTiming {
  /** Digits, as written. */
  readonly start: string;
  /** Digits, as written. */
  readonly stop: string;
  /** r= values, as written. */
  readonly repeats: readonly string[];
}

/** a=<attribute-name>[:<attribute-value>] (RFC 8866 5.13) */
export interface SdpAttribute {
  readonly name: string;
  /** Absent for a property attribute (`a=sendrecv`). */
  readonly value?: string;
}

/** a=rtpmap:<payload type> <encoding name>/<clock rate>[/<encoding parameters>] (RFC 8866 6.6) */
export interface SdpRtpMap {
  readonly payloadType: number;
  readonly encoding: string;
  /** Absent only for a static payload type, whose rate RFC 3551 fixes. */
  readonly clockRate?: number;
  /** Encoding parameters: the channel count for audio. */
  readonly channels?: number;
}

/** One media description: m= and the lines that follow it (RFC 8866 5.14). */
export interface SdpMedia {
  /** audio, video, text, application, message, image, or another token. */
  readonly type: string;
  readonly port: number;
  /** The /<number of ports> suffix, when written. */
  readonly portCount?: number;
  /** RTP/AVP, RTP/SAVP, RTP/SAVPF, UDP/TLS/RTP/SAVPF, TCP/MSRP, udptl... */
  readonly proto: string;
  /** Formats as written: payload type numbers for RTP protocols. */
  readonly formats: readonly string[];
  readonly information?: string;
  readonly connections: readonly SdpConnection[];
  readonly bandwidths: readonly SdpBandwidth[];
  readonly key?: string;
  readonly attributes: readonly SdpAttribute[];
  /** The a=rtpmap attributes, parsed (they stay in `attributes` too). */
  readonly rtpmaps: readonly SdpRtpMap[];
}

export interface SdpSession {
  readonly version: 0;
  readonly origin: SdpOrigin;
  /** s=: RFC 8866 wants at least one character; an empty one is tolerated (RFC 5118 4.6 sends it). */
  readonly name: string;
  readonly information?: string;
  readonly uri?: string;
  readonly emails: readonly string[];
  readonly phones: readonly string[];
  readonly connection?: SdpConnection;
  readonly bandwidths: readonly SdpBandwidth[];
  readonly timings: readonly SdpTiming[];
  /** z= value, as written. */
  readonly zone?: string;
  readonly key?: string;
  readonly attributes: readonly SdpAttribute[];
  readonly media: readonly SdpMedia[];
}

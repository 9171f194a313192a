/**
 * What one side's media description negotiates for a relayed stream: where that party
 * receives RTP and RTCP, which payload types it may use, and the packet and byte rates its
 * codecs need (the ceiling of a flood check). Pure functions over the SDP model.
 */
import type { SdpConnection, SdpMedia, SdpSession } from '../sdp/index.ts';

/** Transport protocols whose packets are RTP and RTCP (RFC 3551, RFC 4585, RFC 3711, RFC 5124). */
export const RTP_PROTOS: ReadonlySet<string> = new Set(['RTP/AVP', 'RTP/AVPF', 'RTP/SAVP', 'RTP/SAVPF']);

/** Media types the relay carries. */
const RELAYED_TYPES: ReadonlySet<string> = new Set(['audio', 'video']);

export function isRelayable(media: SdpMedia): boolean {
  return RELAYED_TYPES.has(media.type) && RTP_PROTOS.has(media.proto) && media.portCount === undefined;
}

/** Attributes of ICE (RFC 8839 5): the relay is the only path, so they are not forwarded. */
const ICE_ATTRIBUTES: ReadonlySet<string> = new Set([
  'candidate',
  'remote-candidates',
  'ice-ufrag',
  'ice-pwd',
  'ice-options',
  'ice-lite',
  'ice-mismatch',
  'end-of-candidates',
  'ice-pacing',
]);

export interface Negotiated {
  /** Where the party wants its RTP; `0.0.0.0` (old-style hold) means nowhere yet. */
  readonly address: string;
  readonly rtpPort: number;
  /** Where the party wants its RTCP: a=rtcp (RFC 3605), else the next port; the RTP port with rtcp-mux (RFC 5761). */
  readonly rtcpPort: number;
  readonly rtcpMux: boolean;
  /** Payload types listed in the m= line. */
  readonly payloadTypes: readonly number[];
  /** Packets per second and bytes per second (UDP payload) the codecs need at most. */
  readonly packetsPerSecond: number;
  readonly bytesPerSecond: number;
}

/** The section's own c=, else the session's (RFC 8866 5.7). */
export function connectionOf(media: SdpMedia, description: SdpSession): SdpConnection | undefined {
  return media.connections[0] ?? description.connection;
}

export function negotiatedOf(media: SdpMedia, description: SdpSession): Negotiated | undefined {
  const connection = connectionOf(media, description);
  if (connection === undefined || connection.count !== undefined) return undefined;
  const payloadTypes: number[] = [];
  for (const format of media.formats) {
    const pt = Number(format);
    if (Number.isInteger(pt) && pt >= 0 && pt <= 127) payloadTypes.push(pt);
  }
  const rtcpMux = media.attributes.some((a) => a.name === 'rtcp-mux');
  let rtcpPort = media.port + 1;
  const rtcp = media.attributes.find((a) => a.name === 'rtcp')?.value;
  if (rtcp !== undefined) {
    const port = Number(rtcp.trim().split(' ')[0]);
    if (Number.isInteger(port) && port > 0 && port <= 65535) rtcpPort = port;
  }
  if (rtcpMux) rtcpPort = media.port;
  const { packetsPerSecond, bytesPerSecond } = expectedRates(media);
  return {
    address: connection.address,
    rtpPort: media.port,
    rtcpPort,
    rtcpMux,
    payloadTypes,
    packetsPerSecond,
    bytesPerSecond,
  };
}

/** Codec bit rates (bits/s) by encoding name: RFC 3551 table 4, and the common others. */
const AUDIO_BITRATES: Readonly<Record<string, number>> = {
  pcmu: 64_000,
  pcma: 64_000,
  g722: 64_000,
  g729: 8_000,
  g7221: 48_000,
  g723: 6_300,
  g726: 40_000,
  'g726-32': 32_000,
  gsm: 13_200,
  ilbc: 15_200,
  speex: 44_000,
  l16: 1_411_200,
  opus: 510_000,
  amr: 12_200,
  'amr-wb': 23_850,
  'telephone-event': 1_000,
  cn: 1_000,
};

/** Static payload types (RFC 3551 table 4) by number, for offers that list them without a=rtpmap. */
const STATIC_AUDIO: Readonly<Record<number, string>> = {
  0: 'pcmu',
  3: 'gsm',
  4: 'g723',
  8: 'pcma',
  9: 'g722',
  13: 'cn',
  18: 'g729',
};

/** Static payload types of video (RFC 3551 table 5): seen on an audio stream, a media type not negotiated. */
export const STATIC_VIDEO_TYPES: ReadonlySet<number> = new Set([25, 26, 28, 31, 32, 33, 34]);

/** RTP header (12) with a few CSRC or extension words. */
const HEADER_BYTES = 24;
/** An unknown audio codec, and video without b=AS: generous ceilings, before the flood factor. */
const UNKNOWN_AUDIO_BITRATE = 256_000;
const DEFAULT_VIDEO_BITRATE = 4_000_000;
/** Video packets of a ~1200-byte MTU-bound size. */
const VIDEO_PACKET_BYTES = 1_000;

function expectedRates(media: SdpMedia): { packetsPerSecond: number; bytesPerSecond: number } {
  const asKbps = media.bandwidths.find((b) => b.type === 'AS')?.value;
  const tias = media.bandwidths.find((b) => b.type === 'TIAS')?.value;
  const declared = tias ?? (asKbps === undefined ? undefined : asKbps * 1000);
  if (media.type === 'video') {
    const bitrate = Math.max(declared ?? DEFAULT_VIDEO_BITRATE, 256_000);
    const packetsPerSecond = Math.max(300, Math.ceil(bitrate / 8 / VIDEO_PACKET_BYTES));
    return { packetsPerSecond, bytesPerSecond: Math.ceil(bitrate / 8 + packetsPerSecond * HEADER_BYTES) };
  }
  // Audio: the packet rate of the smallest packetisation (a=ptime, RFC 8866 6.4; 10 ms at the least).
  const ptime = Number(media.attributes.find((a) => a.name === 'ptime')?.value ?? 20);
  const packetMs = Number.isFinite(ptime) && ptime > 0 ? Math.max(10, Math.min(ptime, 20)) : 20;
  let bitrate = 0;
  for (const format of media.formats) {
    const pt = Number(format);
    const mapped = media.rtpmaps.find((m) => m.payloadType === pt);
    const name = (mapped?.encoding ?? STATIC_AUDIO[pt] ?? '').toLowerCase();
    const rate = AUDIO_BITRATES[name] ?? UNKNOWN_AUDIO_BITRATE;
    // A wideband or multi-channel linear codec scales with its clock rate and channels.
    const scaled =
      name === 'l16' && mapped?.clockRate !== undefined
        ? mapped.clockRate * 16 * (mapped.channels ?? 1)
        : rate;
    bitrate = Math.max(bitrate, scaled);
  }
  if (declared !== undefined) bitrate = Math.max(bitrate, declared);
  // Telephone events and comfort noise ride beside the voice codec: room for both.
  const packetsPerSecond = Math.ceil((1000 / packetMs) * 2);
  return { packetsPerSecond, bytesPerSecond: Math.ceil(bitrate / 8 + packetsPerSecond * HEADER_BYTES) };
}

/**
 * The section as forwarded: the relay's address and port, a=rtcp naming the relay's RTCP
 * port (RFC 3605), and no ICE attributes (RFC 8839) since the relay is the only path.
 */
export function relayedMedia(media: SdpMedia, host: string, rtpPort: number): SdpMedia {
  const addrType = host.includes(':') ? 'IP6' : 'IP4';
  const rtcpMux = media.attributes.some((a) => a.name === 'rtcp-mux');
  const attributes = [];
  for (const attribute of media.attributes) {
    if (ICE_ATTRIBUTES.has(attribute.name)) continue;
    if (attribute.name === 'rtcp') {
      attributes.push({ name: 'rtcp', value: `${rtcpMux ? rtpPort : rtpPort + 1} IN ${addrType} ${host}` });
      continue;
    }
    attributes.push(attribute);
  }
  return {
    ...media,
    port: rtpPort,
    connections: [{ netType: 'IN', addrType, address: host }],
    attributes,
  };
}

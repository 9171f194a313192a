/**
 * `media:` settings. The built-in RTP/RTCP relay (src/media/relay.ts) is on by default: every
 * call through sipwarden has a party on the untrusted side, whose media then reaches the
 * other party only through sipwarden's own ports, latched and checked against what was
 * negotiated. An operator turns it off with `media.relay.enabled: false`.
 */
import { z } from 'zod';
import { isIpv4, isIpv6 } from '../config/host.ts';
import { boolean, integer, oneOf, string } from '../config/zod-fields.ts';
import { mediaEngineFields } from './rtpengine/config.ts';

const address = string('must be an IPv4 or IPv6 address').refine((text) => isIpv4(text) || isIpv6(text), {
  error: 'must be an IPv4 or IPv6 address',
});

/** The relay ports of one side: bound on `host`, written in SDP as `advertise`. */
function side(portMin: number, portMax: number) {
  return z
    .strictObject({
      /** The address the ports are bound on; absent, the address sipwarden's SIP shows this side. */
      host: address.optional(),
      /** The address written in c= and o=; absent, `host`. */
      advertise: address.optional(),
      /** An even RTP port and the next (odd) one for RTCP per stream, from this range. */
      portMin: integer(1024, 65534, 'must be 1024..65534').default(portMin),
      portMax: integer(1025, 65535, 'must be 1025..65535').default(portMax),
    })
    .prefault({})
    .superRefine((value, context) => {
      if (value.portMax - value.portMin < 3) {
        context.addIssue({
          code: 'custom',
          path: ['portMax'],
          message: 'must leave at least 4 ports above portMin',
        });
      }
    });
}

const SUITE_NAMES = [
  'AES_CM_128_HMAC_SHA1_80',
  'AES_CM_128_HMAC_SHA1_32',
  'AES_256_CM_HMAC_SHA1_80',
  'AES_256_CM_HMAC_SHA1_32',
] as const;

/**
 * SRTP (SDES, RFC 4568) on the relayed streams. `terminate`: a client-side party's SRTP ends
 * at sipwarden, which decrypts and checks it and sends the upstream plain RTP (RTP/AVP, its
 * a=crypto removed), and encrypts what goes back with a key of its own, given in the
 * description the party receives. `both`: the upstream side gets SRTP too, under keys of
 * sipwarden's (neither party learns the other's key). `pass`: SRTP goes through as it came,
 * a=crypto untouched, end to end.
 */
const srtp = z
  .strictObject({
    mode: oneOf(['terminate', 'both', 'pass'] as const).default('terminate'),
    /**
     * What a plain RTP offer from the upstream side is shown on the client side: `as-offered`
     * (RTP: phones without SRTP can answer it) or `srtp` (RTP/SAVP with sipwarden's keys:
     * phones that insist on SRTP can answer it; sipwarden decrypts their media).
     */
    upstreamOffers: oneOf(['as-offered', 'srtp'] as const).default('as-offered'),
    /** The crypto suites accepted and offered, in order of preference. */
    suites: z
      .array(oneOf(SUITE_NAMES))
      .min(1, { error: 'must list at least one suite' })
      .max(SUITE_NAMES.length)
      .refine((list) => new Set(list).size === list.length, { error: 'must not repeat a suite' })
      .default([...SUITE_NAMES]),
  })
  .prefault({});

const relay = z
  .strictObject({
    enabled: boolean.default(true),
    srtp,
    /** The ports facing the phones (client side) and facing the upstream (PBX) side. */
    // Below Linux's ephemeral ports (32768-60999), which outgoing connections take.
    client: side(12000, 21999),
    upstream: side(22000, 31999),
    /** Streams relayed at once (each holds two ports per side); an offer beyond it gets port 0. */
    maxStreams: integer(1, 200_000).default(5_000),
    /** Streams at once for the calls of one SIP source address on the client side. */
    maxStreamsPerSource: integer(1, 200_000).default(200),
    /** A stream with no packet in either direction for this long has its ports closed (the call goes on). */
    inactivityTimeoutMs: integer(1000, 86_400_000).default(120_000),
    /**
     * A packet or bit rate this many times above what the negotiated codecs allow is an RTP
     * flood inside the call: the excess is dropped and evented.
     */
    floodFactor: integer(2, 1000).default(4),
    /** What a flood does besides dropping the excess: an alert, or the call ended (BYE to both parties). */
    floodAction: oneOf(['alert', 'end-call'] as const).default('alert'),
    /**
     * Who may latch a party: `first-packet` the first packet from anywhere (media NATed to
     * another address than SIP works); `signalled` only the address its SDP or SIP came from.
     */
    latch: oneOf(['first-packet', 'signalled'] as const).default('first-packet'),
  })
  .prefault({})
  .superRefine((value, context) => {
    const a = value.client;
    const b = value.upstream;
    const sameHost = (a.host ?? '') === (b.host ?? '');
    if (sameHost && a.portMin <= b.portMax && b.portMin <= a.portMax) {
      context.addIssue({
        code: 'custom',
        path: ['upstream', 'portMin'],
        message: 'must not overlap the client range',
      });
    }
  });

/**
 * `engine: rtpengine` hands every RTP stream to rtpengine (src/media/rtpengine) instead: the
 * built-in relay is then not used, whatever `relay.enabled` says.
 */
export const mediaSchema = z.strictObject({ relay, ...mediaEngineFields }).prefault({});

export type MediaSettings = z.output<typeof mediaSchema>;
export type MediaRelaySettings = MediaSettings['relay'];

/**
 * The media relay's security events (type `media`, stage `media-relay`). Rules:
 * `injection` (RTP or RTCP from an address that is not the stream's latched party),
 * `payload-type` (a payload type neither party negotiated), `media-type` (a video payload
 * type on an audio stream), `flood` (packet or byte rate far above the codecs'; action
 * `reject` when the call is ended for it), `srtp-authentication` (an SRTP or SRTCP packet
 * whose authentication tag does not verify under the party's key: forged, tampered, or
 * keyed otherwise), `srtp-replay` (an SRTP index received before or older than the replay
 * window), `relay-full` (an offered stream refused). Keys never appear in an event.
 * Dropped packets are reported at most once a second per stream and kind; `details.count`
 * is the stream's running total.
 */
import type { EventEmitter } from '../events/types.ts';
import type { MediaDropKind, MediaRelayObserver } from './relay.ts';

const REASONS: Readonly<Record<MediaDropKind, string>> = {
  injection: 'RTP from an address that is not the party of the stream: dropped as an injection',
  'payload-type': 'RTP with a payload type that was not negotiated: dropped',
  'media-type': 'RTP of a media type that was not negotiated (video on an audio stream): dropped',
  flood: 'RTP far above the rate the negotiated codecs allow: excess dropped',
  'srtp-authentication': "SRTP that does not authenticate under the party's key: dropped",
  'srtp-replay': 'SRTP replayed (an index received before, or older than the replay window): dropped',
};

export function mediaEvents(events: EventEmitter): MediaRelayObserver {
  return {
    dropped: (detail) =>
      events.emit(
        {
          type: 'media',
          stage: 'media-relay',
          rule: detail.kind,
          action: detail.endsCall === true ? 'reject' : 'drop',
          source: { address: detail.address, port: detail.port, transport: 'udp' },
          key: `src:${detail.address}`,
          reason:
            detail.endsCall === true ? 'RTP flood inside the call: the call is ended' : REASONS[detail.kind],
          details: {
            count: detail.count,
            side: detail.side,
            media: detail.mediaType,
            ...(detail.payloadType === undefined ? {} : { payloadType: detail.payloadType }),
          },
        },
        Date.now(),
      ),
    refused: (detail) =>
      events.emit(
        {
          type: 'media',
          stage: 'media-relay',
          rule: 'relay-full',
          action: 'reject',
          key: `src:${detail.address}`,
          reason: `media stream refused: ${detail.reason}`,
          details: { address: detail.address },
        },
        Date.now(),
      ),
  };
}

/**
 * Whether an INVITE's offer keys all of its media for SRTP in a way sipwarden can use: the
 * test of the policy action `require-encrypted-media`. Every audio or video stream the offer
 * opens (port not 0) must be RTP/SAVP or RTP/SAVPF with an a=crypto line (SDES, RFC 4568)
 * of a suite sipwarden speaks that parses strictly (crypto-attribute.ts: no weakening
 * session parameter, no MKI). An INVITE without an offer (the offer would come from the
 * other side, unchecked), an offer that does not parse, one without audio or video, or
 * media keyed otherwise (DTLS-SRTP, RFC 5763) is not.
 */
import { findSdpBodies, parseMediaType, parseSdp, type SdpMedia } from '../sdp/index.ts';
import type { SipRequest } from '../sip/message.ts';
import { parseCryptoAttribute } from './srtp/index.ts';
import { isSecureProto } from './srtp-legs.ts';

export type OfferEncryption = { readonly ok: true } | { readonly ok: false; readonly why: string };

const MEDIA_TYPES: ReadonlySet<string> = new Set(['audio', 'video']);
/** Crypto lines read per m= section at most. */
const MAX_CRYPTO_LINES = 16;

export function offerEncryption(request: SipRequest): OfferEncryption {
  const typeText = request.headers.find((h) => h.name === 'content-type')?.value;
  const type = typeText === undefined ? undefined : parseMediaType(typeText);
  if (request.body.length === 0 || type === undefined)
    return { ok: false, why: 'the INVITE carries no offer' };
  const bodies = findSdpBodies(type, request.body);
  if (!bodies.ok || bodies.sdp.length !== 1)
    return { ok: false, why: 'the INVITE carries no single SDP offer' };
  const parsed = parseSdp(bodies.sdp[0]!);
  if (!parsed.ok) return { ok: false, why: 'the offer does not parse' };
  let streams = 0;
  for (const media of parsed.sdp.media) {
    if (!MEDIA_TYPES.has(media.type) || media.port === 0) continue;
    streams++;
    if (!isSecureProto(media.proto))
      return { ok: false, why: `its ${media.type} stream is ${media.proto}, not SRTP` };
    if (!hasUsableCrypto(media))
      return { ok: false, why: `its ${media.type} stream has no a=crypto line of a suite sipwarden speaks` };
  }
  return streams === 0 ? { ok: false, why: 'the offer has no audio or video stream' } : { ok: true };
}

function hasUsableCrypto(media: SdpMedia): boolean {
  let read = 0;
  for (const attribute of media.attributes) {
    if (attribute.name !== 'crypto' || attribute.value === undefined) continue;
    if (++read > MAX_CRYPTO_LINES) return false;
    if (parseCryptoAttribute(attribute.value).ok) return true;
  }
  return false;
}

/**
 * The SDP side of the MSRP relay (RFC 4975 section 8): an m=message section for TCP/MSRP
 * gets the relay's own URI in a=path, the relay's address in c= and its port in the m=
 * line, and a=setup:passive (RFC 6135) so that each party connects to the relay; the same
 * for TCP/TLS/MSRP with the relay's TLS listener. What the relay cannot scan is refused in
 * the offer with port 0 (RFC 3264 6): TCP/TLS/MSRP without a TLS listener, and an MSRP
 * section without a=path.
 */
import type { SdpMedia } from '../sdp/index.ts';

export const MSRP_PROTO = 'TCP/MSRP';
export const MSRPS_PROTO = 'TCP/TLS/MSRP';

export function isMsrpMedia(media: SdpMedia): boolean {
  return media.type === 'message' && (media.proto === MSRP_PROTO || media.proto === MSRPS_PROTO);
}

/** The URIs of a=path (RFC 4975 8.1: SP-separated, the first is the next hop). */
export function pathOf(media: SdpMedia): string[] | undefined {
  const path = media.attributes.find((a) => a.name === 'path');
  if (path?.value === undefined) return undefined;
  const uris = path.value.trim().split(/ +/);
  return uris.length === 0 || uris.length > 8 ? undefined : uris;
}

/** The section as the relay forwards it: its address, its port, its path URI, and passive. */
export function relayedMedia(media: SdpMedia, host: string, port: number, pathUri: string): SdpMedia {
  const attributes = media.attributes
    .filter((a) => a.name !== 'path' && a.name !== 'setup')
    .concat([
      { name: 'path', value: pathUri },
      { name: 'setup', value: 'passive' },
    ]);
  return {
    ...media,
    port,
    connections: [{ netType: 'IN', addrType: host.includes(':') ? 'IP6' : 'IP4', address: host }],
    attributes,
  };
}

/** The section refused (port 0): the answerer must refuse it too (RFC 3264 6). */
export function refusedMedia(media: SdpMedia): SdpMedia {
  return { ...media, port: 0 };
}

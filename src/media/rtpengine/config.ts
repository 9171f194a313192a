/**
 * The configuration of the media plane handed to rtpengine: `media.engine: rtpengine` with
 * `media.rtpengine.ng`, its NG control address. The fields are exported as a plain object so
 * that the `media:` section can hold them beside the built-in relay's.
 */
import { z } from 'zod';
import { isIpv4, isIpv6 } from '../../config/host.ts';
import { integer, oneOf, string } from '../../config/zod-fields.ts';

/** An IP literal and a port, `127.0.0.1:2223` or `[::1]:2223`: a name would be resolved at every start. */
const ngAddress = string('must be IP:PORT ([IPv6]:PORT)')
  .refine((text) => parseNgAddress(text) !== undefined, { error: 'must be IP:PORT ([IPv6]:PORT)' })
  .transform((text) => parseNgAddress(text)!);

const interfaceName = string('must be an rtpengine interface name').regex(/^[A-Za-z0-9_.-]{1,32}$/, {
  error: 'must be an rtpengine interface name (letters, digits, _ . -)',
});

export const rtpengineSchema = z.strictObject({
  /** rtpengine's --listen-ng address. */
  ng: ngAddress,
  /** Time to wait for rtpengine's answer before sending a command again. */
  timeoutMs: integer(50, 10_000).default(1000),
  /** Sends after the first before a command fails (the call is then refused 503, or its answer forwarded as it is). */
  retries: integer(0, 5).default(2),
  /** Commands waiting for rtpengine at most; beyond, new calls are refused 503. */
  maxPending: integer(1, 100_000).default(1024),
  /**
   * The transport offered towards the upstream: RTP/AVP turns an SRTP (SDES) offer from a phone
   * into plain RTP for the PBX, rtpengine doing the encryption; as-offered leaves it.
   */
  upstreamProtocol: oneOf(['RTP/AVP', 'RTP/SAVP', 'as-offered']).default('as-offered'),
  /** The transport offered towards the untrusted side: RTP/SAVP makes rtpengine offer SDES-SRTP to phones. */
  clientProtocol: oneOf(['RTP/AVP', 'RTP/SAVP', 'as-offered']).default('as-offered'),
  /** rtpengine's interface names (its --interface NAME/ADDRESS) facing each side; both or neither. */
  interfaces: z.strictObject({ client: interfaceName, upstream: interfaceName }).optional(),
});

export const mediaEngineFields = {
  /** Absent: media is left to sipwarden itself. `rtpengine`: every RTP stream goes through rtpengine. */
  engine: oneOf(['rtpengine']).optional(),
  rtpengine: rtpengineSchema.optional(),
};

export type RtpengineSettings = z.output<typeof rtpengineSchema>;

export function parseNgAddress(text: string): { host: string; port: number } | undefined {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text);
  if (match === null) return undefined;
  const host = match[1] ?? match[2]!;
  const port = Number(match[3]);
  if (port < 1 || port > 65535) return undefined;
  if (match[1] !== undefined ? !isIpv6(host) : !isIpv4(host)) return undefined;
  return { host, port };
}

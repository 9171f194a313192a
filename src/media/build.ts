/**
 * The RTP relay from `media.relay` and the addresses sipwarden's SIP shows each side: a
 * side's ports are bound, and advertised, on that side's SIP address unless configured.
 */
import type { ProxySettings } from '../core/proxy.ts';
import type { EventEmitter } from '../events/types.ts';
import type { Logger } from '../log/logger.ts';
import type { MediaRelaySettings } from './config.ts';
import { mediaEvents } from './events.ts';
import { type RelaySide, RtpRelay } from './relay.ts';

const WILDCARDS = new Set(['0.0.0.0', '::']);

export function buildRtpRelay(
  config: MediaRelaySettings,
  proxy: Pick<ProxySettings, 'clientFacing' | 'upstreamFacing'>,
  log: Logger,
  events: EventEmitter,
): RtpRelay | undefined {
  if (!config.enabled) return undefined;
  const clientSip = (
    proxy.clientFacing.udp ??
    proxy.clientFacing.tcp ??
    proxy.clientFacing.tls ??
    proxy.upstreamFacing
  ).host;
  const relay = new RtpRelay(
    {
      ...config,
      client: side(config.client, clientSip),
      upstream: side(config.upstream, proxy.upstreamFacing.host),
    },
    log,
    mediaEvents(events),
  );
  log.info(
    {
      client: `${config.client.portMin}-${config.client.portMax}`,
      upstream: `${config.upstream.portMin}-${config.upstream.portMax}`,
    },
    'media relay on',
  );
  return relay;
}

function side(config: MediaRelaySettings['client'], sipHost: string): RelaySide {
  const host = config.host ?? sipHost;
  const advertise = config.advertise ?? (WILDCARDS.has(host) ? sipHost : host);
  return { host, advertise, portMin: config.portMin, portMax: config.portMax };
}

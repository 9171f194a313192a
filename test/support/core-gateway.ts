import { defaultConfig } from '../../src/config/load-config.ts';
import type { SipwardenConfig } from '../../src/config/schema.ts';
import { type Gateway, type GatewayOptions, startGateway } from '../../src/gateway.ts';
import { silentLogger } from '../../src/log/logger.ts';

/**
 * The configuration of the proxy core alone on a free loopback port, forwarding to
 * `upstreamPort`: no management listener, events in memory, the security pipeline off (it
 * has tests of its own).
 */
export function coreConfig(
  upstreamPort: number,
  transports: SipwardenConfig['listen'][number]['transports'] = ['udp'],
  proxy: Partial<SipwardenConfig['proxy']> = {},
): SipwardenConfig {
  const base = defaultConfig();
  return {
    ...base,
    listen: [{ host: '127.0.0.1', port: 0, transports }],
    upstream: { host: '127.0.0.1', port: upstreamPort, transport: 'udp' },
    management: { ...base.management, enabled: false },
    events: { ...base.events, database: ':memory:' },
    security: { ...base.security, enabled: false },
    proxy: { ...base.proxy, ...proxy },
  };
}

/**
 * The proxy core alone over UDP on a free loopback port, forwarding to `upstreamPort`: no
 * management listener, events in memory, the security pipeline off (it has tests of its own).
 */
export async function startCoreGateway(
  upstreamPort: number,
  options: { proxy?: Partial<SipwardenConfig['proxy']>; gateway?: GatewayOptions } = {},
): Promise<{ gateway: Gateway; port: number }> {
  const gateway = await startGateway(
    coreConfig(upstreamPort, ['udp'], options.proxy),
    silentLogger,
    options.gateway,
  );
  return { gateway, port: gateway.listening().find((l) => l.transport === 'udp')!.port };
}

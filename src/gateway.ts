import { randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { createManagementStack, type ManagementStack } from './api/management-stack.ts';
import { isIpv4, isIpv6 } from './config/host.ts';
import type { SipwardenConfig } from './config/schema.ts';
import { AdmissionControl } from './core/admission/admission.ts';
import { type MessageInspector, PASS_ALL } from './core/inspector.ts';
import type { AdvertisedAddress } from './core/local-identity.ts';
import { type ProxySettings, SipProxy } from './core/proxy.ts';
import { RFC3261_TIMERS, type TimerSettings } from './core/transaction/timers.ts';
import { aggregateLog } from './log/aggregated-logger.ts';
import type { Logger } from './log/logger.ts';
import { buildAllowlist, buildPipeline } from './security/build-pipeline.ts';
import { DEFAULT_STREAM_LIMITS, DEFAULT_UDP_LIMITS, type ParserLimits } from './sip/limits.ts';
import { createMemoryActivityStore } from './state/memory-activity-store.ts';
import { createMemoryBlockTable } from './state/memory-block-table.ts';
import { createMemoryTrustTable } from './state/memory-trust-table.ts';
import { createTransport } from './transport/create-transport.ts';
import type { TlsOptions } from './transport/options.ts';
import type { ListenerAddress, TransportLayer, TransportName } from './transport/types.ts';

/** A running sipwarden: transports bound, the proxy core attached. */
export interface Gateway {
  listening(): readonly ListenerAddress[];
  close(): Promise<void>;
  /** The proxy core, for statistics. */
  readonly proxy: SipProxy;
  /** Events, their store, metrics and the management API. */
  readonly management: ManagementStack;
  /** Where the management API listens, when enabled. */
  readonly managementAddress: { host: string; port: number } | undefined;
}

const WILDCARDS = new Set(['0.0.0.0', '::', '']);

/** Reads the certificate files named in the config; a missing file is an error that names it. */
function readTls(config: SipwardenConfig): TlsOptions | undefined {
  const tls = config.tls;
  if (!tls) return undefined;
  const read = (path: string, key: string): string => {
    try {
      return readFileSync(path, 'utf8');
    } catch (error) {
      throw new Error(`tls.${key}: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  };
  return {
    cert: read(tls.cert, 'cert'),
    key: read(tls.key, 'key'),
    ...(tls.ca ? { ca: read(tls.ca, 'ca') } : {}),
    minVersion: tls.minVersion,
    verifyPeer: tls.verifyUpstream,
  };
}

function interfaceAddresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const entry of list ?? []) out.push(entry.address);
  }
  return out;
}

/** The first address of this machine of the given family that is not loopback. */
function primaryAddress(family: 4 | 6): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const entry of list ?? []) {
      if (!entry.internal && entry.family === (family === 4 ? 'IPv4' : 'IPv6')) return entry.address;
    }
  }
  return undefined;
}

function isLoopback(address: string): boolean {
  return address === '::1' || address.startsWith('127.');
}

async function resolveHost(host: string): Promise<string> {
  if (isIpv4(host) || isIpv6(host)) return host;
  const { address } = await lookup(host);
  return address;
}

function parserLimits(config: SipwardenConfig, base: ParserLimits, messageBytes: number): ParserLimits {
  return Object.freeze({
    ...base,
    maxMessageBytes: messageBytes,
    maxHeaderLines: config.limits.headerLines,
    maxTokenBytes: config.limits.tokenBytes,
    maxBodyBytes: Math.min(config.limits.bodyBytes, messageBytes),
  });
}

/** Works out what to write in Via/Record-Route for each side, and which addresses are ours. */
function addressing(
  config: SipwardenConfig,
  transport: TransportLayer,
  upstreamAddress: string,
): Pick<ProxySettings, 'clientFacing' | 'upstreamFacing' | 'localHosts' | 'localPorts'> {
  const listeners = transport.listening();
  const family = isIpv6(upstreamAddress) ? 6 : 4;
  const clientFacing: Partial<Record<TransportName, AdvertisedAddress>> = {};
  for (const name of ['udp', 'tcp', 'tls'] as const) {
    const local = transport.localFor(name);
    if (!local) continue;
    const host = WILDCARDS.has(local.host)
      ? (config.advertise?.host ?? primaryAddress(family) ?? (family === 6 ? '::1' : '127.0.0.1'))
      : local.host;
    clientFacing[name] = { transport: name, host, port: local.port };
  }
  const upstreamTransport = config.upstream.transport;
  const upstreamListener = transport.localFor(upstreamTransport) ?? listeners[0]!;
  let upstreamHost = upstreamListener.host;
  if (WILDCARDS.has(upstreamHost)) {
    upstreamHost = isLoopback(upstreamAddress)
      ? family === 6
        ? '::1'
        : '127.0.0.1'
      : (primaryAddress(family) ?? upstreamHost);
  }
  const upstreamFacing: AdvertisedAddress = {
    transport: upstreamTransport,
    host: upstreamHost,
    port: upstreamListener.port,
  };
  const hosts = new Set<string>([upstreamHost, ...Object.values(clientFacing).map((a) => a.host)]);
  if (config.advertise) hosts.add(config.advertise.host);
  for (const listener of listeners) {
    if (WILDCARDS.has(listener.host)) for (const address of interfaceAddresses()) hosts.add(address);
    else hosts.add(listener.host);
  }
  return {
    clientFacing,
    upstreamFacing,
    localHosts: [...hosts],
    localPorts: [...new Set(listeners.map((l) => l.port))],
  };
}

/** Settings that are not configuration: shorter SIP timers for tests. */
export interface GatewayOptions {
  readonly timers?: TimerSettings;
  /** Replaces the measured age of work (the UDP queue probes), to test admission. */
  readonly workAgeMs?: () => number;
  /** Replaces the monotonic clock of the upstream budget, to test it without timing. */
  readonly admissionClock?: () => number;
}

export async function startGateway(
  config: SipwardenConfig,
  logger: Logger,
  options: GatewayOptions = {},
): Promise<Gateway> {
  const upstreamAddress = await resolveHost(config.upstream.host);
  // What traffic can make the core, the transport or the stages log is grouped, never a line
  // per packet (the event log is grouped by the event bus already).
  const trafficLog = aggregateLog(logger);
  const transport = await createTransport(
    {
      listen: config.listen,
      ...(config.tls ? { tls: readTls(config)! } : {}),
      maxUdpMessageBytes: config.limits.udpMessageBytes,
      udpReceiveBufferBytes: config.limits.udpReceiveBufferBytes,
      maxStreamMessageBytes: config.limits.streamMessageBytes,
      maxConnections: config.connections.max,
      maxConnectionsPerAddress: config.connections.perAddress,
      idleTimeoutMs: config.connections.idleTimeoutMs,
      headerTimeoutMs: config.connections.headerTimeoutMs,
      connectTimeoutMs: config.connections.connectTimeoutMs,
      maxWriteBufferBytes: config.connections.maxWriteBufferBytes,
    },
    trafficLog.child({ module: 'transport' }),
  );
  const settings: ProxySettings = {
    upstream: { transport: config.upstream.transport, address: upstreamAddress, port: config.upstream.port },
    ...addressing(config, transport, upstreamAddress),
    udpLimits: parserLimits(config, DEFAULT_UDP_LIMITS, config.limits.udpMessageBytes),
    streamLimits: parserLimits(config, DEFAULT_STREAM_LIMITS, config.limits.streamMessageBytes),
    maxForwards: config.proxy.maxForwards,
    recordRoute: config.proxy.recordRoute,
    maxTransactions: config.proxy.maxTransactions,
    maxLingeringTransactions: config.proxy.maxLingeringTransactions,
    answerOptions: config.proxy.answerOptions,
    maxRegisterExpires: config.proxy.maxRegisterExpires,
    sessionTimeoutMs: config.proxy.sessionTimeoutMs,
    maxDialogs: config.proxy.maxDialogs,
    secret: randomBytes(32),
    timers: options.timers ?? {
      ...RFC3261_TIMERS,
      timerC: config.proxy.inviteTimeoutMs,
      trying: config.proxy.tryingDelayMs,
    },
  };
  const log = trafficLog.child({ module: 'proxy' });
  const security = config.security;
  const activity = createMemoryActivityStore({ maxKeys: security.activityKeys });
  const blocks = createMemoryBlockTable({ maxEntries: security.maxBlocks });
  const trust = createMemoryTrustTable({ maxEntries: security.maxTrusted });
  let proxy: SipProxy | undefined;
  const management = createManagementStack(config.management, config.events, {
    blocks,
    log: logger,
    readings: () => ({
      transactions: proxy?.transactionCount ?? 0,
      dialogs: proxy?.dialogCount ?? 0,
      blocks: blocks.stats().active,
      transport: transport.stats(),
      activity: activity.stats(),
    }),
  });
  let inspector: MessageInspector = PASS_ALL;
  try {
    if (security.enabled) {
      const metrics = management.metrics;
      inspector = buildPipeline(
        security,
        { store: activity, blocks, trust, log: trafficLog.child({ module: 'security' }) },
        management.bus,
        trafficLog.child({ module: 'security' }),
        { decision: (stage, verdict) => metrics.message(stage, verdict) },
      );
    }
  } catch (error) {
    await management.close();
    await transport.close();
    throw error;
  }
  let admission: AdmissionControl;
  try {
    // Allowlisted peers and authenticated (trusted) sources are shed last under overload.
    const allowlist = buildAllowlist(security.allowlist);
    admission = new AdmissionControl(
      config.overload,
      { isPreferred: (address, now) => allowlist.has(address) || trust.isTrusted(address, now) },
      options.workAgeMs ?? (() => transport.receiveQueueAgeMs?.() ?? 0),
      ...(options.admissionClock ? [options.admissionClock] : []),
    );
  } catch (error) {
    await management.close();
    await transport.close();
    throw error;
  }
  proxy = new SipProxy({ ...settings, admission }, transport, log, inspector);
  const metrics = management.metrics;
  const handle = proxy.handle;
  transport.onMessage((message) => {
    const started = process.hrtime.bigint();
    handle(message);
    metrics.processing(Number(process.hrtime.bigint() - started) / 1e9);
  });
  const sweep = setInterval(() => blocks.sweep(Date.now()), 5_000);
  sweep.unref();
  let managementAddress: { host: string; port: number } | undefined;
  try {
    managementAddress = await management.start();
  } catch (error) {
    clearInterval(sweep);
    proxy.close();
    await management.close();
    await transport.close();
    throw error;
  }
  const running = proxy;
  return {
    proxy: running,
    management,
    managementAddress,
    listening: () => transport.listening(),
    close: async () => {
      clearInterval(sweep);
      running.close();
      await transport.close();
      await management.close();
      trafficLog.close();
    },
  };
}

import { lookup } from 'node:dns/promises';
import { mkdirSync, readFileSync } from 'node:fs';
import { homedir, networkInterfaces } from 'node:os';
import { createManagementStack, type ManagementStack } from './api/management-stack.ts';
import { CallRecorder } from './cdr/call-recorder.ts';
import { securityIssues } from './cli/security-issues.ts';
import { type DataDirContext, type EventsDatabaseLocation, locateEventsDatabase } from './config/data-dir.ts';
import { isIpv4, isIpv6 } from './config/host.ts';
import { natSettings } from './config/nat-schema.ts';
import type { SipwardenConfig } from './config/schema.ts';
import { topologySettings } from './config/topology-schema.ts';
import { buildContentInspection } from './content/build.ts';
import type { ContentInspection } from './content/inspection.ts';
import type { ContentScanner } from './content/scanner.ts';
import { AdmissionControl } from './core/admission/admission.ts';
import { type MessageInspector, PASS_ALL } from './core/inspector.ts';
import { type ProxySettings, SipProxy } from './core/proxy.ts';
import type { AdvertisedAddress } from './core/route/local-identity.ts';
import type { NatSettings } from './core/route/nat/nat-traversal.ts';
import { RFC3261_TIMERS, type TimerSettings } from './core/transaction/timers.ts';
import { tapTransport } from './events/export/hep-transport-tap.ts';
import { FraudHolds } from './fraud/holds.ts';
import type { UserDirectory } from './identity/user-directory.ts';
import { openUserStore } from './identity/users/user-store.ts';
import { aggregateLog } from './log/aggregated-logger.ts';
import type { Logger } from './log/logger.ts';
import { buildRtpRelay } from './media/build.ts';
import type { RtpRelay } from './media/relay.ts';
import type { RtpengineMediaEngine } from './media/rtpengine/engine.ts';
import { startRtpengineMedia } from './media/rtpengine/start.ts';
import { registerRegistrationCacheMetrics } from './metrics/registration-cache-metrics.ts';
import { msrpEvents } from './msrp/events.ts';
import { MsrpRelay } from './msrp/relay.ts';
import { reportNat } from './nat/nat-reporting.ts';
import { Policy } from './policy/policy.ts';
import { securityPart, tlsPart } from './reload/live-parts.ts';
import { type ConfigSource, Reloader, type ReloadOrigin, type ReloadResult } from './reload/reloader.ts';
import { SwitchableInspector } from './reload/switchable-inspector.ts';
import {
  buildAllowlist,
  buildPipeline,
  buildTrunks,
  DEFAULT_STAGE_ORDER,
  withTrunks,
} from './security/build-pipeline.ts';
import { ChallengeProof } from './security/challenge-proof.ts';
import { type Authenticator, AuthFailures } from './security/stage.ts';
import { trustWithTrunks } from './security/trunks.ts';
import { DEFAULT_STREAM_LIMITS, DEFAULT_UDP_LIMITS, type ParserLimits } from './sip/limits.ts';
import { loadClusterSecret } from './state/cluster-secret.ts';
import { createMemoryActivityStore } from './state/memory-activity-store.ts';
import { createMemoryBlockTable } from './state/memory-block-table.ts';
import { createMemoryTrustTable, DEFAULT_TRUST_TTL_MS } from './state/memory-trust-table.ts';
import { NftablesDrop } from './state/nftables-drop.ts';
import { type BlockListener, listenBlockTable, listenTrustTable } from './state/persist-observers.ts';
import { PersistStore } from './state/persist-store.ts';
import { createRedisState } from './state/redis-state.ts';
import { createTransport } from './transport/create-transport.ts';
import type { TlsOptions } from './transport/options.ts';
import type { ListenerAddress, TransportLayer, TransportName } from './transport/types.ts';
import { buildUpstreams } from './upstreams/build-upstreams.ts';

/** A running sipwarden: transports bound, the proxy core attached. */
export interface Gateway {
  listening(): readonly ListenerAddress[];
  close(): Promise<void>;
  /** The proxy core, for statistics. */
  readonly proxy: SipProxy;
  /** The MSRP relay, when content.msrp is enabled. */
  readonly msrpRelay?: MsrpRelay;
  /** The media plane handed to rtpengine, when media.engine is rtpengine. */
  readonly rtpengine?: RtpengineMediaEngine;
  /** The RTP/RTCP relay, when media.relay is enabled (the default). */
  readonly rtpRelay?: RtpRelay;
  /** Events, their store, metrics and the management API. */
  readonly management: ManagementStack;
  /** Where the management API listens, when enabled. */
  readonly managementAddress: { host: string; port: number } | undefined;
  /** The events database: an absolute file path, or `:memory:`. */
  readonly eventsDatabase: string;
  /** The user store (in the events database) the stages look users up in. */
  readonly users: UserDirectory;
  /**
   * Reports every open event aggregate as final and writes it to the store at once: for
   * exits that cannot wait for close() (a fatal error, a stop that took too long).
   */
  flushEvents(): void;
  /**
   * Reads the configuration again (GatewayOptions.configSource), checks it and applies what
   * can change live (src/reload); refused as a whole otherwise, the running one staying.
   */
  reload(origin: ReloadOrigin): Promise<ReloadResult>;
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
    requestClientCert: tls.requestClientCert,
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

/** Settings that are not configuration. */
export interface GatewayOptions {
  /** Shorter SIP timers for tests. */
  readonly timers?: TimerSettings;
  /**
   * Replaces `proxy.sessionTimeoutMs` (whose minimum is a minute): tests of the maximum
   * session length with real peers, in seconds instead of minutes.
   */
  readonly sessionTimeoutMs?: number;
  /** What the data directory depends on (config/data-dir.ts); this process's, without a file, when absent. */
  readonly dataDir?: DataDirContext;
  /** Replaces the measured age of work (the UDP queue probes), to test admission. */
  readonly workAgeMs?: () => number;
  /** Replaces the monotonic clock of the upstream budget, to test it without timing. */
  readonly admissionClock?: () => number;
  /** What scans MSRP content (content.msrp); required when the relay is enabled. */
  readonly contentScanner?: ContentScanner;
  /**
   * Where a reload reads the configuration again: the start's file with the start's
   * command-line overrides. Without it, a reload is refused (nothing to read).
   */
  readonly configSource?: ConfigSource;
  /** The configuration file, for the audit of reloads. */
  readonly configFile?: string;
}

function processDataDirContext(): DataDirContext {
  return { env: process.env, uid: process.getuid?.(), home: homedir(), cwd: process.cwd() };
}

/** Creates the data directory, owner-only, unless it exists (an existing one keeps its mode). */
function ensureDataDir(location: EventsDatabaseLocation): void {
  if (!location.inDataDir) return;
  try {
    mkdirSync(location.dataDir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new Error(
      `dataDir: cannot create ${location.dataDir}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
      { cause: error },
    );
  }
}

/** NAT traversal's settings for the proxy, absent when it is off. */
function natPart(nat: NatSettings | undefined): Pick<ProxySettings, 'nat'> {
  return nat === undefined ? {} : { nat };
}

/**
 * Starts everything in the order that opens the fewest things before a likely failure:
 * files first (TLS, the events database), then the SIP listeners, the pipeline and the
 * management API. A failure at any step closes what the steps before it opened, so that
 * the process can exit.
 */
export async function startGateway(
  config: SipwardenConfig,
  logger: Logger,
  options: GatewayOptions = {},
): Promise<Gateway> {
  // Several upstreams (src/core/route/upstreams): resolved first, as the single one is.
  const upstreams = await buildUpstreams(config);
  const upstreamAddress = upstreams?.first.address ?? (await resolveHost(config.upstream.host));
  const tls = readTls(config);
  const location = locateEventsDatabase(config, options.dataDir ?? processDataDirContext());
  ensureDataDir(location);
  // The secret of flow tokens, topology sealing and Digest nonces: the cluster's (a file, or
  // kept in Redis) so that any node reads what another wrote; never logged.
  const secret = await loadClusterSecret({
    secretFile: config.state.secretFile,
    redis:
      config.state.backend !== 'redis' || config.state.redis === undefined
        ? undefined
        : {
            url: config.state.redis.url,
            keyPrefix: config.state.redis.keyPrefix,
            timeoutMs: config.state.redis.connectTimeoutMs,
          },
  });
  if (secret.redisError !== undefined) {
    logger.warn(
      `state: the cluster secret could not be read from Redis (${secret.redisError}); this node uses its own, so other nodes cannot take over its dialogs (set state.secretFile to start without Redis)`,
    );
  } else if (secret.origin !== 'process') {
    logger.info(
      `state: the cluster secret comes from ${secret.origin === 'file' ? 'state.secretFile' : 'Redis'}`,
    );
  }
  // What traffic can make the core, the transport or the stages log is grouped, never a line
  // per packet (the event log is grouped by the event bus already).
  const trafficLog = aggregateLog(logger);
  const security = config.security;
  const memoryActivity = createMemoryActivityStore({ maxKeys: security.activityKeys });
  const memoryBlocks = createMemoryBlockTable({ maxEntries: security.maxBlocks });
  const memoryTrust = createMemoryTrustTable({ maxEntries: security.maxTrusted });
  // Blocks and trust survive a restart in the events' file (its own tables); restored first,
  // then every change is queued and written on a timer, off the hot path.
  const persisted = openPersistedState(config, location.database, logger);
  if (persisted !== undefined) {
    try {
      restorePersisted(persisted, memoryBlocks, memoryTrust, logger);
    } catch (error) {
      persisted.close();
      throw error;
    }
  }
  const blockListeners: BlockListener[] = [];
  if (persisted !== undefined) {
    blockListeners.push({
      added: (entry) => persisted.blockChanged(entry),
      removed: (keys) => {
        for (const key of keys) persisted.blockRemoved(key);
      },
    });
  }
  // Blocked addresses also dropped by the kernel: filled once the SIP ports are known.
  let emitKernelError: (reason: string) => void = () => {};
  const kernel = config.kernelDrop.enabled
    ? new NftablesDrop({
        nft: config.kernelDrop.nft,
        table: config.kernelDrop.table,
        maxElements: config.kernelDrop.maxElements,
        snapshot: () => memoryBlocks.list(Date.now()),
        log: logger.child({ module: 'kernel-drop' }),
        onError: (reason) => emitKernelError(reason),
      })
    : undefined;
  if (kernel !== undefined) blockListeners.push(kernel);
  const localBlocks = listenBlockTable(memoryBlocks, blockListeners);
  const localTrust =
    persisted === undefined
      ? memoryTrust
      : listenTrustTable(memoryTrust, (address, user, now) => persisted.trusted(address, user, now));
  // state.backend redis: the same tables, shared with the other nodes through Redis (started
  // with the event bus below; connects in the background, never holds up a decision). Blocks
  // from other nodes reach the local table through its listeners: persisted and in the kernel.
  const local = { activity: memoryActivity, blocks: localBlocks, trust: localTrust };
  const redis = config.state.redis;
  const shared =
    config.state.backend === 'redis' && redis !== undefined
      ? createRedisState(local, {
          ...redis,
          trustTtlMs: DEFAULT_TRUST_TTL_MS,
          maxBlocks: security.maxBlocks,
          maxTrusted: security.maxTrusted,
          maxDialogs: config.proxy.maxDialogs,
          ...(secret.stored === undefined ? {} : { storedSecret: secret.stored }),
        })
      : undefined;
  const { activity, blocks, trust } = shared ?? local;
  // Held by the fraud stage, released through the management API.
  const fraudHolds = new FraudHolds();
  let proxy: SipProxy | undefined;
  let transport: TransportLayer | undefined;
  // The users share the events' file (`sipwarden users --config` writes there); throws
  // SW_ERR_USER_STORE_OPEN, naming the setting and the file, before anything else is open.
  let users: ReturnType<typeof openUserStore>;
  try {
    users = openUserStore({
      database: location.database,
      setting: 'events.database',
      log: trafficLog.child({ module: 'users' }),
    });
  } catch (error) {
    persisted?.close();
    throw error;
  }
  let reloader: Reloader | undefined;
  let management: ManagementStack;
  try {
    // Throws (SW_ERR_EVENT_STORE_OPEN, naming the file) before anything else is open.
    management = createManagementStack(
      config.management,
      { ...config.events, database: location.database },
      {
        blocks,
        users,
        fraudHolds,
        log: logger,
        // The management socket's default place (management.socket).
        dataDir: location.dataDir,
        ...(config.cdrs.enabled
          ? { cdrs: { retentionDays: config.cdrs.retentionDays, maxRows: config.cdrs.maxRows } }
          : {}),
        reload: (origin) =>
          reloader === undefined
            ? Promise.resolve({
                ok: false,
                errors: ['sipwarden is still starting: reload again in a moment'],
              })
            : reloader.reload(origin),
        readings: () => ({
          transactions: proxy?.transactionCount ?? 0,
          dialogs: proxy?.dialogCount ?? 0,
          blocks: blocks.stats().active,
          ...(transport === undefined ? {} : { transport: transport.stats() }),
          activity: activity.stats(),
          ...(rtpRelay === undefined ? {} : { media: rtpRelay.readings() }),
        }),
        // The console's live feed: message rates by outcome, calls, blocked sources.
        live: {
          counters: () => {
            const stats = proxy?.stats;
            const verdicts = management.metrics.verdictTotals();
            return {
              received: stats?.messagesIn ?? 0,
              forwarded: (stats?.requestsForwarded ?? 0) + (stats?.responsesForwarded ?? 0),
              refused: stats?.rejected ?? 0,
              dropped: verdicts.get('drop') ?? 0,
              tarpitted: verdicts.get('tarpit') ?? 0,
              shed: stats?.shed ?? 0,
            };
          },
          readings: () => ({
            calls: proxy?.callCount ?? 0,
            registrations: null,
            blockedSources: blocks.stats().active,
          }),
        },
        calls: () => proxy,
      },
    );
  } catch (error) {
    upstreams?.close();
    users.close();
    persisted?.close();
    trafficLog.close();
    throw error;
  }
  shared?.start(management.bus);
  upstreams?.start(management.bus, management.metrics.registry, logger.child({ module: 'upstreams' }));
  let sweep: NodeJS.Timeout | undefined;
  // Content scanning (`content:`): one clamd client, closed with the gateway.
  let content: ContentInspection | undefined;
  let msrpRelay: MsrpRelay | undefined;
  // The media plane handed to rtpengine (`media.engine: rtpengine`); closed with the proxy.
  let rtpengine: RtpengineMediaEngine | undefined;
  let rtpRelay: RtpRelay | undefined;
  // Calls are recorded into the store the management stack opened on the events database.
  const recorder =
    management.cdrs === undefined
      ? undefined
      : new CallRecorder({
          sink: management.cdrs,
          maxOpenCalls: config.proxy.maxDialogs,
          log: logger.child({ module: 'cdrs' }),
        });
  try {
    transport = await createTransport(
      {
        listen: config.listen,
        ...(tls === undefined ? {} : { tls }),
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
      upstream: upstreams?.first ?? {
        transport: config.upstream.transport,
        address: upstreamAddress,
        port: config.upstream.port,
      },
      upstreamSources: config.upstream.sources ?? [],
      ...addressing(
        upstreams === undefined
          ? config
          : { ...config, upstream: { ...config.upstream, transport: upstreams.first.transport } },
        transport,
        upstreamAddress,
      ),
      ...upstreams?.settings,
      udpLimits: parserLimits(config, DEFAULT_UDP_LIMITS, config.limits.udpMessageBytes),
      streamLimits: parserLimits(config, DEFAULT_STREAM_LIMITS, config.limits.streamMessageBytes),
      maxForwards: config.proxy.maxForwards,
      recordRoute: config.proxy.recordRoute,
      maxTransactions: config.proxy.maxTransactions,
      maxLingeringTransactions: config.proxy.maxLingeringTransactions,
      answerOptions: config.proxy.answerOptions,
      maxRegisterExpires: config.proxy.maxRegisterExpires,
      ...(config.registrationCache.enabled
        ? {
            registrationCache: {
              maxEntries: config.registrationCache.maxEntries,
              refreshBelowPercent: config.registrationCache.refreshBelowPercent,
            },
          }
        : {}),
      sessionTimeoutMs: options.sessionTimeoutMs ?? config.proxy.sessionTimeoutMs,
      maxDialogs: config.proxy.maxDialogs,
      secret: secret.route,
      ...(shared === undefined
        ? {}
        : {
            dialogReplica: {
              created: (id: string, value: string, expiresAt: number) =>
                shared.dialogs.put(id, value, expiresAt),
              ended: (id: string) => shared.dialogs.remove(id),
            },
          }),
      topology: topologySettings(config.topologyHiding),
      ...natPart(natSettings(config.nat)),
      timers: options.timers ?? {
        ...RFC3261_TIMERS,
        timerC: config.proxy.inviteTimeoutMs,
        trying: config.proxy.tryingDelayMs,
      },
    };
    const msrp = config.content.msrp;
    // One clamd client for both: the MESSAGE stage and the MSRP relay.
    if (config.content.enabled || msrp.enabled)
      content = buildContentInspection(config.content, location.dataDir);
    const msrpScanner = options.contentScanner ?? content?.scanner;
    if (msrp.enabled && msrpScanner !== undefined) {
      msrpRelay = new MsrpRelay(
        {
          ...msrp,
          ...(msrp.tlsPort === undefined || tls === undefined
            ? {}
            : { tls: { port: msrp.tlsPort, cert: tls.cert, key: tls.key } }),
          // Each party is given the address sipwarden shows its side, unless one is configured.
          advertise: {
            client:
              msrp.advertise ??
              (settings.clientFacing.tcp ?? settings.clientFacing.udp ?? settings.upstreamFacing).host,
            upstream: msrp.advertise ?? settings.upstreamFacing.host,
          },
        },
        msrpScanner,
        logger.child({ module: 'msrp' }),
        msrpEvents(management.bus),
      );
      await msrpRelay.start();
    }
    // The RTP/RTCP relay (media.relay), on by default; not beside rtpengine, which relays instead.
    if (config.media.engine === undefined)
      rtpRelay = buildRtpRelay(
        config.media.relay,
        settings,
        logger.child({ module: 'media' }),
        management.bus,
      );
    const media = [
      ...(msrpRelay === undefined ? [] : [msrpRelay]),
      ...(rtpRelay === undefined ? [] : [rtpRelay]),
    ];
    const metrics = management.metrics;
    // The security pipeline of a configuration; a reload builds the next one aside and swaps
    // it in (src/reload). State that must outlive a pipeline is made once here: Digest
    // challenges under way, the authentication failures' counter, and the authenticator
    // itself (its nonce secret) while its settings stay the same.
    const challenges = new ChallengeProof();
    const authFailures = new AuthFailures();
    let authenticator: { key: string; value: Authenticator | undefined } | undefined;
    const prepareSecurity = (next: SipwardenConfig) => {
      const nextSecurity = withNonceSecret(next.security, secret.nonce);
      const nextPolicy = new Policy(next.policy);
      const stageDeps = {
        store: activity,
        blocks,
        trust,
        users,
        fraudHolds,
        challenges,
        authFailures,
        log: trafficLog.child({ module: 'security' }),
        policy: nextPolicy,
        ...(content === undefined ? {} : { content }),
      };
      const authKey = JSON.stringify([
        nextSecurity.settings.authenticate ?? null,
        (nextSecurity.stages ?? DEFAULT_STAGE_ORDER).includes('authenticate'),
      ]);
      const nextAuthenticator =
        authenticator?.key === authKey
          ? authenticator.value
          : withTrunks(nextSecurity, stageDeps).authenticator;
      const nextInspector: MessageInspector = nextSecurity.enabled
        ? buildPipeline(
            nextSecurity,
            {
              ...stageDeps,
              ...(nextAuthenticator === undefined ? {} : { authenticator: nextAuthenticator }),
            },
            management.bus,
            trafficLog.child({ module: 'security' }),
            { decision: (stage, verdict) => metrics.message(stage, verdict) },
          )
        : PASS_ALL;
      // Allowlisted peers, declared trunks and authenticated (trusted) sources are shed last
      // under overload.
      const nextAllowlist = buildAllowlist(nextSecurity.allowlist);
      const nextPreferred = trustWithTrunks(trust, buildTrunks(nextSecurity.trunks));
      return () => {
        authenticator = { key: authKey, value: nextAuthenticator };
        inspector.switchTo(nextInspector);
        allowlist = nextAllowlist;
        preferred = nextPreferred;
      };
    };
    const inspector = new SwitchableInspector(PASS_ALL);
    let allowlist = buildAllowlist([]);
    let preferred = trustWithTrunks(trust, buildTrunks([]));
    prepareSecurity(config)();
    const measured = transport;
    const admission = new AdmissionControl(
      config.overload,
      { isPreferred: (address, now) => allowlist.has(address) || preferred.isTrusted(address, now) },
      options.workAgeMs ?? (() => measured.receiveQueueAgeMs?.() ?? 0),
      ...(options.admissionClock ? [options.admissionClock] : []),
    );
    if (config.media.engine === 'rtpengine' && config.media.rtpengine !== undefined) {
      rtpengine = await startRtpengineMedia(config.media.rtpengine, config.proxy.maxDialogs, logger);
    }
    proxy = new SipProxy(
      {
        ...settings,
        admission,
        ...(media.length === 0 ? {} : { media, maxMediaSessions: config.proxy.maxDialogs }),
        ...(rtpengine === undefined ? {} : { mediaEngine: rtpengine }),
      },
      // Signalling capture (events.hep): what the proxy sends, on either side.
      management.hep === undefined ? transport : tapTransport(transport, management.hep),
      trafficLog.child({ module: 'proxy' }),
      inspector,
      recorder,
    );
    const callEnder = proxy;
    // A stream connection that closes takes the registrations over it down (RFC 5626 flows).
    transport.onConnectionClosed?.((flow) => callEnder.connectionClosed(flow));
    if (proxy.nat !== undefined)
      reportNat(proxy.nat, management.bus, metrics.registry, logger.child({ module: 'nat' }));
    const registrationStats = proxy.registrationCacheStats;
    if (registrationStats !== undefined) {
      const cache = proxy;
      registerRegistrationCacheMetrics(metrics.registry, registrationStats, () => cache.cachedRegistrations);
    }
    // Dialogs confirmed on other nodes: held here too, so that this node serves their
    // in-dialog requests (a BYE after their node is gone).
    shared?.attachDialogs(proxy.dialogSink);
    if (rtpRelay !== undefined) rtpRelay.endCall = (session) => callEnder.endMediaSession(session);
    const handle = proxy.handle;
    const hep = management.hep;
    transport.onMessage((message) => {
      // Signalling capture (events.hep): what the proxy receives, on either side.
      if (hep !== undefined && message.framingError === undefined) {
        const flow = message.flow;
        hep.message({
          transport: flow.transport,
          from: { address: flow.remoteAddress, port: flow.remotePort },
          to: { address: flow.localAddress, port: flow.localPort },
          remoteAddress: flow.remoteAddress,
          data: message.data,
        });
      }
      const started = process.hrtime.bigint();
      handle(message);
      metrics.processing(Number(process.hrtime.bigint() - started) / 1e9);
    });
    if (kernel !== undefined) {
      const bus = management.bus;
      emitKernelError = (reason) =>
        bus.emit(
          { type: 'kernel-drop', stage: 'kernel-drop', rule: 'nftables', action: 'alert', reason },
          Date.now(),
        );
      // A failure is evented and logged; SIP goes on with the blocks in user space.
      await kernel.start(transport.listening().map((listener) => listener.port));
    }
    sweep = setInterval(() => blocks.sweep(Date.now()), 5_000);
    sweep.unref();
    recorder?.start();
    persisted?.start();
    // Reload (SIGHUP, the API): the configuration read again and checked as check-config
    // checks it, the users' groups and roles included; the live parts swapped in.
    const reloadTransport = transport;
    reloader = new Reloader({
      source:
        options.configSource ?? (() => ({ ok: false, errors: ['no configuration source to reload from'] })),
      check: (next) => {
        const known = users.count() === 0 ? undefined : users.groupsAndRoles();
        return securityIssues(next, {
          knownGroups: known && new Set(known.groups),
          knownRoles: known && new Set(known.roles),
        });
      },
      initial: config,
      parts: [
        securityPart(prepareSecurity),
        tlsPart({
          read: readTls,
          initial: tls,
          transport: reloadTransport,
          msrpTls: msrpRelay !== undefined && config.content.msrp.tlsPort !== undefined,
        }),
      ],
      log: logger.child({ module: 'reload' }),
      audit: management.audit,
      ...(options.configFile === undefined ? {} : { configFile: options.configFile }),
    });
    const managementAddress = await management.start();
    const running = { proxy, transport, sweep };
    return {
      proxy: running.proxy,
      ...(msrpRelay === undefined ? {} : { msrpRelay }),
      ...(rtpengine === undefined ? {} : { rtpengine }),
      ...(rtpRelay === undefined ? {} : { rtpRelay }),
      management,
      managementAddress,
      eventsDatabase: location.database,
      users,
      listening: () => running.transport.listening(),
      reload: (origin) => reloader?.reload(origin) ?? Promise.resolve({ ok: false, errors: ['stopped'] }),
      flushEvents: () => {
        // Calls still open are written as they stand, then everything waiting goes to disk.
        recorder?.close();
        management.flushEvents();
      },
      close: async () => {
        clearInterval(running.sweep);
        upstreams?.close();
        running.proxy.close();
        // The proxy closed it too; closing again is harmless and keeps no socket open if it did not.
        rtpengine?.close();
        rtpRelay?.close();
        try {
          await msrpRelay?.close();
          await running.transport.close();
        } finally {
          await content?.scanner.close();
          // The kernel's table goes with the process: nothing of sipwarden's stays in it.
          await kernel?.close();
          recorder?.close();
          await shared?.close();
          // Events last: every decision made until the listeners closed is in the store;
          // users after the API and the pipeline, the last to look them up.
          try {
            await management.close();
          } finally {
            users.close();
            // Blocks made until the listeners closed are written before the file closes.
            persisted?.close();
            trafficLog.close();
          }
        }
      },
    };
  } catch (error) {
    clearInterval(sweep);
    if (proxy === undefined) rtpengine?.close();
    upstreams?.close();
    proxy?.close();
    rtpRelay?.close();
    recorder?.close();
    await content?.scanner.close();
    try {
      await msrpRelay?.close();
      await transport?.close();
    } finally {
      await shared?.close();
      await kernel?.close();
      try {
        await management.close();
      } finally {
        users.close();
        persisted?.close();
        trafficLog.close();
      }
    }
    throw error;
  }
}

/**
 * The persisted blocks and trust, when `security.persist` is on and the events database is a
 * file (an in-memory database has nothing to restore from). Throws SW_ERR_EVENT_STORE_OPEN,
 * naming the file, before anything else is open.
 */
function openPersistedState(
  config: SipwardenConfig,
  database: string,
  logger: Logger,
): PersistStore | undefined {
  if (!config.security.persist || database === ':memory:') return undefined;
  return new PersistStore({
    database,
    maxBlocks: config.security.maxBlocks,
    maxTrusted: config.security.maxTrusted,
    trustTtlMs: DEFAULT_TRUST_TTL_MS,
    log: logger.child({ module: 'state' }),
  });
}

/** Blocks still in force and trust not yet expired go back into the memory tables. */
function restorePersisted(
  persisted: PersistStore,
  blocks: ReturnType<typeof createMemoryBlockTable>,
  trust: ReturnType<typeof createMemoryTrustTable>,
  logger: Logger,
): void {
  const now = Date.now();
  const restored = persisted.restore(now);
  let skipped = 0;
  for (const entry of restored.blocks) {
    try {
      blocks.block(entry);
    } catch {
      // A row written by another version with a key this one reads differently.
      skipped++;
    }
  }
  for (const record of restored.trust) trust.succeed(record.address, record.user, record.succeededAt);
  logger.info(
    { blocks: restored.blocks.length - skipped, trust: restored.trust.length, skipped },
    'restored persisted blocks and trust',
  );
}

/**
 * The authenticate stage's settings with the cluster's nonce secret when they set none of
 * their own, so that a nonce one node issued verifies on every node.
 */
function withNonceSecret(
  security: SipwardenConfig['security'],
  nonceSecret: string,
): SipwardenConfig['security'] {
  const current = security.settings.authenticate;
  if (current !== undefined && (typeof current !== 'object' || current === null || Array.isArray(current))) {
    return security;
  }
  const fields = (current ?? {}) as Record<string, unknown>;
  if (fields.secret !== undefined) return security;
  return {
    ...security,
    settings: { ...security.settings, authenticate: { ...fields, secret: nonceSecret } },
  };
}

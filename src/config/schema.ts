/**
 * The configuration file's schema. Every object is strict so that a misspelt key is an
 * error rather than a silently ignored setting, and every number has bounds, so that a typo
 * such as an extra zero cannot disable a limit. Messages are written for the operator who
 * reads them after `sipwarden check-config`; load-config.ts turns issues into `path: reason`.
 */
import { z } from 'zod';
import { contentSchema } from '../content/config.ts';
import { mediaSchema } from '../media/config.ts';
import { policySchema } from '../policy/schema.ts';
import { parseCidr } from '../state/cidr.ts';
import { isHost, isIpv4, isIpv6 } from './host.ts';
import { natSchema } from './nat-schema.ts';
import { registrationCacheSchema } from './registration-cache-schema.ts';
import { topologySchema } from './topology-schema.ts';
import {
  checkUpstreams,
  DEFAULT_UPSTREAM,
  dnsSchema,
  upstreamEntry,
  upstreamHealth,
  upstreamRoute,
} from './upstreams-schema.ts';
import { boolean, decimal, integer, oneOf, string } from './zod-fields.ts';

export const TRANSPORTS = ['udp', 'tcp', 'tls'] as const;
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
export const TLS_VERSIONS = ['TLSv1.2', 'TLSv1.3'] as const;

/** Largest UDP payload over IPv4 (65535 minus the IP and UDP headers). */
const MAX_UDP_PAYLOAD = 65507;

const host = string().refine(isHost, { error: 'must be an IPv4 address, an IPv6 address or a hostname' });

/** A file path; existence is checked by whoever reads the file, with its own message. */
const path = string('must be a file path').min(1, { error: 'must be a file path' });

const transports = z
  .array(oneOf(TRANSPORTS))
  .min(1, { error: 'must list at least one transport' })
  .refine((list) => new Set(list).size === list.length, { error: 'must not list a transport twice' });

const listener = z.strictObject({
  host: host.default('0.0.0.0'),
  // 0 binds a free port (tests use it); the message names the range an operator wants.
  port: integer(0, 65535, 'must be 1..65535'),
  transports: transports.default(['udp', 'tcp']),
});

const DEFAULT_LISTEN = [{ host: '0.0.0.0', port: 5060, transports: ['udp', 'tcp'] }] as const;

const tls = z.strictObject({
  cert: path,
  key: path,
  ca: path.optional(),
  minVersion: oneOf(TLS_VERSIONS).default('TLSv1.2'),
  verifyUpstream: boolean.default(true),
  // Mutual TLS: ask connecting clients for a certificate, checked against `ca`; a client whose
  // certificate names a user of the store is authenticated by it (src/identity/tls-identity.ts).
  // The handshake does not fail without one: a policy can require it.
  requestClientCert: boolean.default(false),
});

const upstream = z
  .strictObject({
    host,
    port: integer(1, 65535),
    transport: oneOf(TRANSPORTS).default('udp'),
    // Further addresses the upstream sends requests from (a PBX with several interfaces, a
    // cluster): their requests are routed as the upstream's, by our signed Route entries.
    sources: z
      .array(z.string().refine((text) => isIpv4(text) || isIpv6(text), 'must be an IPv4 or IPv6 address'))
      .max(64)
      .optional(),
  })
  .default({ ...DEFAULT_UPSTREAM });

const advertise = z.strictObject({ host });

const limits = z
  .strictObject({
    udpMessageBytes: integer(512, MAX_UDP_PAYLOAD).default(6048),
    // The field's 6048 bytes on streams too: a transport is no reason to accept a larger message.
    streamMessageBytes: integer(512, 16 * 1024 * 1024).default(6048),
    headerLines: integer(8, 4096).default(256),
    tokenBytes: integer(16, 65535).default(1024),
    bodyBytes: integer(1, 16 * 1024 * 1024).default(4000),
    // The kernel's UDP receive buffer to ask for (it caps the request at net.core.rmem_max):
    // room for bursts and garbage-collection pauses, as Kamailio probes for the largest it can get.
    udpReceiveBufferBytes: integer(65536, 256 * 1024 * 1024).default(4 * 1024 * 1024),
  })
  .prefault({});

const connections = z
  .strictObject({
    max: integer(1, 1_000_000).default(4096),
    perAddress: integer(1, 1_000_000).default(64),
    // Longer than the 95 to 120 s keep-alive interval of RFC 5626 section 4.4.1, so that
    // registered clients that only ping keep their connection.
    idleTimeoutMs: integer(1000, 86_400_000).default(180_000),
    headerTimeoutMs: integer(100, 600_000).default(10_000),
    connectTimeoutMs: integer(100, 600_000).default(5_000),
    maxWriteBufferBytes: integer(1024, 1024 * 1024 * 1024).default(1024 * 1024),
  })
  .prefault({});

const proxy = z
  .strictObject({
    // RFC 3261 section 16.6 step 3: a proxy that adds Max-Forwards uses 70.
    maxForwards: integer(1, 255).default(70),
    recordRoute: boolean.default(true),
    // Transactions in progress at once (new requests beyond it get 503).
    maxTransactions: integer(1, 10_000_000).default(100_000),
    // Finished transactions kept for 64*T1 to absorb retransmissions; beyond it the oldest end early.
    // Each takes about 1.4 KiB once used (kept off the JavaScript heap, reserved at start).
    maxLingeringTransactions: integer(1, 1_000_000).default(100_000),
    answerOptions: boolean.default(true),
    // Registrations asking for longer are shortened to this (RFC 3261 10.2.1 lets a proxy lower it).
    maxRegisterExpires: integer(60, 604_800).default(3600),
    // How long an INVITE may wait for its final answer once ringing (Timer C, RFC 3261 16.6 item 11).
    inviteTimeoutMs: integer(1000, 3_600_000).default(180_000),
    // An INVITE gets our 100 (Trying) after this long unless the upstream's provisional or final
    // answer went back first (RFC 3261 17.2.1 allows 200 ms); 0 sends it at once.
    tryingDelayMs: integer(0, 200).default(100),
    // The maximum session length (the signal/session timeout): a call this long after its answer
    // is ended with BYE to both parties; another dialog (SUBSCRIBE) with no request for this long
    // is forgotten.
    sessionTimeoutMs: integer(60_000, 604_800_000).default(43_200_000),
    maxDialogs: integer(1, 10_000_000).default(100_000),
  })
  .prefault({});

/**
 * Admission under overload (src/core/admission): what is shed when there is more work than
 * sipwarden can do, or more new requests than the upstream should get.
 */
const overload = z
  .strictObject({
    // Work (a datagram in the UDP receive queue, measured by a probe) older than this is shed:
    // untrusted new requests first, then requests under way; allowlisted peers, trusted sources,
    // the upstream and its responses only when older than any transaction lasts.
    maxWorkAgeMs: integer(10, 10_000).default(400),
    // New requests (transactions) the upstream receives in any second, whatever their sources.
    upstreamRequestsPerSecond: integer(1, 1_000_000).default(5000),
    // Share of that budget and of proxy.maxTransactions that untrusted new requests may take;
    // the rest stays for allowlisted peers, trusted sources and in-dialog requests.
    untrustedPercent: integer(1, 100).default(80),
    retryAfterSeconds: integer(1, 3600).default(5),
    // 503 answers to shed requests per second at most; beyond it they are dropped unanswered.
    answersPerSecond: integer(1, 1_000_000).default(200),
  })
  .prefault({});

/** An address or a CIDR network, as a source is matched against (`203.0.113.7`, `198.51.100.0/28`). */
const addressOrNetwork = z
  .string({ error: (issue) => (issue.input === undefined ? undefined : 'must be a string') })
  .refine((text) => parseCidr(text.trim()) !== undefined, {
    error: 'must be an IPv4 or IPv6 address or a CIDR network',
  });

/** The management HTTP listener: metrics, events, blocks. Loopback only unless said otherwise. */
const management = z
  .strictObject({
    enabled: boolean.default(true),
    host: host.default('127.0.0.1'),
    // 0 binds a free port (tests use it).
    port: integer(0, 65535, 'must be 1..65535').default(9060),
    // Access to management (src/api/auth/): client addresses allowed to connect at all,
    // checked before anything else (403). Loopback only unless listed.
    allow: z.array(addressOrNetwork).max(1000).default(['127.0.0.0/8', '::1']),
    // HTTPS with this certificate and key (`sipwarden tls-cert` makes a pair).
    tls: z.strictObject({ cert: path, key: path }).optional(),
    // The unix socket the local command line uses with no token (trusted as admin, mode
    // 0600): a path (relative to the data directory), or false for none. Default
    // `sipwarden.sock` in the data directory.
    socket: z.union([path, z.literal(false)]).optional(),
    // Roles whose accounts must log in with a TOTP code (RFC 6238).
    totpRequired: z.array(oneOf(['viewer', 'operator', 'admin'] as const)).default(['admin']),
  })
  .prefault({});

/**
 * The event store: one SQLite file (or `:memory:`), with a retention period. Absent, the
 * file is `events.db` in the data directory; a relative path is taken from the data
 * directory (see config/data-dir.ts).
 */
const events = z
  .strictObject({
    database: z
      .string({
        error: (issue) => (issue.input === undefined ? undefined : 'must be a file path or :memory:'),
      })
      .min(1, { error: 'must be a file path or :memory:' })
      .optional(),
    retentionDays: integer(1, 3650).default(30),
    /** Occurrences of one rule and key within this window become one event with a count. */
    aggregateWindowMs: integer(100, 3_600_000).default(10_000),
    /** Every reported event also to a syslog collector or SIEM (src/events/export/syslog-sink.ts). */
    syslog: z
      .strictObject({
        host,
        port: integer(1, 65535, 'must be 1..65535').default(514),
        transport: oneOf(['udp', 'tcp', 'tls'] as const).default('udp'),
        format: oneOf(['cef', 'json'] as const).default('cef'),
        /** RFC 5424 facility number: 16 (local0) to 23 (local7) are the usual ones. */
        facility: integer(0, 23).default(16),
        appName: string()
          .regex(/^[\x21-\x7e]{1,48}$/, { error: 'must be 1-48 printable characters without spaces' })
          .default('sipwarden'),
        maxQueued: integer(1, 1_000_000).default(10_000),
        /** TLS: the collector's CA (PEM file) instead of the system's; `verify: false` skips the check. */
        ca: path.optional(),
        verify: boolean.default(true),
      })
      .optional(),
    /** Every reported event also POSTed, signed, to these HTTP endpoints (src/events/export/webhook-sink.ts). */
    webhooks: z
      .array(
        z.strictObject({
          url: string().refine(
            (text) => {
              try {
                const url = new URL(text);
                return url.protocol === 'http:' || url.protocol === 'https:';
              } catch {
                return false;
              }
            },
            { error: 'must be an http:// or https:// URL' },
          ),
          /** The HMAC-SHA-256 key shared with the receiver. */
          secret: string().min(16, { error: 'must be at least 16 characters' }),
          timeoutMs: integer(100, 120_000).default(5000),
          maxAttempts: integer(1, 20).default(5),
          maxQueued: integer(1, 1_000_000).default(10_000),
          batchSize: integer(1, 10_000).default(100),
        }),
      )
      .max(16, { error: 'must list at most 16 webhooks' })
      .optional(),
    /**
     * Signalling capture to a Homer server as HEP v3 over UDP (src/events/export/hep-capture.ts):
     * the SIP messages of both sides and the security decisions. Off when absent.
     */
    hep: z
      .strictObject({
        host: string().refine((text) => isIpv4(text) || isIpv6(text), {
          error: 'must be an IPv4 or IPv6 address',
        }),
        port: integer(1, 65535, 'must be 1..65535').default(9060),
        captureId: integer(0, 4_294_967_295).default(2001),
        password: string().min(1).max(128).optional(),
        sampleRate: decimal(0, 1).default(1),
        sources: z.array(string().min(1)).max(10_000).default([]),
        decisions: boolean.default(true),
        maxInFlight: integer(1, 1_000_000).default(1000),
      })
      .optional(),
  })
  .prefault({});

/**
 * Call detail records (src/cdr): one per call attempt, in table `cdrs` of the events
 * database file, kept `retentionDays` and at most `maxRows` (the oldest go first).
 */
const cdrs = z
  .strictObject({
    enabled: boolean.default(true),
    retentionDays: integer(1, 3650).default(90),
    maxRows: integer(1000, 1_000_000_000).default(10_000_000),
  })
  .prefault({});

/**
 * A declared trunk (src/security/trunks.ts): calls from its addresses (and identity) get
 * its own limits instead of the per-user ones, and its addresses count as trusted sources.
 */
const trunk = z.strictObject({
  name: z
    .string({ error: (issue) => (issue.input === undefined ? undefined : 'must be a string') })
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, {
      error: 'must be 1-64 letters, digits, dots, dashes or underscores',
    }),
  addresses: z
    .array(addressOrNetwork)
    .min(1, { error: 'must list at least one address or network' })
    .max(1000, { error: 'must list at most 1000 addresses or networks' }),
  /** The From user (or user@host) the trunk calls with; calls from its addresses with another are a user's. */
  identity: z
    .string({ error: (issue) => (issue.input === undefined ? undefined : 'must be a string') })
    .regex(/^[^\s@]{1,128}(@[^\s@]{1,255})?$/, { error: 'must be a user or user@host, without spaces' })
    .optional(),
  /** Calls open at once per caller identity from the trunk (its total with one identity). */
  maxConcurrentCalls: integer(1, 1_000_000).default(500),
  /** New calls (INVITEs out of dialog, a challenged one once) per second from the trunk; over it, 503 with Retry-After. */
  maxCallsPerSecond: integer(1, 100_000).default(50),
  /** The trunk answers Digest challenges (an account per trunk): `authenticate` in local mode challenges it as any user. */
  authenticate: boolean.default(false),
});

/**
 * The security pipeline. Each stage's own settings are checked by that stage's factory at
 * start (it owns its schema), so here they are kept as given, by stage name.
 */
const security = z
  .strictObject({
    enabled: boolean.default(true),
    /** Evaluate and record every decision, enforce only validation: for tuning rules first. */
    dryRun: boolean.default(false),
    /** Stage names in the order messages meet them; absent: the built-in default order. */
    stages: z.array(z.string().min(1)).max(64).optional(),
    /** Sources (addresses or CIDR networks) never blocked nor rate-limited: trunks, offices. */
    allowlist: z.array(z.string().min(1)).max(10_000).default([]),
    /** Declared trunks, matched in order. */
    trunks: z
      .array(trunk)
      .max(1000, { error: 'must list at most 1000 trunks' })
      .default([])
      .superRefine((list, context) => {
        const seen = new Set<string>();
        list.forEach((entry, index) => {
          if (seen.has(entry.name)) {
            context.addIssue({ code: 'custom', path: [index, 'name'], message: `repeats "${entry.name}"` });
          }
          seen.add(entry.name);
        });
      }),
    /** Settings per stage name. */
    settings: z.record(z.string(), z.unknown()).default({}),
    /** Keys the activity store tracks at once (memory bound, whatever attackers make up). */
    activityKeys: integer(1000, 50_000_000).default(200_000),
    /** Blocks held at once. */
    maxBlocks: integer(100, 10_000_000).default(100_000),
    /** Known-good (address, user) pairs held at once. */
    maxTrusted: integer(100, 10_000_000).default(100_000),
    /** Blocks and trust records kept in the events database and restored at start. */
    persist: boolean.default(true),
  })
  .prefault({});

/**
 * Where blocks, trust and activity counters live (src/state): this process's memory, or
 * shared by several sipwarden nodes through Redis (src/state/redis-state.ts). Every
 * decision is taken on local state either way; Redis spreads it between the nodes.
 */
const redisState = z.strictObject({
  url: string('must be a redis:// or rediss:// URL').regex(/^rediss?:\/\/[^\s]+$/, {
    error: 'must be a redis:// or rediss:// URL',
  }),
  /** Prepended to every key and channel: several clusters can share one Redis. */
  keyPrefix: string()
    .min(1, { error: 'must not be empty' })
    .max(64, { error: 'must be at most 64 characters' })
    .default('sipwarden:'),
  /** How often activity counters are merged with the other nodes'. */
  syncIntervalMs: integer(10, 10_000).default(100),
  connectTimeoutMs: integer(100, 60_000).default(2000),
  /** A command not answered within this fails (Redis hung): the node goes on locally. */
  commandTimeoutMs: integer(50, 60_000).default(1000),
  maxReconnectDelayMs: integer(100, 60_000).default(2000),
  /** Activity keys merged with the other nodes at once; more are counted locally only. */
  maxTrackedKeys: integer(1000, 10_000_000).default(100_000),
  /**
   * Activity keys sent per merge (those waiting longest first), so that a flood of made-up
   * sources costs Redis and this process a bounded amount of work per interval.
   */
  maxKeysPerSync: integer(100, 1_000_000).default(2000),
  /** This node's name in published messages; random at each start by default. */
  nodeId: string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/, { error: 'must be 1-64 letters, digits, dots, dashes or underscores' })
    .optional(),
});

const state = z
  .strictObject({
    backend: oneOf(['memory', 'redis'] as const).default('memory'),
    redis: redisState.optional(),
    /**
     * A file holding the cluster's secret (at least 32 bytes, the same on every node): signs
     * flow tokens and Digest nonces, seals what topology hiding hides. Absent: with Redis,
     * one kept in Redis (made by the first node); with memory, random per process.
     */
    secretFile: string().min(1, { error: 'must not be empty' }).optional(),
  })
  .prefault({})
  .superRefine((value, context) => {
    if (value.backend === 'redis' && value.redis === undefined) {
      context.addIssue({ code: 'custom', path: ['redis'], message: 'is required when backend is redis' });
    }
  });

const log = z.strictObject({ level: oneOf(LOG_LEVELS).default('info') }).prefault({});

/** Blocked addresses dropped by the kernel (nftables), in a table of sipwarden's own. */
const kernelDrop = z
  .strictObject({
    enabled: boolean.default(false),
    /** The nft program (root or CAP_NET_ADMIN needed). */
    nft: z.string().min(1).max(4096).default('nft'),
    /** The table's name in family inet; sipwarden creates, fills and deletes only this one. */
    table: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9_-]{0,31}$/, { error: 'must be a table name (letters, digits, _ and -)' })
      .default('sipwarden'),
    /** Elements per set (IPv4, IPv6) at most; further blocks hold in user space only. */
    maxElements: integer(1, 10_000_000).default(65_536),
  })
  .prefault({});

export const configSchema = z
  .strictObject({
    listen: z
      .array(listener)
      .min(1, { error: 'must list at least one listener' })
      .max(64, { error: 'must list at most 64 listeners' })
      .default(() => DEFAULT_LISTEN.map((entry) => ({ ...entry, transports: [...entry.transports] }))),
    tls: tls.optional(),
    upstream,
    // Several upstreams, their route table and health checks, and DNS (src/config/upstreams-schema.ts).
    upstreams: z.array(upstreamEntry).min(1).max(64).optional(),
    upstreamRoutes: z.array(upstreamRoute).min(1).max(1024).optional(),
    upstreamHealth,
    dns: dnsSchema,
    advertise: advertise.optional(),
    limits,
    connections,
    proxy,
    // Phones' re-REGISTERs answered from the PBX's last 2xx (src/config/registration-cache-schema.ts).
    registrationCache: registrationCacheSchema,
    overload,
    management,
    events,
    cdrs,
    security,
    state,
    /** Identity policy: first-match rules over who calls, from where, what, when (src/policy). */
    policy: policySchema,
    /** Content scanning with clamd (src/content/config.ts). */
    content: contentSchema,
    /** Media: the built-in RTP/RTCP relay, on by default, or rtpengine (src/media/config.ts). */
    media: mediaSchema,
    /** Topology hiding, per side (src/config/topology-schema.ts). */
    topologyHiding: topologySchema,
    /** NAT traversal for registered phones: keepalives, dead flows (src/config/nat-schema.ts). */
    nat: natSchema,
    log,
    kernelDrop,
    // Where sipwarden keeps its files; absent, the rules of config/data-dir.ts pick it.
    dataDir: z
      .string({ error: (issue) => (issue.input === undefined ? undefined : 'must be a directory path') })
      .min(1, { error: 'must be a directory path' })
      .optional(),
  })
  .superRefine((config, context) => {
    checkUpstreams(config, (path, message) => context.addIssue({ code: 'custom', path, message }));
    // A listener repeated would fail at bind time with a less helpful message.
    const seen = new Set<string>();
    config.listen.forEach((entry, index) => {
      for (const transport of new Set(entry.transports)) {
        // UDP and the stream transports use separate port spaces; TCP and TLS share one.
        const space = transport === 'udp' ? 'udp' : 'stream';
        const key = `${space} ${entry.host} ${entry.port}`;
        if (entry.port !== 0 && seen.has(key)) {
          context.addIssue({
            code: 'custom',
            path: ['listen', index],
            message: `repeats ${transport} on ${entry.host} port ${entry.port}`,
          });
        }
        seen.add(key);
      }
    });
    if (config.tls === undefined) {
      if (config.listen.some((entry) => entry.transports.includes('tls'))) {
        context.addIssue({ code: 'custom', path: ['tls'], message: 'is required when a listener uses tls' });
      } else if (config.upstream.transport === 'tls') {
        context.addIssue({
          code: 'custom',
          path: ['tls'],
          message: 'is required when upstream.transport is tls',
        });
      }
    }
    if (config.content.msrp.tlsPort !== undefined && config.tls === undefined) {
      context.addIssue({
        code: 'custom',
        path: ['content', 'msrp', 'tlsPort'],
        message: 'needs tls: the relay presents its certificate',
      });
    }
    if (config.tls?.requestClientCert === true && config.tls.ca === undefined) {
      context.addIssue({
        code: 'custom',
        path: ['tls', 'requestClientCert'],
        message: 'needs tls.ca: client certificates are checked against it',
      });
    }
    if (config.connections.perAddress > config.connections.max) {
      context.addIssue({
        code: 'custom',
        path: ['connections', 'perAddress'],
        message: 'must not exceed connections.max',
      });
    }
    if (config.content.enabled) {
      // The content stage runs in the security pipeline: without it nothing would be scanned.
      if (!config.security.enabled) {
        context.addIssue({ code: 'custom', path: ['content', 'enabled'], message: 'needs security.enabled' });
      } else if (config.security.stages !== undefined && !config.security.stages.includes('content')) {
        context.addIssue({
          code: 'custom',
          path: ['security', 'stages'],
          message: 'must list "content" when content.enabled is true',
        });
      }
    }
    if (config.media.engine === 'rtpengine' && config.media.rtpengine === undefined) {
      context.addIssue({
        code: 'custom',
        path: ['media', 'rtpengine'],
        message: 'is required when media.engine is rtpengine',
      });
    }
    if (config.limits.bodyBytes > config.limits.streamMessageBytes) {
      context.addIssue({
        code: 'custom',
        path: ['limits', 'bodyBytes'],
        message: 'must not exceed limits.streamMessageBytes',
      });
    }
  });

/** The configuration with every default applied: what the gateway receives. */
export type SipwardenConfig = z.output<typeof configSchema>;
/** What a configuration file may contain: every key with a default may be left out. */
export type SipwardenConfigInput = z.input<typeof configSchema>;
export type TransportSetting = (typeof TRANSPORTS)[number];
export type LogLevel = (typeof LOG_LEVELS)[number];

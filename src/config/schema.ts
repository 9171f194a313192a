/**
 * The configuration file's schema. Every object is strict so that a misspelt key is an
 * error rather than a silently ignored setting, and every number has bounds, so that a typo
 * such as an extra zero cannot disable a limit. Messages are written for the operator who
 * reads them after `sipwarden check-config`; load-config.ts turns issues into `path: reason`.
 */
import { z } from 'zod';
import { policySchema } from '../policy/schema.ts';
import { parseCidr } from '../state/cidr.ts';
import { isHost, isIpv4, isIpv6 } from './host.ts';
import { boolean, integer, oneOf, string } from './zod-fields.ts';

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
  .default({ host: '127.0.0.1', port: 5080, transport: 'udp' });

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

/** The management HTTP listener: metrics, events, blocks. Loopback only unless said otherwise. */
const management = z
  .strictObject({
    enabled: boolean.default(true),
    host: host.default('127.0.0.1'),
    // 0 binds a free port (tests use it).
    port: integer(0, 65535, 'must be 1..65535').default(9060),
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

/** An address or a CIDR network, as a source is matched against (`203.0.113.7`, `198.51.100.0/28`). */
const addressOrNetwork = z
  .string({ error: (issue) => (issue.input === undefined ? undefined : 'must be a string') })
  .refine((text) => parseCidr(text.trim()) !== undefined, {
    error: 'must be an IPv4 or IPv6 address or a CIDR network',
  });

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
  })
  .prefault({});

/**
 * The MSRP relay (src/msrp): MSRP streams negotiated through the proxy (m=message TCP/MSRP)
 * are relayed through this listener, and each complete message is scanned before it goes on.
 */
const contentMsrp = z
  .strictObject({
    enabled: boolean.default(false),
    /** The relay's TCP listener; the parties connect to it. */
    host: host.default('0.0.0.0'),
    port: integer(0, 65535, 'must be 0..65535').default(2855),
    /** A TLS listener for TCP/TLS/MSRP (msrps), with the certificate of `tls`; absent, such streams are refused. */
    tlsPort: integer(0, 65535, 'must be 0..65535').optional(),
    /** The address written in a=path and c= for the parties; the listen host by default. */
    advertise: host.optional(),
    maxMessageBytes: integer(1024, 1_073_741_824).default(10_485_760),
    /** Largest frame (one chunk); a larger one ends the connection. */
    maxChunkBytes: integer(2048, 67_108_864).default(1_048_576),
    /** Content held at once across every stream (chunks, messages being scanned or waiting). */
    maxBufferedBytes: integer(1_048_576, 17_179_869_184).default(268_435_456),
    maxIncompleteMessages: integer(1, 1000).default(4),
    maxSessions: integer(1, 1_000_000).default(10_000),
    maxConnections: integer(1, 1_000_000).default(20_000),
    idleTimeoutMs: integer(1000, 3_600_000).default(30_000),
    /** When content cannot be scanned: forward it (`open`) or refuse it (`closed`). */
    failureMode: oneOf(['open', 'closed'] as const).default('closed'),
  })
  .prefault({});

/** Content scanning; `msrp` is the MSRP relay's part. */
const content = z.strictObject({ msrp: contentMsrp }).prefault({});

const log = z.strictObject({ level: oneOf(LOG_LEVELS).default('info') }).prefault({});

export const configSchema = z
  .strictObject({
    listen: z
      .array(listener)
      .min(1, { error: 'must list at least one listener' })
      .max(64, { error: 'must list at most 64 listeners' })
      .default(() => DEFAULT_LISTEN.map((entry) => ({ ...entry, transports: [...entry.transports] }))),
    tls: tls.optional(),
    upstream,
    advertise: advertise.optional(),
    limits,
    connections,
    proxy,
    overload,
    management,
    events,
    cdrs,
    security,
    /** Identity policy: first-match rules over who calls, from where, what, when (src/policy). */
    policy: policySchema,
    content,
    log,
    // Where sipwarden keeps its files; absent, the rules of config/data-dir.ts pick it.
    dataDir: z
      .string({ error: (issue) => (issue.input === undefined ? undefined : 'must be a directory path') })
      .min(1, { error: 'must be a directory path' })
      .optional(),
  })
  .superRefine((config, context) => {
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

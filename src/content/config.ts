/**
 * The `content:` section: scanning what SIP carries (MESSAGE bodies, and more methods if
 * configured) with clamd. Off by default. Checked with the rest of the file by schema.ts.
 */
import { z } from 'zod';
import { isHost } from '../config/host.ts';
import { boolean, integer, oneOf, string } from '../config/zod-fields.ts';

const status = integer(400, 699, 'must be a SIP status from 400 to 699');
const method = string().regex(/^[A-Z][A-Z0-9._!%*+`'~-]{0,31}$/, {
  error: 'must be a SIP method in upper case (MESSAGE, INFO...)',
});

const clamd = z
  .strictObject({
    /** clamd's TCPAddr and TCPSocket; or `socket`, its LocalSocket. */
    host: string()
      .refine(isHost, { error: 'must be an IPv4 address, an IPv6 address or a hostname' })
      .optional(),
    port: integer(1, 65535, 'must be 1..65535').optional(),
    socket: string('must be a file path').min(1, { error: 'must be a file path' }).optional(),
    connectTimeoutMs: integer(10, 60_000).default(1000),
    /** One whole message: waiting for a slot, connecting, sending, clamd's answer, for all its parts. */
    scanTimeoutMs: integer(100, 600_000).default(5000),
    maxConcurrentScans: integer(1, 1024).default(8),
    /** Scans waiting for a slot; past it a message is a scan failure at once. */
    maxQueuedScans: integer(0, 100_000).default(1000),
    maxIdleConnections: integer(0, 1024).default(8),
    idleTimeoutMs: integer(100, 600_000).default(10_000),
    /** Set to clamd's StreamMaxLength: larger content is a scan failure without being sent. */
    maxContentBytes: integer(1, 4 * 1024 * 1024 * 1024).default(25 * 1024 * 1024),
  })
  .superRefine((value, context) => {
    const tcp = value.host !== undefined || value.port !== undefined;
    if (tcp && value.socket !== undefined) {
      context.addIssue({ code: 'custom', path: ['socket'], message: 'cannot be given with host and port' });
    } else if (!tcp && value.socket === undefined) {
      context.addIssue({ code: 'custom', message: 'needs host and port, or socket' });
    } else if (tcp && (value.host === undefined || value.port === undefined)) {
      context.addIssue({
        code: 'custom',
        path: [value.host === undefined ? 'host' : 'port'],
        message: 'is required with a TCP clamd',
      });
    }
  });

const host = string().refine(isHost, { error: 'must be an IPv4 address, an IPv6 address or a hostname' });

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

const quarantine = z.strictObject({
  enabled: boolean.default(false),
  /** A relative path is taken from the data directory. */
  dir: string('must be a directory path').min(1, { error: 'must be a directory path' }).default('quarantine'),
  maxFiles: integer(1, 10_000_000).default(1000),
  maxBytes: integer(1024, 1024 * 1024 * 1024 * 1024).default(100 * 1024 * 1024),
});

export const contentSchema = z
  .strictObject({
    enabled: boolean.default(false),
    clamd: clamd.prefault({ host: '127.0.0.1', port: 3310 }),
    /** Requests whose bodies are scanned before forwarding. */
    methods: z.array(method).min(1, { error: 'must list at least one method' }).max(32).default(['MESSAGE']),
    /** Infected content: answered with this status (its standard reason, no signature). */
    refuseStatus: status.default(403),
    /** clamd down, slow, busy or refusing the size: `open` forwards with an alert, `closed` refuses. */
    failureMode: oneOf(['open', 'closed']).default('closed'),
    failureStatus: status.default(503),
    /** A body that cannot be taken apart (bad multipart, unknown transfer encoding, too deep, a Content-Encoding but gzip). */
    unscannableStatus: status.default(415),
    /** Bounds on a body's MIME structure: parts in all, and nesting (multipart, message/cpim). */
    maxParts: integer(1, 256).default(16),
    maxDepth: integer(1, 8).default(3),
    quarantine: quarantine.prefault({}),
    msrp: contentMsrp,
  })
  .prefault({});

export type ContentSettings = z.output<typeof contentSchema>;
export type ClamdSettings = ContentSettings['clamd'];

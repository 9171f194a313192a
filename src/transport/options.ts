import { TransportError } from './errors.ts';
import type { TransportName } from './types.ts';

/** One listening address; one entry may open UDP and one stream transport on the same port. */
export interface ListenOptions {
  readonly host: string;
  /** 0 picks a free port; UDP and the stream transport of one entry then share it. */
  readonly port: number;
  readonly transports: readonly TransportName[];
}

/** TLS settings. Certificates and keys are PEM contents: the caller reads files. */
export interface TlsOptions {
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
  /** Trusted roots for verifying peers (outbound servers, and clients when requested). */
  readonly ca?: string | Buffer | readonly (string | Buffer)[];
  readonly minVersion?: 'TLSv1.2' | 'TLSv1.3';
  /** Ask inbound clients for a certificate (mutual TLS); the handshake does not fail without one. */
  readonly requestClientCert?: boolean;
  /** Verify the certificate of servers we connect to (outbound). Default true. */
  readonly verifyPeer?: boolean;
}

export interface TransportLimits {
  /** Headers plus body of one message on a stream. */
  readonly maxStreamMessageBytes: number;
  /** Bytes of a message on a stream before the CRLFCRLF that ends its headers must be seen. */
  readonly maxStreamHeaderBytes: number;
  /** Inbound connections open at once, all addresses together. */
  readonly maxConnections: number;
  /** Inbound connections open at once from one remote IP address. */
  readonly maxConnectionsPerAddress: number;
  /**
   * Outbound connections open at once. Kept apart from maxConnections so that a flood of
   * inbound connections cannot stop us from reaching the upstream.
   */
  readonly maxOutboundConnections: number;
  /** A connection that carries no complete message nor keep-alive ping for this long is closed. */
  readonly idleTimeoutMs: number;
  /** A message (and a TLS handshake) once begun must complete within this time: defeats slowloris. */
  readonly headerTimeoutMs: number;
  /** A peer that does not read is disconnected when our pending writes to it pass this. */
  readonly maxWriteBufferBytes: number;
  /** Outbound connection set-up (TCP connect plus TLS handshake). */
  readonly connectTimeoutMs: number;
}

export interface TransportOptions extends Partial<TransportLimits> {
  readonly listen: readonly ListenOptions[];
  readonly tls?: TlsOptions;
  /**
   * Kernel receive buffer of each UDP socket (SO_RCVBUF): room for bursts while a message is
   * handled. Unset keeps the system default; Linux caps it at net.core.rmem_max.
   */
  readonly udpReceiveBufferBytes?: number;
  /**
   * Every this many ms a probe datagram measures how long work waits in each UDP socket's
   * receive queue (queue-probe.ts), for admission by the age of work; 0 turns it off. Default 20.
   */
  readonly udpQueueProbeMs?: number;
}

export const DEFAULT_TRANSPORT_OPTIONS: Readonly<TransportLimits> = Object.freeze({
  maxStreamMessageBytes: 6048,
  maxStreamHeaderBytes: 16384,
  maxConnections: 4096,
  maxConnectionsPerAddress: 64,
  maxOutboundConnections: 1024,
  // Longer than the 95 to 120 s keep-alive interval of RFC 5626 section 4.4.1, so that
  // registered clients that only ping keep their connection.
  idleTimeoutMs: 180_000,
  headerTimeoutMs: 10_000,
  maxWriteBufferBytes: 256 * 1024,
  connectTimeoutMs: 5_000,
});

/** The limits in force: defaults overlaid with the caller's settings. */
export function resolveLimits(options: TransportOptions): TransportLimits {
  const maxStreamMessageBytes =
    options.maxStreamMessageBytes ?? DEFAULT_TRANSPORT_OPTIONS.maxStreamMessageBytes;
  const limits: TransportLimits = {
    maxStreamMessageBytes,
    // Headers may take the whole message, never more.
    maxStreamHeaderBytes:
      options.maxStreamHeaderBytes ??
      Math.min(DEFAULT_TRANSPORT_OPTIONS.maxStreamHeaderBytes, maxStreamMessageBytes),
    maxConnections: options.maxConnections ?? DEFAULT_TRANSPORT_OPTIONS.maxConnections,
    maxConnectionsPerAddress:
      options.maxConnectionsPerAddress ?? DEFAULT_TRANSPORT_OPTIONS.maxConnectionsPerAddress,
    maxOutboundConnections:
      options.maxOutboundConnections ?? DEFAULT_TRANSPORT_OPTIONS.maxOutboundConnections,
    idleTimeoutMs: options.idleTimeoutMs ?? DEFAULT_TRANSPORT_OPTIONS.idleTimeoutMs,
    headerTimeoutMs: options.headerTimeoutMs ?? DEFAULT_TRANSPORT_OPTIONS.headerTimeoutMs,
    maxWriteBufferBytes: options.maxWriteBufferBytes ?? DEFAULT_TRANSPORT_OPTIONS.maxWriteBufferBytes,
    connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_TRANSPORT_OPTIONS.connectTimeoutMs,
  };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw new TransportError(
        'SW_ERR_TRANSPORT_CONFIG',
        `transport option ${name} must be a positive integer, got ${String(value)}`,
      );
    }
  }
  if (limits.maxStreamHeaderBytes > limits.maxStreamMessageBytes) {
    throw new TransportError(
      'SW_ERR_TRANSPORT_CONFIG',
      'transport option maxStreamHeaderBytes must not exceed maxStreamMessageBytes',
    );
  }
  return limits;
}

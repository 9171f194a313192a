/**
 * What the transport layer offers the layers above it. Only src/transport touches sockets.
 */
import type { TlsOptions } from './options.ts';

export type TransportName = 'udp' | 'tcp' | 'tls';

/**
 * Where a message came from, or the flow to answer on. For UDP the flow is the pair of
 * socket addresses; for TCP/TLS it is one connection (`connectionId`).
 */
export interface Flow {
  readonly transport: TransportName;
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** Stream connections only: the id of the connection the message arrived on. */
  readonly connectionId?: number;
  /** TLS only: what the peer's certificate says, for mutual TLS identities. */
  readonly tlsPeer?: TlsPeer;
}

/** The peer certificate of a TLS connection, checked against the configured CA. */
export interface TlsPeer {
  /** The certificate chains to a configured CA (and, outbound, names the server). */
  readonly authorized: boolean;
  /** Why not, when it is not (an OpenSSL verify code such as DEPTH_ZERO_SELF_SIGNED_CERT). */
  readonly authorizationError?: string;
  /** Absent when the peer sent no certificate (clients need not, unless asked). */
  readonly subjectCommonName?: string;
  /** subjectAltName entries as `TYPE:value`, e.g. `DNS:pbx.example.com`, `URI:sip:example.com`. */
  readonly altNames: readonly string[];
  /** SHA-256 fingerprint, colon-separated hex. */
  readonly fingerprint256?: string;
}

/** One complete SIP message as received: a UDP datagram or one framed message from a stream. */
export interface InboundMessage {
  readonly flow: Flow;
  readonly data: Buffer;
  /**
   * Streams only: this message could not be framed (its Content-Length announces more than
   * the limit or is no number, or its headers do not end within the limit). `data` then holds
   * its header bytes, for an answer with `status`; the connection is closed after the handler
   * returns, once what it wrote has been sent.
   */
  readonly framingError?: { readonly code: string; readonly status: number; readonly reason: string };
}

/** Where to send: an existing flow (answer on the same connection) or an address to reach. */
export interface SendTarget {
  readonly transport: TransportName;
  readonly address: string;
  readonly port: number;
  /** Reuse this connection when it is still open (TCP/TLS). */
  readonly connectionId?: number;
  /**
   * TLS only: the name to send as SNI and to check the server's certificate against, when
   * it differs from `address` (an IP literal: host names are resolved above this layer).
   */
  readonly serverName?: string;
}

export interface ListenerAddress {
  readonly transport: TransportName;
  readonly host: string;
  readonly port: number;
}

export type MessageHandler = (message: InboundMessage) => void;

export interface TransportStats {
  readonly connections: number;
  readonly udpDatagramsIn: number;
  readonly streamMessagesIn: number;
  readonly sendFailures: number;
  readonly rejectedConnections: number;
  readonly framingErrors: number;
  /** CRLF keep-alives received (RFC 5626 section 3.5.1 and 4.4.1), answered or ignored. */
  readonly keepAlivesIn?: number;
  readonly idleTimeouts?: number;
  /** Connections cut because a message or TLS handshake did not complete in time. */
  readonly headerTimeouts?: number;
  /** Connections cut because the peer did not read what we wrote. */
  readonly slowReaderDisconnects?: number;
  readonly tlsHandshakeFailures?: number;
  readonly inboundConnectionsAccepted?: number;
  readonly outboundConnectionsOpened?: number;
  /** Messages received before a handler was registered, or that the handler threw on. */
  readonly undeliveredMessages?: number;
}

export interface TransportLayer {
  /** Registers the single consumer of inbound messages. */
  onMessage(handler: MessageHandler): void;
  /**
   * Sends one serialized message. Never throws: a failure (no route, connection refused,
   * buffer full) is logged with the reason and counted; the returned promise resolves to
   * false. Stream targets without an open connection are connected to (outbound).
   */
  send(target: SendTarget, data: Buffer): Promise<boolean>;
  /**
   * The same without a result, for the hot path: no promise is made for a UDP datagram.
   * Failures are logged and counted all the same.
   */
  sendNow(target: SendTarget, data: Buffer): void;
  /**
   * Registers the single listener told when a stream connection closes (not at shutdown),
   * with the flow its messages carried: a phone registered over it is unreachable now.
   */
  onConnectionClosed?(listener: (flow: Flow) => void): void;
  /** The addresses actually bound (port 0 in the config resolves to the real port). */
  listening(): readonly ListenerAddress[];
  /** The local address and port to write in Via/Record-Route for a transport (first listener). */
  localFor(transport: TransportName): ListenerAddress | undefined;
  stats(): TransportStats;
  /**
   * Replaces the TLS certificate, key and settings for connections opened from now on (a
   * configuration reload); throws, changing nothing, when they are unusable.
   */
  reloadTls?(tls: TlsOptions): void;
  /**
   * How long the work now being read waited in the UDP receive queues, in ms (the oldest of
   * them; 0 without UDP listeners or probes): the measure admission control sheds by.
   */
  receiveQueueAgeMs?(): number;
  close(): Promise<void>;
}

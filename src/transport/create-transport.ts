import { createSocket, type Socket as DatagramSocket } from 'node:dgram';
import { type LookupOneOptions, lookup } from 'node:dns';
import { connect as connectTcp, createServer, isIP, type Server, type Socket } from 'node:net';
import {
  type ConnectionOptions,
  connect as connectTls,
  createSecureContext,
  type SecureContext,
  TLSSocket,
} from 'node:tls';
import type { Logger } from '../log/logger.ts';
import { addressFamily, isWildcard, mapIpv4, normalizeAddress } from './address.ts';
import { ConnectionTable, remoteKey } from './connection-table.ts';
import { type SendFailureReason, TRANSPORT_ERRORS, TransportError } from './errors.ts';
import { resolveLimits, type TlsOptions, type TransportLimits, type TransportOptions } from './options.ts';
import { QueueProbe } from './queue-probe.ts';
import { type CloseReason, type ConnectionOwner, StreamConnection } from './stream-connection.ts';
import type { FramingError } from './stream-framer.ts';
import { describeTlsPeer, settleServerAuthorization } from './tls-peer.ts';
import type {
  Flow,
  InboundMessage,
  ListenerAddress,
  MessageHandler,
  SendTarget,
  TransportLayer,
  TransportName,
  TransportStats,
} from './types.ts';

/**
 * Name resolution for the UDP sockets. Every address sipwarden sends to is already an IP
 * literal, and Node's default lookup answers even those on the next tick: one deferred call
 * per datagram on the hot path. Literals are answered at once; a name still goes to the
 * resolver.
 */
function literalLookup(
  hostname: string,
  options: LookupOneOptions | number,
  callback: (error: NodeJS.ErrnoException | null, address: string, family: number) => void,
): void {
  const family = isIP(hostname);
  if (family !== 0) {
    callback(null, hostname, family);
    return;
  }
  lookup(hostname, typeof options === 'number' ? { family: options } : options, callback);
}

/** Attempts at finding a port free for both UDP and the stream transport of one entry. */
const SHARED_PORT_ATTEMPTS = 8;
/** Longest piece of an error message that goes into a log line. */
const MAX_LOGGED_ERROR = 200;
/** Longer than any IPv6 literal with a zone. */
const MAX_LOGGED_ADDRESS = 64;

interface UdpEndpoint {
  readonly socket: DatagramSocket;
  readonly family: 4 | 6;
  readonly local: ListenerAddress;
  /** Measures how long datagrams wait in this socket's receive queue (queue-probe.ts). */
  probe?: QueueProbe;
}

interface StreamListener {
  readonly server: Server;
  readonly local: ListenerAddress;
}

interface Counters {
  udpDatagramsIn: number;
  keepAlivesIn: number;
  streamMessagesIn: number;
  sendFailures: number;
  rejectedConnections: number;
  framingErrors: number;
  idleTimeouts: number;
  headerTimeouts: number;
  slowReaderDisconnects: number;
  tlsHandshakeFailures: number;
  inboundConnectionsAccepted: number;
  outboundConnectionsOpened: number;
  undeliveredMessages: number;
}

interface Failure {
  readonly reason: SendFailureReason;
  readonly error?: Error;
}

/*
 * The socket side of sipwarden.
 *
 * - UDP: one socket per listen entry, udp4 or udp6 by the host's family. Each datagram is one
 *   message; datagrams of only CRLFs are keep-alives and are dropped. Replies leave from the
 *   listening socket of the target's family, so that the peer's answers come back to it. On a
 *   wildcard listener the flow's localAddress is the wildcard: Node does not tell which local
 *   address a datagram was sent to.
 * - TCP and TLS: one server per entry; every connection, inbound or outbound, is in one table,
 *   delivers what it reads, and is reused for sends to its remote address and port. TLS runs
 *   on plain accepted sockets, so the connection caps apply before any handshake work, and the
 *   handshake must finish within headerTimeoutMs.
 * - Peer addresses are reported with IPv4-mapped IPv6 unmapped.
 * - Messages that arrive before onMessage() registers a handler are dropped and counted.
 */

/**
 * Opens the configured listeners and returns the transport layer. Rejects (with a
 * TransportError) only at start: bad options, or a port that cannot be bound.
 */
export async function createTransport(options: TransportOptions, logger: Logger): Promise<TransportLayer> {
  const layer = new SocketTransport(options, resolveLimits(options), logger);
  try {
    await layer.start();
  } catch (error) {
    await layer.close();
    throw error;
  }
  return layer;
}

class SocketTransport implements TransportLayer, ConnectionOwner {
  #options: TransportOptions;
  readonly #limits: TransportLimits;
  readonly #logger: Logger;
  readonly #table: ConnectionTable<StreamConnection>;
  readonly #udp: UdpEndpoint[] = [];
  readonly #streams: StreamListener[] = [];
  /** Listeners in the order they were opened, for listening(). */
  readonly #listening: ListenerAddress[] = [];
  /** Outbound connects under way, by remote key: concurrent sends share one. */
  readonly #connecting = new Map<string, Promise<StreamConnection | Failure>>();
  readonly #connectingSockets = new Set<Socket>();
  #serverContext: SecureContext | undefined;
  #handler: MessageHandler | undefined;
  #closedListener: ((flow: Flow) => void) | undefined;
  #closing: Promise<void> | undefined;
  readonly #counters: Counters = {
    udpDatagramsIn: 0,
    keepAlivesIn: 0,
    streamMessagesIn: 0,
    sendFailures: 0,
    rejectedConnections: 0,
    framingErrors: 0,
    idleTimeouts: 0,
    headerTimeouts: 0,
    slowReaderDisconnects: 0,
    tlsHandshakeFailures: 0,
    inboundConnectionsAccepted: 0,
    outboundConnectionsOpened: 0,
    undeliveredMessages: 0,
  };

  constructor(options: TransportOptions, limits: TransportLimits, logger: Logger) {
    this.#options = options;
    this.#limits = limits;
    this.#logger = logger;
    this.#table = new ConnectionTable(limits);
    this.#serverContext = options.tls === undefined ? undefined : serverContext(options.tls);
  }

  async start(): Promise<void> {
    for (const entry of this.#options.listen) {
      const family = addressFamily(entry.host);
      if (family === 0) {
        throw new TransportError('SW_ERR_TRANSPORT_CONFIG', `listen host ${entry.host} is not an IP address`);
      }
      if (!Number.isInteger(entry.port) || entry.port < 0 || entry.port > 65535) {
        throw new TransportError('SW_ERR_TRANSPORT_CONFIG', `listen port ${entry.port} is out of range`);
      }
      const transports = new Set(entry.transports);
      if (transports.size === 0) {
        throw new TransportError('SW_ERR_TRANSPORT_CONFIG', `listen entry ${entry.host} names no transport`);
      }
      const stream = [...transports].filter((name): name is 'tcp' | 'tls' => name !== 'udp');
      if (stream.length > 1) {
        throw new TransportError(
          'SW_ERR_TRANSPORT_CONFIG',
          'tcp and tls cannot share a port: use two listen entries',
        );
      }
      const streamTransport = stream[0];
      if (streamTransport === 'tls' && this.#serverContext === undefined) {
        throw new TransportError(
          'SW_ERR_TRANSPORT_CONFIG',
          'a tls listener needs the tls certificate and key',
        );
      }
      await this.#listenEntry(entry.host, entry.port, family, transports.has('udp'), streamTransport);
    }
    const probeMs = this.#options.udpQueueProbeMs ?? 20;
    if (probeMs > 0) {
      for (const endpoint of this.#udp) {
        const { host, port } = endpoint.local;
        endpoint.probe = await QueueProbe.start({ host, port, family: endpoint.family, intervalMs: probeMs });
      }
    }
  }

  receiveQueueAgeMs(): number {
    let age = 0;
    for (const endpoint of this.#udp) age = Math.max(age, endpoint.probe?.ageMs() ?? 0);
    return age;
  }

  /** Opens one entry; with port 0 and both kinds, finds one port free for both. */
  async #listenEntry(
    host: string,
    port: number,
    family: 4 | 6,
    udp: boolean,
    stream: 'tcp' | 'tls' | undefined,
  ): Promise<void> {
    if (stream === undefined) {
      if (udp) this.#addUdp(await this.#bindUdp(host, port, family), host, family);
      return;
    }
    for (let attempt = 1; ; attempt++) {
      const server = await this.#listenStream(host, port, stream);
      const boundPort = (server.address() as { port: number }).port;
      if (!udp) {
        this.#addStream(server, host, boundPort, stream);
        return;
      }
      try {
        const socket = await this.#bindUdp(host, boundPort, family);
        this.#addStream(server, host, boundPort, stream);
        this.#addUdp(socket, host, family);
        return;
      } catch (error) {
        await closeServer(server);
        // Only a port we picked ourselves may be given up for another one.
        if (port !== 0 || attempt >= SHARED_PORT_ATTEMPTS || !isAddressInUse(error)) throw error;
      }
    }
  }

  #bindUdp(host: string, port: number, family: 4 | 6): Promise<DatagramSocket> {
    return new Promise((resolve, reject) => {
      const socket = createSocket({ type: family === 6 ? 'udp6' : 'udp4', lookup: literalLookup });
      const onError = (error: Error): void => {
        try {
          socket.close();
        } catch {
          // Never bound: nothing to close.
        }
        reject(listenError('udp', host, port, error));
      };
      socket.once('error', onError);
      socket.bind({ address: host, port, exclusive: true }, () => {
        socket.off('error', onError);
        resolve(socket);
      });
    });
  }

  #addUdp(socket: DatagramSocket, host: string, family: 4 | 6): void {
    const receiveBuffer = this.#options.udpReceiveBufferBytes;
    if (receiveBuffer !== undefined) {
      try {
        socket.setRecvBufferSize(receiveBuffer);
      } catch (error) {
        this.#logger.warn(
          { host, receiveBuffer, error: describe(error) },
          'udp receive buffer size not applied',
        );
      }
    }
    const local: ListenerAddress = Object.freeze({ transport: 'udp', host, port: socket.address().port });
    const endpoint: UdpEndpoint = { socket, family, local };
    socket.on('error', (error: Error) => {
      this.#logger.warn(
        { transport: 'udp', host, port: local.port, error: describe(error) },
        'udp socket error',
      );
    });
    socket.on('message', (data: Buffer, remote: { address: string; port: number }) => {
      this.#receiveDatagram(endpoint, data, remote.address, remote.port);
    });
    this.#udp.push(endpoint);
    this.#listening.push(local);
  }

  #receiveDatagram(endpoint: UdpEndpoint, data: Buffer, address: string, port: number): void {
    if (endpoint.probe?.take(address, port, data) === true) return;
    // Delivered whatever its size (UDP bounds it at 65,507 bytes): the SIP layer reads no
    // more than its limit and answers an oversized request 513 when its head can be read.
    // RFC 5626 section 3.5.1 / 4.4.1: a datagram of only CRLFs is a keep-alive, not a message.
    if (isOnlyLineBreaks(data)) {
      this.#counters.keepAlivesIn++;
      return;
    }
    this.#counters.udpDatagramsIn++;
    const flow: Flow = {
      transport: 'udp',
      localAddress: endpoint.local.host,
      localPort: endpoint.local.port,
      remoteAddress: normalizeAddress(address),
      remotePort: port,
    };
    this.#deliver({ flow, data });
  }

  #listenStream(host: string, port: number, transport: 'tcp' | 'tls'): Promise<Server> {
    return new Promise((resolve, reject) => {
      const server = createServer({ allowHalfOpen: false, noDelay: true }, (socket) => {
        try {
          this.#accept(socket, transport);
        } catch (error) {
          // A listener callback that throws would end the process: drop the one connection.
          socket.destroy();
          this.#logger.error({ transport, error: describe(error) }, 'accepting a connection failed');
        }
      });
      const onError = (error: Error): void => {
        server.close();
        reject(listenError(transport, host, port, error));
      };
      server.once('error', onError);
      server.listen({ host, port, exclusive: true }, () => {
        server.off('error', onError);
        resolve(server);
      });
    });
  }

  #addStream(server: Server, host: string, port: number, transport: 'tcp' | 'tls'): void {
    const local: ListenerAddress = Object.freeze({ transport, host, port });
    server.on('error', (error: Error) => {
      this.#logger.warn({ transport, host, port, error: describe(error) }, 'stream listener error');
    });
    this.#streams.push({ server, local });
    this.#listening.push(local);
  }

  #accept(socket: Socket, transport: 'tcp' | 'tls'): void {
    socket.on('error', () => {
      // Reported by the connection that wraps it; this handler keeps an early reset harmless.
    });
    const remoteAddress = normalizeAddress(socket.remoteAddress ?? '');
    if (this.#closing !== undefined || remoteAddress === '' || !this.#table.admitsInbound(remoteAddress)) {
      this.#counters.rejectedConnections++;
      this.#logger.debug({ transport, remoteAddress }, 'connection refused: over the connection limit');
      socket.destroy();
      return;
    }
    let stream: Socket = socket;
    if (transport === 'tls') {
      stream = new TLSSocket(socket, {
        isServer: true,
        secureContext: this.#serverContext!,
        requestCert: this.#options.tls?.requestClientCert ?? false,
        // A missing or unknown client certificate is for the authentication stage to judge.
        rejectUnauthorized: false,
      });
      stream.once('close', () => socket.destroy());
    }
    const connection = new StreamConnection({
      id: this.#table.nextId(),
      transport,
      direction: 'inbound',
      socket: stream,
      remoteAddress,
      remotePort: socket.remotePort ?? 0,
      limits: this.#limits,
      owner: this,
      handshaking: transport === 'tls',
    });
    if (transport === 'tls') {
      const secure = stream as TLSSocket;
      secure.once('secure', () => {
        try {
          if (this.#options.tls?.requestClientCert === true) settleServerAuthorization(secure);
        } catch (error) {
          // Unverifiable is untrusted: carry on with authorized false rather than crash.
          secure.authorized = false;
          this.#logger.warn(
            { connectionId: connection.id, error: describe(error) },
            'tls verify result unreadable',
          );
        }
        connection.handshakeDone(describeTlsPeer(secure));
      });
    }
    this.#table.add(connection);
    this.#counters.inboundConnectionsAccepted++;
  }

  onMessage(handler: MessageHandler): void {
    this.#handler = handler;
  }

  onConnectionClosed(listener: (flow: Flow) => void): void {
    this.#closedListener = listener;
  }

  #deliver(message: InboundMessage): void {
    const handler = this.#handler;
    if (handler === undefined) {
      this.#counters.undeliveredMessages++;
      return;
    }
    try {
      handler(message);
    } catch (error) {
      // The consumer's fault, but one bad message must not take the socket down with it.
      this.#counters.undeliveredMessages++;
      this.#logger.error({ error: describe(error) }, 'message handler threw');
    }
  }

  message(connection: StreamConnection, data: Buffer): void {
    this.#counters.streamMessagesIn++;
    this.#deliver({ flow: connection.flow, data });
  }

  keepAlive(_connection: StreamConnection): void {
    this.#counters.keepAlivesIn++;
  }

  framingError(connection: StreamConnection, error: FramingError): void {
    this.#counters.framingErrors++;
    // Reported through the SIP layer (an event, aggregated): one log line per bad stream would let traffic grow the log.
    this.#logger.debug(
      {
        transport: connection.transport,
        connectionId: connection.id,
        remoteAddress: connection.remoteAddress,
        remotePort: connection.remotePort,
        code: error.code,
        detail: error.detail,
      },
      'closing connection: stream cannot be framed',
    );
    // The message's head goes up so that the request can be answered (513, 400) on this
    // connection before it closes (RFC 3261 18.2.2: responses go back over the connection).
    if (error.head !== undefined && error.head.length > 0) {
      this.#deliver({
        flow: connection.flow,
        data: error.head,
        framingError: { code: error.code, status: TRANSPORT_ERRORS[error.code].status, reason: error.detail },
      });
    }
  }

  closed(connection: StreamConnection, reason: CloseReason, error: Error | undefined): void {
    this.#table.remove(connection);
    if (reason !== 'shutdown' && this.#closedListener !== undefined) {
      try {
        this.#closedListener(connection.flow);
      } catch (listenerError) {
        this.#logger.error({ error: describe(listenerError) }, 'connection closed listener threw');
      }
    }
    if (reason === 'idle-timeout') this.#counters.idleTimeouts++;
    else if (reason === 'header-timeout') this.#counters.headerTimeouts++;
    else if (reason === 'write-buffer-full') this.#counters.slowReaderDisconnects++;
    if (connection.handshaking && reason !== 'shutdown') this.#counters.tlsHandshakeFailures++;
    this.#logger.debug(
      {
        transport: connection.transport,
        connectionId: connection.id,
        remoteAddress: connection.remoteAddress,
        remotePort: connection.remotePort,
        reason,
        error: error === undefined ? undefined : describe(error),
      },
      'connection closed',
    );
  }

  async send(target: SendTarget, data: Buffer): Promise<boolean> {
    try {
      if (this.#closing !== undefined) return this.#failed(target, { reason: 'connection-closed' });
      if (addressFamily(target.address) === 0 || !isPort(target.port)) {
        return this.#failed(target, { reason: 'bad-address' });
      }
      const failure =
        target.transport === 'udp' ? await this.#sendUdp(target, data) : await this.#sendStream(target, data);
      return failure === undefined ? true : this.#failed(target, failure);
    } catch (error) {
      return this.#failed(target, { reason: 'socket-error', error: asError(error) });
    }
  }

  /**
   * Fire and forget: the hot path. A UDP datagram goes out with no promise and no closure
   * per message; a failure is logged and counted when the socket reports it. Streams go
   * through send().
   */
  sendNow(target: SendTarget, data: Buffer): void {
    if (target.transport !== 'udp' || this.#closing !== undefined) {
      void this.send(target, data);
      return;
    }
    const family = addressFamily(target.address);
    const endpoint = family === 0 || !isPort(target.port) ? undefined : this.#udpEndpoint(family);
    if (endpoint === undefined || (family === 4 && endpoint.family === 6)) {
      void this.send(target, data);
      return;
    }
    endpoint.socket.send(data, target.port, target.address, this.#afterUdpSend);
  }

  /** One callback for every hot-path datagram: no closure per message; the error names the address. */
  readonly #afterUdpSend = (error: Error | null): void => {
    if (!error) return;
    // Node's send errors carry the destination (ExceptionWithHostPort).
    const { address, port } = error as Error & { address?: unknown; port?: unknown };
    this.#failed(
      {
        transport: 'udp',
        address: typeof address === 'string' ? address : '',
        port: typeof port === 'number' ? port : 0,
      },
      { reason: 'socket-error', error },
    );
  };

  #udpEndpoint(family: number): UdpEndpoint | undefined {
    return this.#udp.find((candidate) => candidate.family === family);
  }

  #sendUdp(target: SendTarget, data: Buffer): Promise<Failure | undefined> {
    const family = addressFamily(target.address);
    let address = target.address;
    let endpoint = this.#udp.find((candidate) => candidate.family === family);
    if (endpoint === undefined && family === 4) {
      // A dual-stack IPv6 socket reaches IPv4 peers through mapped addresses.
      endpoint = this.#udp.find((candidate) => candidate.family === 6 && candidate.local.host === '::');
      address = mapIpv4(address);
    }
    if (endpoint === undefined) return Promise.resolve({ reason: 'no-listener' });
    const socket = endpoint.socket;
    return new Promise((resolve) => {
      socket.send(data, target.port, address, (error) => {
        resolve(error ? { reason: 'socket-error', error } : undefined);
      });
    });
  }

  async #sendStream(target: SendTarget, data: Buffer): Promise<Failure | undefined> {
    const transport = target.transport as 'tcp' | 'tls';
    let connection: StreamConnection | undefined;
    if (target.connectionId !== undefined) {
      const named = this.#table.get(target.connectionId);
      if (named !== undefined && !named.closed && named.transport === transport) connection = named;
    }
    connection ??= this.#table.findByRemote(transport, normalizeAddress(target.address), target.port);
    if (connection === undefined) {
      const opened = await this.#connect(target, transport);
      if (!(opened instanceof StreamConnection)) return opened;
      connection = opened;
    }
    const reason = connection.write(data);
    return reason === undefined ? undefined : { reason };
  }

  /** One outbound connect per remote address at a time; concurrent sends wait for it. */
  #connect(target: SendTarget, transport: 'tcp' | 'tls'): Promise<StreamConnection | Failure> {
    const key = remoteKey(transport, normalizeAddress(target.address), target.port);
    const pending = this.#connecting.get(key);
    if (pending !== undefined) return pending;
    if (!this.#table.admitsOutbound(this.#connecting.size))
      return Promise.resolve({ reason: 'connection-limit' });
    const opening = this.#openOutbound(target, transport).finally(() => this.#connecting.delete(key));
    this.#connecting.set(key, opening);
    return opening;
  }

  #openOutbound(target: SendTarget, transport: 'tcp' | 'tls'): Promise<StreamConnection | Failure> {
    return new Promise((resolve) => {
      let settled = false;
      let lastError: Error | undefined;
      const socket: Socket =
        transport === 'tls'
          ? connectTls(this.#clientTlsOptions(target))
          : connectTcp({ host: target.address, port: target.port, noDelay: true });
      this.#connectingSockets.add(socket);
      const settle = (result: StreamConnection | Failure): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#connectingSockets.delete(socket);
        resolve(result);
      };
      const timer = setTimeout(() => {
        socket.destroy();
        settle({ reason: 'connect-timeout' });
      }, this.#limits.connectTimeoutMs);
      socket.on('error', (error: Error) => {
        lastError ??= error;
        socket.destroy();
        settle({ reason: 'connect-failed', error });
      });
      socket.once('close', () =>
        settle({ reason: 'connect-failed', ...(lastError ? { error: lastError } : {}) }),
      );
      socket.once(transport === 'tls' ? 'secureConnect' : 'connect', () => {
        if (this.#closing !== undefined) {
          socket.destroy();
          settle({ reason: 'connection-closed' });
          return;
        }
        const connection = new StreamConnection({
          id: this.#table.nextId(),
          transport,
          direction: 'outbound',
          socket,
          remoteAddress: normalizeAddress(target.address),
          remotePort: target.port,
          limits: this.#limits,
          owner: this,
          handshaking: false,
          ...(transport === 'tls' ? { tlsPeer: describeTlsPeer(socket as TLSSocket) } : {}),
        });
        this.#table.add(connection);
        this.#counters.outboundConnectionsOpened++;
        settle(connection);
      });
    });
  }

  #clientTlsOptions(target: SendTarget): ConnectionOptions {
    const tls = this.#options.tls;
    return {
      host: target.address,
      port: target.port,
      // SNI carries names only (RFC 6066 section 3); an IP is checked against the IP SANs.
      ...(target.serverName === undefined || addressFamily(target.serverName) !== 0
        ? {}
        : { servername: target.serverName }),
      ...(tls?.ca === undefined ? {} : { ca: tls.ca as string | Buffer | (string | Buffer)[] }),
      // Our certificate doubles as the client certificate for mutual TLS with the upstream.
      ...(tls === undefined ? {} : { cert: tls.cert, key: tls.key }),
      minVersion: tls?.minVersion ?? 'TLSv1.2',
      rejectUnauthorized: tls?.verifyPeer ?? true,
    };
  }

  #failed(target: SendTarget, failure: Failure): false {
    this.#counters.sendFailures++;
    this.#logger.warn(
      {
        transport: target.transport,
        // The address may come from a header the peer wrote: bounded before it is logged.
        address: bounded(String(target.address), MAX_LOGGED_ADDRESS),
        port: target.port,
        connectionId: target.connectionId,
        reason: failure.reason,
        error: failure.error === undefined ? undefined : describe(failure.error),
      },
      'send failed',
    );
    return false;
  }

  /**
   * New certificate, key, CA and TLS settings for the connections opened from now on, both
   * ways; open connections keep the session they negotiated. Throws TransportError (and
   * changes nothing) when the certificate or key is unusable, or when TLS was not configured
   * at start (its listeners do not exist then).
   */
  reloadTls(tls: TlsOptions): void {
    if (this.#options.tls === undefined) {
      throw new TransportError(
        'SW_ERR_TRANSPORT_CONFIG',
        'tls was not configured at start: restart to add it',
      );
    }
    const context = serverContext(tls);
    this.#serverContext = context;
    this.#options = { ...this.#options, tls };
  }

  listening(): readonly ListenerAddress[] {
    return this.#listening;
  }

  /**
   * The first listener of that transport, preferring a specific host over a wildcard. A
   * wildcard host (0.0.0.0, ::) is returned as it is: which address to advertise then is for
   * the caller's configuration to say.
   */
  localFor(transport: TransportName): ListenerAddress | undefined {
    const candidates = this.#listening.filter((local) => local.transport === transport);
    return candidates.find((local) => !isWildcard(local.host)) ?? candidates[0];
  }

  stats(): TransportStats {
    return { connections: this.#table.size, ...this.#counters };
  }

  close(): Promise<void> {
    this.#closing ??= this.#closeAll();
    return this.#closing;
  }

  async #closeAll(): Promise<void> {
    const closing: Promise<void>[] = [];
    for (const { server } of this.#streams) closing.push(closeServer(server));
    for (const { socket, probe } of this.#udp) {
      probe?.close();
      closing.push(closeDatagramSocket(socket));
    }
    for (const socket of this.#connectingSockets) socket.destroy();
    for (const connection of [...this.#table.values()]) connection.close('shutdown');
    await Promise.all(closing);
  }
}

function serverContext(tls: TlsOptions): SecureContext {
  try {
    return createSecureContext({
      cert: tls.cert,
      key: tls.key,
      ...(tls.ca === undefined ? {} : { ca: tls.ca as string | Buffer | (string | Buffer)[] }),
      minVersion: tls.minVersion ?? 'TLSv1.2',
    });
  } catch (error) {
    throw new TransportError(
      'SW_ERR_TRANSPORT_CONFIG',
      `tls certificate or key unusable: ${describe(error)}`,
      {
        cause: error,
      },
    );
  }
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.close(() => resolve());
  });
}

function closeDatagramSocket(socket: DatagramSocket): Promise<void> {
  return new Promise((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      resolve(); // already closed
    }
  });
}

function listenError(transport: TransportName, host: string, port: number, error: Error): TransportError {
  const listenFailure = new TransportError(
    'SW_ERR_LISTEN_FAILED',
    `cannot listen on ${transport} ${host} port ${port}: ${describe(error)}`,
    { cause: error },
  );
  return listenFailure;
}

function isAddressInUse(error: unknown): boolean {
  return (
    error instanceof TransportError && (error.cause as { code?: unknown } | undefined)?.code === 'EADDRINUSE'
  );
}

function isPort(port: number): boolean {
  return Number.isInteger(port) && port > 0 && port <= 65535;
}

function isOnlyLineBreaks(data: Buffer): boolean {
  for (let i = 0; i < data.length; i++) {
    const byte = data[i];
    if (byte !== 0x0d && byte !== 0x0a) return false;
  }
  return true;
}

function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

/** A bounded one-line description of an error: its code and the start of its message. */
function describe(value: unknown): string {
  const error = asError(value);
  const code = (error as { code?: unknown }).code;
  return bounded((typeof code === 'string' ? `${code}: ` : '') + error.message, MAX_LOGGED_ERROR);
}

function bounded(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}...` : text;
}

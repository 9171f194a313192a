import type { Socket } from 'node:net';
import { normalizeAddress } from './address.ts';
import type { TableEntry } from './connection-table.ts';
import type { SendFailureReason } from './errors.ts';
import type { FramingError } from './stream-framer.ts';
import { StreamFramer } from './stream-framer.ts';
import type { Flow, TlsPeer } from './types.ts';

export interface ConnectionLimits {
  readonly maxStreamHeaderBytes: number;
  readonly maxStreamMessageBytes: number;
  readonly idleTimeoutMs: number;
  readonly headerTimeoutMs: number;
  readonly maxWriteBufferBytes: number;
}

/** Why a connection ended, for logs and counters. */
export type CloseReason =
  | 'remote-closed'
  | 'socket-error'
  | 'framing-error'
  | 'idle-timeout'
  | 'header-timeout'
  | 'write-buffer-full'
  | 'shutdown';

export interface ConnectionOwner {
  message(connection: StreamConnection, data: Buffer): void;
  keepAlive(connection: StreamConnection): void;
  framingError(connection: StreamConnection, error: FramingError): void;
  closed(connection: StreamConnection, reason: CloseReason, error: Error | undefined): void;
}

/** How long a connection closed after an answer keeps reading what the peer still sends. */
const LINGER_MS = 2000;

/** The keep-alive pong (RFC 5626 section 3.5.1). */
const PONG = Buffer.from('\r\n', 'latin1');

/**
 * One TCP or TLS connection: frames what it reads, enforces the idle and header timeouts
 * with one lazily re-armed timer, and refuses to queue writes for a peer that does not read.
 */
export class StreamConnection implements TableEntry {
  readonly id: number;
  readonly transport: 'tcp' | 'tls';
  readonly direction: 'inbound' | 'outbound';
  readonly remoteAddress: string;
  readonly remotePort: number;
  #flow: Flow;
  readonly #socket: Socket;
  readonly #limits: ConnectionLimits;
  readonly #owner: ConnectionOwner;
  readonly #framer: StreamFramer;
  #timer: NodeJS.Timeout | undefined;
  #deadline = Number.POSITIVE_INFINITY;
  #lastActivity: number;
  /** When the unfinished message (or the TLS handshake) began; undefined when none is. */
  #partialSince: number | undefined;
  #handshaking: boolean;
  #closed = false;
  #closeReason: CloseReason | undefined;
  #error: Error | undefined;

  constructor(init: {
    id: number;
    transport: 'tcp' | 'tls';
    direction: 'inbound' | 'outbound';
    socket: Socket;
    /** Remote address and port as known before the socket connects (outbound). */
    remoteAddress?: string;
    remotePort?: number;
    limits: ConnectionLimits;
    owner: ConnectionOwner;
    /** True while a TLS handshake is still to complete: the header timeout covers it. */
    handshaking: boolean;
    /** Outbound TLS: the server's certificate, already checked. */
    tlsPeer?: TlsPeer;
  }) {
    const { socket } = init;
    this.id = init.id;
    this.transport = init.transport;
    this.direction = init.direction;
    this.#socket = socket;
    this.#limits = init.limits;
    this.#owner = init.owner;
    this.remoteAddress = normalizeAddress(init.remoteAddress ?? socket.remoteAddress ?? '');
    this.remotePort = init.remotePort ?? socket.remotePort ?? 0;
    this.#flow = Object.freeze({
      transport: init.transport,
      localAddress: normalizeAddress(socket.localAddress ?? ''),
      localPort: socket.localPort ?? 0,
      remoteAddress: this.remoteAddress,
      remotePort: this.remotePort,
      connectionId: init.id,
      ...(init.tlsPeer === undefined ? {} : { tlsPeer: init.tlsPeer }),
    });
    this.#framer = new StreamFramer(
      {
        maxHeaderBytes: init.limits.maxStreamHeaderBytes,
        maxMessageBytes: init.limits.maxStreamMessageBytes,
      },
      {
        message: (data) => {
          this.#lastActivity = performance.now();
          this.#partialSince = undefined;
          this.#owner.message(this, data);
        },
        ping: () => {
          // A ping is activity: RFC 5626 clients keep an idle registration alive this way.
          this.#lastActivity = performance.now();
          this.#owner.keepAlive(this);
          this.write(PONG);
        },
        error: (error) => {
          // The owner may answer the message on this connection: what it writes is sent before the close.
          this.#owner.framingError(this, error);
          this.#closeAfterWrites('framing-error');
        },
      },
    );
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (error: Error) => {
      this.#error ??= error;
    });
    socket.on('close', () =>
      this.#finish(this.#closeReason ?? (this.#error ? 'socket-error' : 'remote-closed')),
    );
    this.#handshaking = init.handshaking;
    const now = performance.now();
    this.#lastActivity = now;
    this.#partialSince = init.handshaking ? now : undefined;
    this.#arm(now + (init.handshaking ? init.limits.headerTimeoutMs : init.limits.idleTimeoutMs));
  }

  /** The flow every message of this connection carries (one shared frozen object). */
  get flow(): Flow {
    return this.#flow;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** True until an inbound TLS connection completes its handshake. */
  get handshaking(): boolean {
    return this.#handshaking;
  }

  /** The TLS handshake finished: from now on only messages are timed. */
  handshakeDone(tlsPeer: TlsPeer): void {
    this.#handshaking = false;
    this.#flow = Object.freeze({ ...this.#flow, tlsPeer });
    this.#lastActivity = performance.now();
    if (!this.#framer.partial) this.#partialSince = undefined;
  }

  /** Queues data; fails when the connection is gone or the peer has not read what we sent. */
  write(data: Buffer): SendFailureReason | undefined {
    if (this.#closed || this.#socket.destroyed || this.#socket.writableEnded) return 'connection-closed';
    if (this.#socket.writableLength + data.length > this.#limits.maxWriteBufferBytes) {
      this.close('write-buffer-full');
      return 'write-buffer-full';
    }
    this.#socket.write(data);
    return undefined;
  }

  close(reason: CloseReason): void {
    if (this.#closed) return;
    this.#closeReason ??= reason;
    this.#socket.destroy();
    this.#finish(reason);
  }

  /**
   * Sends what was written, then closes. Bytes still arriving (the rest of a refused
   * message) are read and dropped meanwhile, for at most LINGER_MS: closing with unread
   * input would reset the connection, and a reset can destroy the answer before the peer
   * reads it.
   */
  #closeAfterWrites(reason: CloseReason): void {
    if (this.#closed) return;
    this.#closeReason ??= reason;
    this.#framer.stop();
    this.#socket.end();
    const linger = setTimeout(
      () => this.#socket.destroy(),
      Math.min(LINGER_MS, this.#limits.headerTimeoutMs),
    );
    linger.unref();
    this.#socket.once('close', () => clearTimeout(linger));
  }

  #onData(chunk: Buffer): void {
    if (this.#closed) return;
    this.#framer.push(chunk);
    if (this.#closed) return;
    if (!this.#framer.partial) {
      this.#partialSince = undefined;
    } else if (this.#partialSince === undefined) {
      const now = performance.now();
      this.#partialSince = now;
      this.#arm(now + this.#limits.headerTimeoutMs);
    }
  }

  /** Makes the timer fire no later than `deadline`; never delays an earlier one. */
  #arm(deadline: number): void {
    if (this.#timer !== undefined && this.#deadline <= deadline) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#deadline = deadline;
    this.#timer = setTimeout(() => this.#onTimer(), Math.max(1, Math.ceil(deadline - performance.now())));
    this.#timer.unref();
  }

  #onTimer(): void {
    this.#timer = undefined;
    this.#deadline = Number.POSITIVE_INFINITY;
    if (this.#closed) return;
    const now = performance.now();
    if (this.#partialSince !== undefined && now - this.#partialSince >= this.#limits.headerTimeoutMs) {
      this.close('header-timeout');
      return;
    }
    if (now - this.#lastActivity >= this.#limits.idleTimeoutMs) {
      this.close('idle-timeout');
      return;
    }
    let next = this.#lastActivity + this.#limits.idleTimeoutMs;
    if (this.#partialSince !== undefined)
      next = Math.min(next, this.#partialSince + this.#limits.headerTimeoutMs);
    this.#arm(next);
  }

  #finish(reason: CloseReason): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeReason ??= reason;
    this.#framer.stop();
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#owner.closed(this, this.#closeReason, this.#error);
  }
}

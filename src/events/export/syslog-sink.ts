/**
 * Security events to a syslog collector or SIEM: RFC 5424 messages carrying CEF (or the
 * event as JSON) over UDP (RFC 5426, one message per datagram), TCP (RFC 6587 octet
 * counting) or TLS (RFC 5425). The sink never blocks the bus: messages wait in a bounded
 * queue while a stream connects or drains; past the bound, and while the collector is
 * unreachable past it, they are dropped and counted. A lost stream reconnects with backoff.
 */
import { createSocket, type Socket as DatagramSocket } from 'node:dgram';
import { isIP, type Socket, connect as tcpConnect } from 'node:net';
import { hostname } from 'node:os';
import { connect as tlsConnect } from 'node:tls';
import type { Logger } from '../../log/logger.ts';
import type { EventAction, EventSink, SecurityEvent } from '../types.ts';
import { formatCef } from './cef.ts';

export interface SyslogSinkOptions {
  readonly host: string;
  readonly port: number;
  readonly transport: 'udp' | 'tcp' | 'tls';
  /** `cef` (default) or `json`: what the MSG part carries. */
  readonly format: 'cef' | 'json';
  /** Syslog facility number (RFC 5424 6.2.1); 16 is local0. */
  readonly facility: number;
  readonly appName: string;
  /** Messages held while the collector is not reachable or a stream is full. */
  readonly maxQueued: number;
  /** For TLS: CA certificates (PEM) to trust instead of the system's, and whether to verify. */
  readonly ca?: string | Buffer;
  readonly rejectUnauthorized?: boolean;
  /** The version in the CEF header. */
  readonly version: string;
  readonly log: Logger;
}

export interface ExportStats {
  /** Events handed to the transport. */
  sent: number;
  /** Events dropped: the queue was full or the collector could not be reached. */
  dropped: number;
}

/** RFC 5424 severities: warning for refused traffic, notice for alerts, informational else. */
function syslogSeverity(action: EventAction): number {
  if (action === 'block' || action === 'reject' || action === 'drop' || action === 'tarpit') return 4;
  if (action === 'alert') return 5;
  return 6;
}

/** RFC 5426 3.2: 480 bytes must, 2048 should be accepted; longer messages are cut. */
const MAX_DATAGRAM = 2048;
/** Streams carry longer messages; nothing an event holds comes near it. */
const MAX_STREAM_MESSAGE = 16 * 1024;
const RECONNECT_MIN_MS = 500;
const RECONNECT_MAX_MS = 30_000;

/** PRINTUSASCII without spaces (RFC 5424 6.2.4-6.2.6), cut to the field's length. */
function field(text: string, max: number): string {
  const cleaned = text.replace(/[^\x21-\x7e]/g, '');
  return cleaned.length === 0 ? '-' : cleaned.slice(0, max);
}

export class SyslogSink implements EventSink {
  readonly stats: ExportStats = { sent: 0, dropped: 0 };
  readonly #options: SyslogSinkOptions;
  readonly #host = field(hostname(), 255);
  readonly #queue: Buffer[] = [];
  #datagram: DatagramSocket | undefined;
  #stream: Socket | undefined;
  #connected = false;
  #writable = true;
  #backoffMs = RECONNECT_MIN_MS;
  #reconnect: NodeJS.Timeout | undefined;
  #closed = false;
  /** Datagrams handed to the socket and not yet sent: close() lets them go first. */
  #inFlight = 0;
  #sent: (() => void) | undefined;

  constructor(options: SyslogSinkOptions) {
    this.#options = options;
    if (options.transport === 'udp') {
      this.#datagram = createSocket(isIP(options.host) === 6 ? 'udp6' : 'udp4');
      // A collector that is down answers with ICMP: the socket reports it; the next datagram goes anyway.
      this.#datagram.on('error', (error) => options.log.debug({ err: error }, 'syslog datagram failed'));
      this.#datagram.unref();
    } else {
      this.#open();
    }
  }

  /** One RFC 5424 message for an event (without the stream framing). */
  format(event: SecurityEvent): string {
    const o = this.#options;
    const pri = o.facility * 8 + syslogSeverity(event.action);
    const timestamp = new Date(event.lastSeen).toISOString();
    const message = o.format === 'cef' ? formatCef(event, o.version) : JSON.stringify(event);
    return `<${pri}>1 ${timestamp} ${this.#host} ${field(o.appName, 48)} ${process.pid} ${field(event.type, 32)} - ${message}`;
  }

  write(events: readonly SecurityEvent[]): void {
    if (this.#closed) return;
    for (const event of events) {
      const text = Buffer.from(this.format(event), 'utf8');
      if (this.#datagram !== undefined) {
        this.#inFlight++;
        this.#datagram.send(text.subarray(0, MAX_DATAGRAM), this.#options.port, this.#options.host, () => {
          this.#inFlight--;
          if (this.#inFlight === 0) this.#sent?.();
        });
        this.stats.sent++;
        continue;
      }
      const body = text.subarray(0, MAX_STREAM_MESSAGE);
      this.#enqueue(Buffer.concat([Buffer.from(`${body.length} `), body]));
    }
    this.#pump();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#reconnect);
    if (this.#datagram !== undefined) {
      if (this.#inFlight > 0) {
        await new Promise<void>((resolve) => {
          this.#sent = resolve;
          setTimeout(resolve, 1000).unref();
        });
      }
      this.#datagram.close();
    }
    const stream = this.#stream;
    if (stream === undefined) return;
    // What is queued goes out if the stream takes it now; the process is ending.
    this.#pump();
    await new Promise<void>((resolve) => {
      stream.end(() => resolve());
      setTimeout(resolve, 1000).unref();
    });
    stream.destroy();
  }

  #enqueue(message: Buffer): void {
    if (this.#queue.length >= this.#options.maxQueued) {
      this.stats.dropped++;
      return;
    }
    this.#queue.push(message);
  }

  #pump(): void {
    const stream = this.#stream;
    if (stream === undefined || !this.#connected) return;
    while (this.#writable && this.#queue.length > 0) {
      const message = this.#queue.shift()!;
      this.stats.sent++;
      this.#writable = stream.write(message);
    }
  }

  #open(): void {
    const o = this.#options;
    const onConnect = () => {
      this.#connected = true;
      this.#writable = true;
      this.#backoffMs = RECONNECT_MIN_MS;
      this.#pump();
    };
    const stream =
      o.transport === 'tls'
        ? tlsConnect({
            host: o.host,
            port: o.port,
            ...(isIP(o.host) === 0 ? { servername: o.host } : {}),
            ...(o.ca === undefined ? {} : { ca: o.ca }),
            rejectUnauthorized: o.rejectUnauthorized ?? true,
          }).once('secureConnect', onConnect)
        : tcpConnect({ host: o.host, port: o.port }).once('connect', onConnect);
    stream.setNoDelay(true);
    stream.unref();
    stream.on('drain', () => {
      this.#writable = true;
      this.#pump();
    });
    // The collector sends nothing; whatever it does send is read and thrown away.
    stream.on('data', () => {});
    stream.on('error', (error) =>
      o.log.warn({ err: error, host: o.host, port: o.port }, 'syslog connection failed'),
    );
    stream.on('close', () => {
      this.#connected = false;
      if (this.#stream === stream) this.#stream = undefined;
      if (this.#closed) return;
      this.#reconnect = setTimeout(() => this.#open(), this.#backoffMs);
      this.#reconnect.unref();
      this.#backoffMs = Math.min(RECONNECT_MAX_MS, this.#backoffMs * 2);
    });
    this.#stream = stream;
  }
}

/**
 * Signalling capture to a Homer server (`events.hep`), as VoIP operators know it from
 * Kamailio's siptrace: every SIP message sipwarden receives or sends, on either side, as a
 * HEP v3 packet over UDP, and every security decision reported by the event bus as a HEP
 * log packet (JSON) correlated by Call-ID when it has one.
 *
 * Off the hot path and bounded: a message is selected (source filter, sampling by Call-ID so
 * a dialog is captured whole or not at all), encoded and handed to the socket; at most
 * `maxInFlight` packets wait in the socket at once, the rest are dropped and counted. A send
 * error is counted, never thrown: capture never holds up or breaks SIP.
 */
import { createHash } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import type { Logger } from '../../log/logger.ts';
import { AddressSet } from '../../state/cidr.ts';
import type { EventSink, SecurityEvent } from '../types.ts';
import { encodeHep, HEP_PROTOCOL_LOG, HEP_PROTOCOL_SIP } from './hep-encoder.ts';

export interface HepSettings {
  /** The capture server: an IP address (a name would cost a lookup per packet). */
  readonly host: string;
  readonly port: number;
  readonly captureId: number;
  /** HEP's authentication key chunk, when the server asks for one. */
  readonly password?: string | undefined;
  /** The share of dialogs captured, 0..1, chosen by Call-ID. */
  readonly sampleRate: number;
  /** Capture only messages from or to these addresses or networks; all when empty. */
  readonly sources: readonly string[];
  /** The security decisions as HEP log packets too. */
  readonly decisions: boolean;
  readonly maxInFlight: number;
}

/** One SIP message as it crossed sipwarden: `from` sent it, `to` received it. */
export interface CapturedMessage {
  readonly transport: 'udp' | 'tcp' | 'tls';
  readonly from: { readonly address: string; readonly port: number };
  readonly to: { readonly address: string; readonly port: number };
  /** The remote party's address: what the source filter matches. */
  readonly remoteAddress: string;
  readonly data: Buffer;
}

export interface HepStats {
  readonly sent: number;
  /** Not selected: filtered out or not sampled. */
  readonly skipped: number;
  /** Dropped: too many in flight, or not encodable. */
  readonly dropped: number;
  readonly sendErrors: number;
}

/** Call-ID (or its compact form `i`) in the headers: bounded to the first 8 KiB. */
const HEADER_SCAN_BYTES = 8192;

export class HepCapture implements EventSink {
  readonly #settings: HepSettings;
  readonly #socket: Socket;
  readonly #log: Logger;
  readonly #clock: () => number;
  readonly #sources: AddressSet | undefined;
  readonly #sampleAll: boolean;
  #inFlight = 0;
  #closed = false;
  #sent = 0;
  #skipped = 0;
  #dropped = 0;
  #sendErrors = 0;

  /** Throws an Error naming `events.hep.sources` or `events.hep.host` when they are wrong. */
  constructor(settings: HepSettings, log: Logger, clock: () => number = Date.now) {
    const family = isIP(settings.host);
    if (family === 0) throw new Error(`events.hep.host: ${settings.host} must be an IP address`);
    this.#settings = settings;
    this.#log = log;
    this.#clock = clock;
    this.#sources =
      settings.sources.length === 0 ? undefined : new AddressSet(settings.sources, 'events.hep.sources');
    this.#sampleAll = settings.sampleRate >= 1;
    this.#socket = createSocket(family === 6 ? 'udp6' : 'udp4');
    this.#socket.on('error', (error) => {
      this.#sendErrors += 1;
      this.#log.warn({ err: error }, 'hep: capture socket error');
    });
    // Never keeps the process alive on its own.
    this.#socket.unref();
  }

  /** A SIP message received or sent: captured when selected. Never throws. */
  message(message: CapturedMessage): void {
    if (this.#closed) return;
    if (this.#sources !== undefined && !this.#sources.has(plain(message.remoteAddress))) {
      this.#skipped += 1;
      return;
    }
    const callId = callIdOf(message.data);
    if (!this.#sampleAll && !sampled(callId ?? '', this.#settings.sampleRate)) {
      this.#skipped += 1;
      return;
    }
    this.#send(
      encodeHep({
        sourceAddress: message.from.address,
        sourcePort: message.from.port,
        destinationAddress: message.to.address,
        destinationPort: message.to.port,
        transport: message.transport,
        at: this.#clock(),
        protocolType: HEP_PROTOCOL_SIP,
        captureId: this.#settings.captureId,
        payload: message.data,
        ...(callId === undefined ? {} : { correlationId: callId }),
        ...(this.#settings.password === undefined ? {} : { authKey: this.#settings.password }),
      }),
    );
  }

  /** EventSink: the security decisions, each as a HEP log packet (JSON). */
  write(events: readonly SecurityEvent[]): void {
    if (this.#closed || !this.#settings.decisions) return;
    for (const event of events) {
      const source = event.source;
      if (
        this.#sources !== undefined &&
        (source === undefined || !this.#sources.has(plain(source.address)))
      ) {
        this.#skipped += 1;
        continue;
      }
      const callId = typeof event.details?.callId === 'string' ? event.details.callId : undefined;
      const address = source === undefined ? '0.0.0.0' : plain(source.address);
      const v6 = isIP(address) === 6;
      this.#send(
        encodeHep({
          sourceAddress: address,
          sourcePort: source?.port ?? 0,
          destinationAddress: v6 ? '::' : '0.0.0.0',
          destinationPort: 0,
          transport: source?.transport === 'tcp' || source?.transport === 'tls' ? source.transport : 'udp',
          at: event.lastSeen,
          protocolType: HEP_PROTOCOL_LOG,
          captureId: this.#settings.captureId,
          payload: Buffer.from(JSON.stringify(decisionOf(event)), 'utf8'),
          ...(callId === undefined ? {} : { correlationId: callId }),
          ...(this.#settings.password === undefined ? {} : { authKey: this.#settings.password }),
        }),
      );
    }
  }

  stats(): HepStats {
    return { sent: this.#sent, skipped: this.#skipped, dropped: this.#dropped, sendErrors: this.#sendErrors };
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    return new Promise((resolve) => {
      try {
        this.#socket.close(() => resolve());
      } catch {
        resolve();
      }
    });
  }

  #send(packet: Buffer | undefined): void {
    if (packet === undefined || this.#inFlight >= this.#settings.maxInFlight) {
      this.#dropped += 1;
      return;
    }
    this.#inFlight += 1;
    try {
      this.#socket.send(packet, this.#settings.port, this.#settings.host, (error) => {
        this.#inFlight -= 1;
        if (error) this.#sendErrors += 1;
        else this.#sent += 1;
      });
    } catch (error) {
      this.#inFlight -= 1;
      this.#sendErrors += 1;
      this.#log.warn({ err: error }, 'hep: cannot send');
    }
  }
}

/** The Call-ID header's value, from the header part of the message; undefined without one. */
export function callIdOf(data: Buffer): string | undefined {
  const end = Math.min(data.length, HEADER_SCAN_BYTES);
  const text = data.toString('latin1', 0, end);
  const headersEnd = text.indexOf('\r\n\r\n');
  const headers = headersEnd === -1 ? text : text.slice(0, headersEnd);
  const match = /\r\n(?:call-id|i)[ \t]*:[ \t]*([^\r\n]{1,256})/i.exec(headers);
  return match?.[1]?.trim() || undefined;
}

/** A stable choice per Call-ID: the same dialog is always in, or always out. */
function sampled(callId: string, rate: number): boolean {
  if (rate <= 0) return false;
  const value = createHash('sha1').update(callId).digest().readUInt32BE(0);
  return value / 0x1_0000_0000 < rate;
}

function plain(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

function decisionOf(event: SecurityEvent): Record<string, unknown> {
  return {
    type: event.type,
    stage: event.stage,
    ...(event.rule === undefined ? {} : { rule: event.rule }),
    action: event.action,
    ...(event.key === undefined ? {} : { key: event.key }),
    reason: event.reason,
    ...(event.status === undefined ? {} : { status: event.status }),
    count: event.count,
    firstSeen: event.firstSeen,
    lastSeen: event.lastSeen,
    ...(event.source === undefined ? {} : { source: event.source }),
  };
}

/**
 * Prometheus metrics of one gateway, on a registry of its own (never prom-client's global
 * one), so that several gateways, and tests, can run in one process.
 *
 * The counters the hot path bumps (`message`, `event`) are plain numbers in small nested
 * maps, copied into prom-client at scrape time: a prom-client child still hashes and checks
 * its labels on every `inc` (about 300 ns), a map cell costs a few. Gauges (and the transport
 * counters the transport layer keeps itself) are read when scraped, from providers that
 * the gateway registers; a provider must be cheap, it runs on every scrape.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { EventAction, EventType } from '../events/types.ts';
import type { TransportStats } from '../transport/types.ts';

/** What the gateway reports at scrape time; any field may be left out. */
export interface GatewayReadings {
  readonly transactions?: number;
  readonly dialogs?: number;
  readonly blocks?: number;
  readonly transport?: TransportStats;
  readonly activity?: { readonly keys: number; readonly approxBytes: number };
  /** Event aggregates open on the bus. */
  readonly eventAggregates?: number;
  /** Event occurrences counted into an overflow aggregate since start. */
  readonly eventsOverflowed?: number;
  /** Failed event store writes since start. */
  readonly eventStoreWriteErrors?: number;
  /** Failed writes of call detail records since start. */
  readonly cdrStoreWriteErrors?: number;
  /** Events handed to syslog and webhooks, and dropped on the way (queue full, receiver down). */
  readonly eventsExported?: number;
  readonly eventsExportDropped?: number;
  /** HEP capture (events.hep): packets sent, and dropped (too many in flight, too large, send errors). */
  readonly hepSent?: number;
  readonly hepDropped?: number;
  /** Audit entries not written (disk failure, or beyond the rate bound). */
  readonly auditNotWritten?: number;
  /** The RTP relay (media.relay): streams, ports bound, packets forwarded and dropped since start. */
  readonly media?: {
    readonly streams: number;
    readonly openPorts: number;
    readonly forwarded: number;
    readonly forwardedBytes: number;
    readonly injection: number;
    readonly payloadType: number;
    readonly mediaType: number;
    readonly flood: number;
    readonly srtpAuthentication: number;
    readonly srtpReplay: number;
    readonly srtpUnprotected: number;
    readonly srtpProtected: number;
  };
}

export type ReadingsProvider = () => GatewayReadings;

export interface MetricsOptions {
  /** Node's process metrics (CPU, memory, event loop lag, GC): on by default. */
  readonly processMetrics?: boolean;
}

/** 50 µs to 100 ms: a message's processing time, from a table lookup to a slow stage. */
export const PROCESSING_BUCKETS = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
] as const;

/** The media relay's counters: field, metric name, help. */
const MEDIA_COUNTERS = [
  ['forwarded', 'sipwarden_media_packets_forwarded_total', 'RTP and RTCP packets relayed'],
  ['forwardedBytes', 'sipwarden_media_bytes_forwarded_total', 'RTP and RTCP bytes relayed'],
  ['injection', 'sipwarden_media_injection_dropped_total', 'packets dropped: not from the latched party'],
  ['payloadType', 'sipwarden_media_payload_type_dropped_total', 'packets dropped: payload type unlisted'],
  ['mediaType', 'sipwarden_media_media_type_dropped_total', 'packets dropped: media type not negotiated'],
  ['flood', 'sipwarden_media_flood_dropped_total', 'packets dropped: above the rate the codecs allow'],
  [
    'srtpAuthentication',
    'sipwarden_media_srtp_authentication_dropped_total',
    'SRTP/SRTCP packets dropped: authentication tag did not verify',
  ],
  ['srtpReplay', 'sipwarden_media_srtp_replay_dropped_total', 'SRTP/SRTCP packets dropped: replayed'],
  [
    'srtpUnprotected',
    'sipwarden_media_srtp_decrypted_total',
    'SRTP/SRTCP packets authenticated and decrypted',
  ],
  [
    'srtpProtected',
    'sipwarden_media_srtp_encrypted_total',
    'packets encrypted to SRTP/SRTCP towards a party',
  ],
] as const;

/** The transport layer's own counters, declared once: field, metric name, help. */
const TRANSPORT_COUNTERS = [
  ['udpDatagramsIn', 'sipwarden_transport_udp_datagrams_total', 'UDP datagrams received'],
  ['streamMessagesIn', 'sipwarden_transport_stream_messages_total', 'messages received over TCP or TLS'],
  ['keepAlivesIn', 'sipwarden_transport_keepalives_total', 'CRLF keep-alives received'],
  ['sendFailures', 'sipwarden_transport_send_failures_total', 'messages that could not be sent'],
  ['framingErrors', 'sipwarden_transport_framing_errors_total', 'stream framing errors'],
  ['rejectedConnections', 'sipwarden_transport_rejected_connections_total', 'connections refused by limits'],
  ['inboundConnectionsAccepted', 'sipwarden_transport_connections_accepted_total', 'connections accepted'],
  ['outboundConnectionsOpened', 'sipwarden_transport_connections_opened_total', 'connections opened'],
  ['idleTimeouts', 'sipwarden_transport_idle_timeouts_total', 'connections closed when idle'],
  ['headerTimeouts', 'sipwarden_transport_header_timeouts_total', 'connections cut for a slow message'],
  [
    'slowReaderDisconnects',
    'sipwarden_transport_slow_reader_disconnects_total',
    'connections cut because the peer did not read',
  ],
  ['tlsHandshakeFailures', 'sipwarden_transport_tls_handshake_failures_total', 'failed TLS handshakes'],
  ['undeliveredMessages', 'sipwarden_transport_undelivered_messages_total', 'messages no handler took'],
] as const satisfies readonly (readonly [keyof TransportStats, string, string])[];

/** Label children at most per family: stage names come from the config, but stay bounded. */
const MAX_CHILDREN = 1024;

/** One label combination's count. */
interface Cell {
  value: number;
}

/** Counts by two label values, bounded: past MAX_CHILDREN the first label becomes `other`. */
class LabelledCounts {
  readonly #table = new Map<string, Map<string, Cell>>();
  #cells = 0;

  inc(first: string, second: string): void {
    let inner = this.#table.get(first);
    const cell = inner?.get(second);
    if (cell !== undefined) {
      cell.value++;
      return;
    }
    if (this.#cells >= MAX_CHILDREN && first !== 'other') {
      this.inc('other', second);
      return;
    }
    if (inner === undefined) {
      inner = new Map();
      this.#table.set(first, inner);
    }
    inner.set(second, { value: 1 });
    this.#cells++;
  }

  *entries(): Iterable<readonly [string, string, number]> {
    for (const [first, inner] of this.#table) {
      for (const [second, cell] of inner) yield [first, second, cell.value];
    }
  }
}

export class Metrics {
  readonly registry = new Registry();
  readonly #messages = new LabelledCounts();
  readonly #events = new LabelledCounts();
  readonly #processing: Histogram;
  readonly #providers = new Map<string, ReadingsProvider>();
  /** Readings taken once per scrape by text(); read afresh when the registry is used directly. */
  #snapshot: GatewayReadings | undefined;

  constructor(options: MetricsOptions = {}) {
    const registers = [this.registry];
    const messages = this.#messages;
    new Counter({
      name: 'sipwarden_messages_total',
      help: 'SIP messages by pipeline stage and verdict',
      labelNames: ['stage', 'verdict'] as const,
      registers,
      collect() {
        this.reset();
        for (const [stage, verdict, value] of messages.entries()) this.inc({ stage, verdict }, value);
      },
    });
    const events = this.#events;
    new Counter({
      name: 'sipwarden_events_total',
      help: 'security event occurrences by type and action',
      labelNames: ['type', 'action'] as const,
      registers,
      collect() {
        this.reset();
        for (const [type, action, value] of events.entries()) this.inc({ type, action }, value);
      },
    });
    this.#processing = new Histogram({
      name: 'sipwarden_processing_seconds',
      help: 'time to process one SIP message',
      buckets: [...PROCESSING_BUCKETS],
      registers,
    });
    const reading = (read: (r: GatewayReadings) => number | undefined) => () => read(this.#readings()) ?? 0;
    this.#gauge(
      'sipwarden_blocks_active',
      'blocks in force',
      reading((r) => r.blocks),
    );
    this.#gauge(
      'sipwarden_transactions',
      'SIP transactions in progress',
      reading((r) => r.transactions),
    );
    this.#gauge(
      'sipwarden_dialogs',
      'SIP dialogs tracked',
      reading((r) => r.dialogs),
    );
    this.#gauge(
      'sipwarden_activity_keys',
      'keys in the activity store',
      reading((r) => r.activity?.keys),
    );
    this.#gauge(
      'sipwarden_activity_bytes',
      'estimated bytes held by the activity store',
      reading((r) => r.activity?.approxBytes),
    );
    this.#gauge(
      'sipwarden_transport_connections',
      'TCP and TLS connections open',
      reading((r) => r.transport?.connections),
    );
    this.#gauge(
      'sipwarden_event_aggregates_open',
      'event aggregates open on the event bus',
      reading((r) => r.eventAggregates),
    );
    for (const [field, name, help] of TRANSPORT_COUNTERS) {
      this.#readCounter(
        name,
        help,
        reading((r) => r.transport?.[field]),
      );
    }
    this.#readCounter(
      'sipwarden_events_overflowed_total',
      'event occurrences counted together because the event table was full',
      reading((r) => r.eventsOverflowed),
    );
    this.#readCounter(
      'sipwarden_event_store_write_errors_total',
      'failed writes to the event store',
      reading((r) => r.eventStoreWriteErrors),
    );
    this.#readCounter(
      'sipwarden_cdr_store_write_errors_total',
      'failed writes of call detail records',
      reading((r) => r.cdrStoreWriteErrors),
    );
    this.#readCounter(
      'sipwarden_events_exported_total',
      'events handed to syslog and webhooks',
      reading((r) => r.eventsExported),
    );
    this.#readCounter(
      'sipwarden_events_export_dropped_total',
      'events not exported: a queue was full or the receiver could not be reached',
      reading((r) => r.eventsExportDropped),
    );
    this.#readCounter(
      'sipwarden_hep_sent_total',
      'HEP packets sent to the capture server',
      reading((r) => r.hepSent),
    );
    this.#readCounter(
      'sipwarden_hep_dropped_total',
      'HEP packets not sent: too many in flight, too large, or a send error',
      reading((r) => r.hepDropped),
    );
    this.#readCounter(
      'sipwarden_audit_not_written_total',
      'audit entries not written: a write failed, or more than the per-second bound',
      reading((r) => r.auditNotWritten),
    );
    this.#gauge(
      'sipwarden_media_streams',
      'media streams relayed',
      reading((r) => r.media?.streams),
    );
    this.#gauge(
      'sipwarden_media_ports_open',
      'relay ports bound',
      reading((r) => r.media?.openPorts),
    );
    for (const [field, name, help] of MEDIA_COUNTERS) {
      this.#readCounter(
        name,
        help,
        reading((r) => r.media?.[field]),
      );
    }
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** One message's verdict from one stage (`pass`, `reject`, `drop`...). Hot path. */
  message(stage: string, verdict: string): void {
    this.#messages.inc(stage, verdict);
  }

  /** Messages by verdict summed over the stages (`drop`, `reject`...), for the console's rates. */
  verdictTotals(): Map<string, number> {
    const totals = new Map<string, number>();
    for (const [, verdict, value] of this.#messages.entries()) {
      totals.set(verdict, (totals.get(verdict) ?? 0) + value);
    }
    return totals;
  }

  /** One event occurrence. Hot path (the event bus calls it on every emit). */
  event(type: EventType, action: EventAction): void {
    this.#events.inc(type, action);
  }

  /** One message's processing time, in seconds. */
  processing(seconds: number): void {
    this.#processing.observe(seconds);
  }

  /** Registers (or replaces) the provider of gauge readings under `name`. */
  setProvider(provider: ReadingsProvider, name = 'gateway'): void {
    this.#providers.set(name, provider);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The Prometheus text exposition; providers are read once for it. */
  async text(): Promise<string> {
    this.#snapshot = this.#readAll();
    try {
      return await this.registry.metrics();
    } finally {
      this.#snapshot = undefined;
    }
  }

  #readings(): GatewayReadings {
    return this.#snapshot ?? this.#readAll();
  }

  #readAll(): GatewayReadings {
    if (this.#providers.size === 1) return this.#providers.values().next().value!();
    const merged: Record<string, unknown> = {};
    for (const provider of this.#providers.values()) Object.assign(merged, provider());
    return merged as GatewayReadings;
  }

  #gauge(name: string, help: string, read: () => number): void {
    new Gauge({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.set(read());
      },
    });
  }

  /** A counter kept elsewhere (the transport's own): its value is read at scrape time. */
  #readCounter(name: string, help: string, read: () => number): void {
    new Counter({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(Math.max(0, read()));
      },
    });
  }
}

export function createMetrics(options: MetricsOptions = {}): Metrics {
  return new Metrics(options);
}

import type { SipRequest, SipResponse } from '../../../sip/message.ts';
import type { Flow, SendTarget, TransportName } from '../../../transport/types.ts';
import type { AdvertisedAddress } from '../local-identity.ts';
import { type NatBinding, type NatFlow, NatFlowTable } from './flow-table.ts';
import { NatKeepalive } from './keepalive.ts';
import { addressOfRecord, answeredContacts } from './register-answer.ts';
import { Unregistration } from './unregister.ts';

export interface NatSettings {
  /** Registered flows held at most. */
  readonly maxFlows: number;
  readonly maxBindingsPerFlow: number;
  /** OPTIONS keepalives to UDP flows; absent: none sent. */
  readonly keepalive?: { readonly intervalMs: number; readonly maxMisses: number };
  /** A dead flow's bindings are removed at the registrar (REGISTER, Expires: 0). */
  readonly unregister: boolean;
  /** How often the table is walked (keepalives due, expiry); 1 s by default. */
  readonly tickMs?: number;
}

export interface NatHost {
  send(target: SendTarget, data: Buffer): void;
  ownAddress(toUpstream: boolean, transport: TransportName): AdvertisedAddress;
  /** The Path sipwarden writes into REGISTERs that come over `flow`. */
  pathFor(flow: Flow): string;
}

/** What the NAT layer reports: a gateway turns these into events, logs and metrics. */
export type NatChange =
  | {
      readonly kind: 'flow-dead';
      readonly target: SendTarget;
      readonly cause: 'closed' | 'keepalive';
      readonly bindings: number;
    }
  | { readonly kind: 'flow-failed'; readonly target: SendTarget; readonly method: string }
  | {
      readonly kind: 'unregistered';
      readonly aor: string;
      readonly contact: string;
      /** The registrar's final status; 0 when it never answered. */
      readonly status: number;
    };

export interface NatStats {
  flowsDead: number;
  /** Requests from the upstream answered 430 (or, ACKs, dropped) because their flow is dead. */
  flowFailed: number;
  unregistersSent: number;
  unregistersAccepted: number;
  unregistersRefused: number;
}

/**
 * NAT traversal for phones behind NAT, beside the routing that already sends the PBX's
 * requests back over the flow a phone registered on (flow tokens in Path and Record-Route):
 * the flows registered through sipwarden are kept (flow-table.ts), UDP ones are kept open by
 * OPTIONS keepalives (keepalive.ts), and a flow that dies (its connection closed, or its
 * keepalives unanswered) is reported: requests for it are answered 430 Flow Failed (RFC 5626
 * section 5.3) at once, and, when configured, its bindings are removed at the registrar
 * (unregister.ts). Stream flows are kept open by the phones' own CRLF pings, which the
 * transport answers.
 */
export class NatTraversal {
  readonly #settings: NatSettings;
  readonly #host: NatHost;
  readonly #table: NatFlowTable;
  readonly #keepalive: NatKeepalive | undefined;
  readonly #unregister: Unregistration;
  readonly #listeners: ((change: NatChange) => void)[] = [];
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  readonly stats: NatStats = {
    flowsDead: 0,
    flowFailed: 0,
    unregistersSent: 0,
    unregistersAccepted: 0,
    unregistersRefused: 0,
  };

  constructor(settings: NatSettings, host: NatHost, now: () => number = () => performance.now()) {
    this.#settings = settings;
    this.#host = host;
    this.#now = now;
    this.#table = new NatFlowTable(settings);
    this.#keepalive =
      settings.keepalive === undefined
        ? undefined
        : new NatKeepalive(this.#table, settings.keepalive, {
            send: (target, data) => host.send(target, data),
            ownAddress: () => host.ownAddress(false, 'udp'),
            dead: (flow) => this.#dead(flow, 'keepalive'),
          });
    this.#unregister = new Unregistration({
      send: (target, data) => host.send(target, data),
      ownAddress: (transport) => host.ownAddress(true, transport),
      answered: (binding, status) => this.#unregistered(binding, status),
    });
  }

  get table(): NatFlowTable {
    return this.#table;
  }

  get keepalive(): NatKeepalive | undefined {
    return this.#keepalive;
  }

  onChange(listener: (change: NatChange) => void): void {
    this.#listeners.push(listener);
  }

  start(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => this.tick(this.#now()), this.#settings.tickMs ?? 1000);
    this.#timer.unref();
  }

  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#keepalive?.close();
    this.#unregister.close();
  }

  /** Keepalives due, misses counted, expired bindings gone. */
  tick(now: number): void {
    this.#table.expire(now);
    this.#keepalive?.sweep();
    this.#keepalive?.tick(now);
  }

  /**
   * A 2xx to a REGISTER from a client, on its way back to the phone: the flow it came over
   * holds the bindings the registrar listed (and loses those it no longer lists).
   */
  registerAnswered(request: SipRequest, response: SipResponse, flow: Flow, upstream: SendTarget): void {
    const now = this.#now();
    const target: SendTarget = {
      transport: flow.transport,
      address: flow.remoteAddress,
      port: flow.remotePort,
      ...(flow.connectionId === undefined ? {} : { connectionId: flow.connectionId }),
    };
    this.#table.registered(
      target,
      {
        aor: addressOfRecord(request),
        aorUri: request.to.uriText,
        registrar: request.uriText,
        upstream,
        path: this.#host.pathFor(flow),
        contacts: answeredContacts(request, response),
      },
      now,
      this.#keepalive?.firstPingAt(now) ?? Number.POSITIVE_INFINITY,
    );
  }

  /** Answers to our keepalives and unregistrations: true when the response was one. */
  onResponse(response: SipResponse, flow: Flow): boolean {
    if (this.#keepalive?.onResponse(response, flow) === true) return true;
    return this.#unregister.onResponse(response, flow);
  }

  /** A stream connection closed: a flow registered over it is dead. */
  connectionClosed(flow: Flow): void {
    if (flow.connectionId === undefined) return;
    const found = this.#table.get({
      transport: flow.transport,
      address: flow.remoteAddress,
      port: flow.remotePort,
      connectionId: flow.connectionId,
    });
    if (found !== undefined && !found.dead) this.#dead(found, 'closed');
  }

  /**
   * Whether a request from the upstream for `target` must fail at once: its flow is known
   * dead. Counted and reported when it is.
   */
  /** Whether the flow a message came over is held as dead (no answer counted, no event). */
  isDead(flow: Flow): boolean {
    const target: SendTarget = {
      transport: flow.transport,
      address: flow.remoteAddress,
      port: flow.remotePort,
      ...(flow.connectionId === undefined ? {} : { connectionId: flow.connectionId }),
    };
    return this.#table.get(target)?.dead === true;
  }

  failed(target: SendTarget, method: string): boolean {
    const flow = this.#table.get(target);
    if (flow === undefined || !flow.dead) return false;
    this.stats.flowFailed++;
    this.#emit({ kind: 'flow-failed', target, method });
    return true;
  }

  #dead(flow: NatFlow, cause: 'closed' | 'keepalive'): void {
    this.#keepalive?.forget(flow);
    this.#table.markDead(flow, cause);
    this.stats.flowsDead++;
    this.#emit({ kind: 'flow-dead', target: flow.target, cause, bindings: flow.bindings.size });
    if (!this.#settings.unregister) return;
    for (const binding of flow.bindings.values()) {
      if (this.#unregister.unregister(binding, flow.path)) this.stats.unregistersSent++;
    }
  }

  #unregistered(binding: NatBinding, status: number): void {
    if (status >= 200 && status < 300) this.stats.unregistersAccepted++;
    else this.stats.unregistersRefused++;
    this.#emit({ kind: 'unregistered', aor: binding.aor, contact: binding.contact, status });
  }

  #emit(change: NatChange): void {
    for (const listener of this.#listeners) listener(change);
  }
}

import type { Logger } from '../../log/logger.ts';
import type { HiddenVias } from '../../sip/hidden-vias.ts';
import type { SipRequest, SipResponse } from '../../sip/message.ts';
import { retryAfterSeconds } from '../../sip/retry-after.ts';
import type { Flow, SendTarget } from '../../transport/types.ts';
import type { Direction } from '../inspector.ts';
import { DEFAULT_TRYING_DELAY_MS, sixtyFourT1, type TimerSettings } from './timers.ts';

/**
 * One proxied request: the server transaction facing whoever sent it and the client
 * transaction facing the single target it was forwarded to (RFC 3261 sections 16 and 17).
 * sipwarden never forks, so a response context holds exactly one client transaction and
 * the two are kept in one object.
 */

export type ServerState = 'proceeding' | 'completed' | 'confirmed' | 'accepted' | 'terminated';
export type ClientState = 'calling' | 'proceeding' | 'completed' | 'accepted' | 'terminated';

/** What a transaction needs from the proxy that owns it. */
export interface TransactionHost {
  readonly timers: TimerSettings;
  readonly log: Logger;
  send(target: SendTarget, data: Buffer): void;
  /** Serialised response to the received request (timeouts: 408). */
  respond(request: SipRequest, status: number, reason: string): Buffer;
  /** Serialised CANCEL for the forwarded INVITE (RFC 3261 section 9.1). */
  buildCancel(forwarded: SipRequest): Buffer;
  /** Serialised ACK for a non-2xx final response (RFC 3261 section 17.1.1.3). */
  buildAck(forwarded: SipRequest, response: SipResponse): Buffer;
  // --- Failover to further upstreams (src/core/route/upstreams); absent with one upstream. ---
  /** A new request with alternatives fails over when its target sent nothing at all for this long. */
  readonly failoverAfterMs?: number;
  /** The request made ready for `next` on a new branch (and the transaction re-keyed to it). */
  retarget?(
    transaction: ProxyTransaction,
    forwarded: SipRequest,
    next: SendTarget,
  ): { forwarded: SipRequest; bytes: Buffer; clientKey: string } | undefined;
  /** A target failed a new request: silence, or a 503 (with its Retry-After seconds). */
  targetFailed?(target: SendTarget, cause: 'timeout' | 'unavailable', retryAfterS?: number): void;
  // --- end failover ---
  /** The transaction got its final status (from the target, or 408 on timeout). */
  completed(transaction: ProxyTransaction, request: SipRequest, status: number): void;
  /**
   * Its final response went through; it stays only to absorb retransmissions for `ms`
   * (Timers D, I, J, K, L, M), then the host ends it with `expire()`.
   */
  linger(transaction: ProxyTransaction, ms: number): void;
  terminated(transaction: ProxyTransaction): void;
}

export function flowTarget(flow: Flow): SendTarget {
  return {
    transport: flow.transport,
    address: flow.remoteAddress,
    port: flow.remotePort,
    ...(flow.connectionId === undefined ? {} : { connectionId: flow.connectionId }),
  };
}

export class ProxyTransaction {
  readonly isInvite: boolean;
  readonly serverKey: string;
  /** Changes only when the request fails over to another upstream (a new branch). */
  clientKey: string;
  /** The flow the request came in on, and from which side. */
  readonly serverFlow: Flow;
  readonly direction: Direction;
  readonly serverTarget: SendTarget;
  #target: SendTarget;
  /** Topology hiding: the Via fields the forwarded request went without, for its responses. */
  hiddenVias: HiddenVias | undefined = undefined;
  serverState: ServerState = 'proceeding';
  clientState: ClientState = 'calling';

  #host: TransactionHost;
  /** The request as received and as forwarded; released once a final response is through. */
  #request: SipRequest | undefined;
  #forwarded: SipRequest | undefined;
  #forwardedBytes: Buffer | undefined;
  /** Last response sent to the server side, repeated when the request is retransmitted. */
  #lastResponse: Buffer | undefined;
  #ackBytes: Buffer | undefined;
  #provisionalReceived = false;
  #cancelRequested = false;
  #cancelSent = false;
  #timerCFired = false;
  #retransmitTimer: NodeJS.Timeout | undefined;
  #retransmitInterval = 0;
  #timeoutTimer: NodeJS.Timeout | undefined;
  /** Pending 100 (Trying): sent only when nothing else has gone back to the caller in time. */
  #tryingTimer: NodeJS.Timeout | undefined;
  /** Upstream endpoints still to try on a timeout or a 503 (a new request to several upstreams). */
  #alternatives: readonly SendTarget[] | undefined;
  #nextAlternative = 0;
  /** The timeout timer running is the short failover one, not Timer B/F. */
  #failoverTimer = false;

  // Timer callbacks shared by every transaction (the transaction is the timer's argument):
  // a closure per transaction would live, and be traced by the GC, as long as it does.
  static #retransmitRequestOf = (t: ProxyTransaction): void => t.#retransmitRequest();
  static #retransmitResponseOf = (t: ProxyTransaction): void => t.#retransmitResponse();
  static #onTimeoutOf = (t: ProxyTransaction): void => t.#onTimeout();
  static #tryingOf = (t: ProxyTransaction): void => t.#sendTrying();
  static #failoverDueOf = (t: ProxyTransaction): void => t.#failoverDue();

  constructor(
    host: TransactionHost,
    keys: { server: string; client: string },
    request: SipRequest,
    serverFlow: Flow,
    direction: Direction,
    forwarded: SipRequest,
    forwardedBytes: Buffer,
    target: SendTarget,
    alternatives?: readonly SendTarget[],
  ) {
    this.#host = host;
    this.serverKey = keys.server;
    this.clientKey = keys.client;
    this.isInvite = request.method === 'INVITE';
    this.#request = request;
    this.serverFlow = serverFlow;
    this.direction = direction;
    this.serverTarget = flowTarget(serverFlow);
    this.#forwarded = forwarded;
    this.#forwardedBytes = forwardedBytes;
    this.#target = target;
    this.#alternatives = alternatives;
  }

  /** Where the request went (the last endpoint tried, after a failover). */
  get target(): SendTarget {
    return this.#target;
  }

  /**
   * Sends the request on. An INVITE gets 100 (Trying) unless the target's provisional or final
   * response goes back first (RFC 3261 17.2.1: within 200 ms), which saves a datagram each
   * way for the many calls a PBX answers or rings at once.
   */
  start(): void {
    const host = this.#host;
    if (this.isInvite) {
      const delay = host.timers.trying ?? DEFAULT_TRYING_DELAY_MS;
      if (delay <= 0) {
        this.#sendTrying();
      } else {
        this.#tryingTimer = setTimeout(ProxyTransaction.#tryingOf, delay, this);
        this.#tryingTimer.unref();
      }
    }
    this.#startClient();
  }

  /** The client transaction towards the target: the request sent, Timers A/E and B/F running. */
  #startClient(): void {
    const host = this.#host;
    host.send(this.#target, this.#forwardedBytes!);
    // Timers A and E: retransmit over unreliable transports (RFC 3261 17.1.1.2, 17.1.2.2).
    if (this.target.transport === 'udp') {
      this.#retransmitInterval = host.timers.T1;
      this.#retransmitTimer = setTimeout(
        ProxyTransaction.#retransmitRequestOf,
        this.#retransmitInterval,
        this,
      );
      this.#retransmitTimer.unref();
    }
    // Timers B and F: give up when the target does not answer at all; sooner when another
    // upstream could take the request (failover).
    const more = this.#alternatives !== undefined && this.#nextAlternative < this.#alternatives.length;
    const failoverAfter = more ? host.failoverAfterMs : undefined;
    this.#failoverTimer = failoverAfter !== undefined && failoverAfter < sixtyFourT1(host.timers);
    const timeout = this.#failoverTimer ? failoverAfter! : sixtyFourT1(host.timers);
    this.#timeoutTimer = setTimeout(ProxyTransaction.#onTimeoutOf, timeout, this);
    this.#timeoutTimer.unref();
  }

  /** The same request arrived again: absorb it, repeating our last answer (RFC 3261 17.2.1, 17.2.2). */
  onRequestRetransmission(): void {
    if (this.serverState === 'terminated') return;
    if (this.#lastResponse) this.#host.send(this.serverTarget, this.#lastResponse);
    // The caller is retransmitting: its 100 (Trying) is due now.
    else if (this.#tryingTimer) this.#sendTrying();
  }

  #sendTrying(): void {
    this.#clearTrying();
    const request = this.#request;
    if (this.serverState !== 'proceeding' || this.#lastResponse || !request) return;
    this.#lastResponse = this.#host.respond(request, 100, 'Trying');
    this.#host.send(this.serverTarget, this.#lastResponse);
  }

  #clearTrying(): void {
    if (this.#tryingTimer) clearTimeout(this.#tryingTimer);
    this.#tryingTimer = undefined;
  }

  /** ACK matching this INVITE server transaction: the end of a non-2xx exchange, hop by hop. */
  onAck(): boolean {
    if (this.serverState === 'completed') {
      this.serverState = 'confirmed';
      this.#clearRetransmit();
      // Timer I: absorb further ACK retransmissions for T4 on UDP, then end.
      this.#linger(this.serverTarget.transport === 'udp' ? this.#host.timers.T4 : 0);
      return true;
    }
    return this.serverState === 'confirmed';
  }

  /** The request as received, until its final response has gone through. */
  get request(): SipRequest | undefined {
    return this.#request;
  }

  /** The last response sent to the server side (a finished transaction's final response). */
  get lastResponse(): Buffer | undefined {
    return this.#lastResponse;
  }

  /** True when this INVITE already had a 2xx (an ACK with its branch is then end to end). */
  get accepted(): boolean {
    return this.serverState === 'accepted';
  }

  /** CANCEL for this INVITE: cancel the forwarded INVITE once it is known to have arrived (RFC 3261 9.1). */
  cancel(): void {
    if (!this.isInvite || (this.clientState !== 'calling' && this.clientState !== 'proceeding')) return;
    if (this.#cancelRequested) return;
    this.#cancelRequested = true;
    if (this.#provisionalReceived) this.#sendCancel();
  }

  /** A response from the target, already checked to come from it, with our Via removed. */
  onResponse(response: SipResponse, bytes: Buffer): void {
    const status = response.status;
    if (status < 200) return this.#onProvisional(status, bytes);
    if (this.isInvite && status < 300) return this.#onInviteSuccess(status, bytes);
    if (this.isInvite) return this.#onInviteFailure(response, bytes);
    return this.#onNonInviteFinal(status, bytes, response);
  }

  #onProvisional(status: number, bytes: Buffer): void {
    if (this.clientState !== 'calling' && this.clientState !== 'proceeding') return;
    const firstProvisional = !this.#provisionalReceived;
    this.#provisionalReceived = true;
    if (this.clientState === 'calling') {
      this.clientState = 'proceeding';
      // INVITE: a provisional stops Timer A; Timer C now bounds the wait (RFC 3261 16.6 item 11).
      if (this.isInvite) {
        this.#clearRetransmit();
        this.#restartTimeout(this.#host.timers.timerC);
      }
    }
    if (this.isInvite && firstProvisional && this.#cancelRequested) this.#sendCancel();
    // 100 Trying is hop by hop and never forwarded (RFC 3261 16.7 item 3).
    if (status === 100 || this.serverState !== 'proceeding') return;
    this.#clearTrying();
    this.#lastResponse = bytes;
    this.#host.send(this.serverTarget, bytes);
  }

  #onInviteSuccess(status: number, bytes: Buffer): void {
    // RFC 6026: 2xx retransmissions from the target are forwarded while Accepted lasts.
    if (this.clientState === 'accepted') {
      this.#host.send(this.serverTarget, bytes);
      return;
    }
    if (this.clientState === 'completed' || this.clientState === 'terminated') return;
    this.clientState = 'accepted';
    this.serverState = 'accepted';
    this.#lastResponse = bytes;
    this.#host.send(this.serverTarget, bytes);
    if (this.#request) this.#host.completed(this, this.#request, status);
    this.#release();
    // Timers L and M: keep the transaction to forward 2xx retransmissions and absorb INVITE ones.
    this.#linger(sixtyFourT1(this.#host.timers));
  }

  #onInviteFailure(response: SipResponse, bytes: Buffer): void {
    if (this.clientState === 'completed') {
      // A retransmitted final response: repeat our ACK (RFC 3261 17.1.1.2).
      if (this.#ackBytes) this.#host.send(this.#target, this.#ackBytes);
      return;
    }
    if (this.clientState === 'accepted' || this.clientState === 'terminated') return;
    this.clientState = 'completed';
    this.#ackBytes = this.#host.buildAck(this.#forwarded!, response);
    this.#host.send(this.#target, this.#ackBytes);
    // A 503 from one upstream: the next one gets the request, the caller hears nothing of it.
    if (response.status === 503 && this.#unavailable(response)) return;
    this.#sendFinalToServerSide(response.status, bytes);
  }

  #onNonInviteFinal(status: number, bytes: Buffer, response?: SipResponse): void {
    if (this.clientState === 'completed' || this.clientState === 'terminated') return;
    if (status === 503 && response !== undefined && this.#unavailable(response)) return;
    this.clientState = 'completed';
    this.#sendFinalToServerSide(status, bytes);
  }

  #sendFinalToServerSide(status: number, bytes: Buffer): void {
    const host = this.#host;
    this.serverState = 'completed';
    this.#lastResponse = bytes;
    host.send(this.serverTarget, bytes);
    if (this.#request) host.completed(this, this.#request, status);
    this.#release();
    const serverUnreliable = this.serverTarget.transport === 'udp';
    const clientUnreliable = this.target.transport === 'udp';
    if (this.isInvite && serverUnreliable) {
      // Timer G: repeat the final response until the ACK comes; Timer H bounds it.
      this.#retransmitInterval = host.timers.T1;
      this.#retransmitTimer = setTimeout(
        ProxyTransaction.#retransmitResponseOf,
        this.#retransmitInterval,
        this,
      );
      this.#retransmitTimer.unref();
    }
    // Timers D, H, J, K: keep absorbing retransmissions on unreliable transports.
    const linger = serverUnreliable || (this.isInvite && clientUnreliable) ? sixtyFourT1(host.timers) : 0;
    const kOnly = !serverUnreliable && !this.isInvite && clientUnreliable ? host.timers.T4 : 0;
    this.#linger(Math.max(linger, kOnly));
  }

  #retransmitRequest(): void {
    if (this.clientState !== 'calling' && !(this.clientState === 'proceeding' && !this.isInvite)) return;
    const bytes = this.#forwardedBytes;
    if (!bytes) return;
    this.#host.send(this.target, bytes);
    // INVITE doubles without bound (Timer A); non-INVITE caps at T2 (Timer E).
    this.#retransmitInterval = this.isInvite
      ? this.#retransmitInterval * 2
      : Math.min(this.#retransmitInterval * 2, this.#host.timers.T2);
    this.#retransmitTimer = setTimeout(ProxyTransaction.#retransmitRequestOf, this.#retransmitInterval, this);
    this.#retransmitTimer.unref();
  }

  #retransmitResponse(): void {
    if (this.serverState !== 'completed' || !this.#lastResponse) return;
    this.#host.send(this.serverTarget, this.#lastResponse);
    this.#retransmitInterval = Math.min(this.#retransmitInterval * 2, this.#host.timers.T2);
    this.#retransmitTimer = setTimeout(
      ProxyTransaction.#retransmitResponseOf,
      this.#retransmitInterval,
      this,
    );
    this.#retransmitTimer.unref();
  }

  #onTimeout(): void {
    this.#timeoutTimer = undefined;
    if (this.#failoverTimer) {
      // The short failover wait is over: another upstream if the target sent nothing at all,
      // else the rest of Timer B/F. Decided after the I/O already waiting: when the process
      // itself was busy past the wait, a response sitting in the socket buffer counts.
      this.#failoverTimer = false;
      setImmediate(ProxyTransaction.#failoverDueOf, this);
      return;
    }
    this.#onTimerBF();
  }

  #failoverDue(): void {
    if (this.clientState === 'calling') {
      this.#host.targetFailed?.(this.#target, 'timeout');
      if (this.#tryNext()) return;
    }
    if (this.clientState === 'calling' || this.clientState === 'proceeding') {
      if (this.#timeoutTimer === undefined)
        this.#restartTimeout(sixtyFourT1(this.#host.timers) - (this.#host.failoverAfterMs ?? 0));
    }
  }

  #onTimerBF(): void {
    if (this.isInvite && this.clientState === 'proceeding' && !this.#timerCFired) {
      // Timer C fired: cancel the INVITE; the target's 487 then completes it (RFC 3261 16.8).
      this.#timerCFired = true;
      this.#cancelRequested = true;
      this.#sendCancel();
      this.#restartTimeout(sixtyFourT1(this.#host.timers));
      return;
    }
    if (this.clientState !== 'calling' && this.clientState !== 'proceeding') return;
    if (this.clientState === 'calling' && this.#alternatives !== undefined) {
      this.#host.targetFailed?.(this.#target, 'timeout');
      if (this.#tryNext()) return;
    }
    this.clientState = 'terminated';
    this.#clearRetransmit();
    const request = this.#request;
    // RFC 3261 16.8: a timeout acts as a 408; RFC 4320 section 4.2: never 408 to a non-INVITE.
    if (this.isInvite && request && this.serverState === 'proceeding') {
      this.#host.log.debug({ target: this.target }, 'INVITE timed out at the target');
      this.#sendFinalToServerSide(408, this.#host.respond(request, 408, 'Request Timeout'));
      return;
    }
    if (request) this.#host.completed(this, request, 408);
    this.terminate();
  }

  /** A 503 from the target: reported, and the request sent to the next endpoint when there is one. */
  #unavailable(response: SipResponse): boolean {
    if (this.#alternatives === undefined) return false;
    this.#host.targetFailed?.(this.#target, 'unavailable', retryAfterSeconds(response));
    return this.#tryNext();
  }

  /**
   * Failover of a new request (RFC 3261 16.7 item 6 allows a proxy to try further targets after
   * a non-2xx): the next endpoint on a new branch, as long as nothing final went back to the
   * caller and it did not cancel.
   */
  #tryNext(): boolean {
    const alternatives = this.#alternatives;
    const forwarded = this.#forwarded;
    if (alternatives === undefined || this.#nextAlternative >= alternatives.length || forwarded === undefined)
      return false;
    if (this.#cancelRequested || this.serverState !== 'proceeding') return false;
    const next = alternatives[this.#nextAlternative++]!;
    const moved = this.#host.retarget?.(this, forwarded, next);
    if (moved === undefined) return false;
    this.#clearRetransmit();
    if (this.#timeoutTimer) clearTimeout(this.#timeoutTimer);
    this.#timeoutTimer = undefined;
    this.#forwarded = moved.forwarded;
    this.#forwardedBytes = moved.bytes;
    this.clientKey = moved.clientKey;
    this.#target = next;
    this.clientState = 'calling';
    this.#provisionalReceived = false;
    this.#timerCFired = false;
    this.#ackBytes = undefined;
    this.#startClient();
    return true;
  }

  #sendCancel(): void {
    const forwarded = this.#forwarded;
    if (!forwarded || this.#cancelSent) return;
    this.#cancelSent = true;
    this.#host.send(this.#target, this.#host.buildCancel(forwarded));
  }

  #restartTimeout(ms: number): void {
    // Every restart is Timer B/C/F's: a response arrived, or the failover wait is over.
    this.#failoverTimer = false;
    if (this.#timeoutTimer) clearTimeout(this.#timeoutTimer);
    this.#timeoutTimer = setTimeout(ProxyTransaction.#onTimeoutOf, ms, this);
    this.#timeoutTimer.unref();
  }

  #clearRetransmit(): void {
    if (this.#retransmitTimer) clearTimeout(this.#retransmitTimer);
    this.#retransmitTimer = undefined;
  }

  /** Drops what is no longer needed once a final response went through: lingering stays cheap. */
  #release(): void {
    this.#clearRetransmit();
    this.#clearTrying();
    if (this.#timeoutTimer) clearTimeout(this.#timeoutTimer);
    this.#timeoutTimer = undefined;
    this.#request = undefined;
    this.#forwardedBytes = undefined;
    this.#forwarded = undefined;
  }

  #linger(ms: number): void {
    if (ms <= 0) {
      this.terminate();
      return;
    }
    this.#host.linger(this, ms);
  }

  /** Its linger time is over (called by the host's linger queue). */
  expire(): void {
    this.terminate();
  }

  terminate(): void {
    if (this.serverState === 'terminated' && this.clientState === 'terminated') return;
    this.serverState = 'terminated';
    this.clientState = 'terminated';
    this.#clearRetransmit();
    this.#clearTrying();
    if (this.#timeoutTimer) clearTimeout(this.#timeoutTimer);
    this.#timeoutTimer = undefined;
    this.#request = undefined;
    this.#forwarded = undefined;
    this.#forwardedBytes = undefined;
    this.#lastResponse = undefined;
    this.#ackBytes = undefined;
    this.#host.terminated(this);
  }
}

import type { Logger } from '../../log/logger.ts';
import { type HiddenVias, hiddenViasFrom } from '../../sip/hidden-vias.ts';
import type { SipRequest, SipResponse, Via } from '../../sip/message.ts';
import { createResponse } from '../../sip/response.ts';
import { serializeMessage } from '../../sip/serialize.ts';
import type { Flow, SendTarget } from '../../transport/types.ts';
import { detach } from '../../util/detach.ts';
import { StringTable } from '../../util/string-table.ts';
import type { AdmissionControl } from '../admission/admission.ts';
import type { Shedding } from '../admission/shedding.ts';
import type { Direction, MessageInspector } from '../inspector.ts';
import type { LocalAnswers } from '../local-answers.ts';
import type { ProxyStats } from '../proxy-stats.ts';
import { loopHashOf, MAGIC_COOKIE, newBranch } from './branch.ts';
import { clientTransactionKey, fromTarget, sameTarget, serverTransactionKey } from './keys.ts';
import { LingerQueue } from './linger-queue.ts';
import { flowTarget, ProxyTransaction, type TransactionHost } from './proxy-transaction.ts';
import { buildAck, buildCancel } from './request-builders.ts';
import { RFC3261_TIMERS, type TimerSettings } from './timers.ts';
import { TombstoneTable } from './tombstones.ts';
import { withBranch } from './with-branch.ts';

export interface TransactionSettings {
  /** Transactions in progress at once (before their final response); beyond it new requests get 503. */
  readonly maxTransactions: number;
  /**
   * Finished transactions kept to absorb retransmissions (for 64*T1 on UDP). Beyond it the
   * oldest ends early: it could only have absorbed a late retransmission. Default maxTransactions.
   */
  readonly maxLingeringTransactions?: number;
  readonly timers?: TimerSettings;
  /** Failover of new requests between several upstreams (src/core/route/upstreams); absent with one. */
  readonly failover?: FailoverSettings;
}

export interface FailoverSettings {
  /** A new request whose target sent nothing at all for this long goes to the next endpoint. */
  readonly afterMs: number;
  /** A target failed a new request: silence, or a 503 (with its Retry-After seconds). */
  failed(target: SendTarget, cause: 'timeout' | 'unavailable', retryAfterS?: number): void;
  /** A request went on to another endpoint. */
  failedOver(): void;
}

/** What the transaction user on top (the proxy) is told. */
export interface TransactionUser {
  /** A response from the target of a transaction in progress, from the address its request went to. */
  onResponse(transaction: ProxyTransaction, response: SipResponse, flow: Flow): void;
  /**
   * A 2xx retransmission for an INVITE whose transaction has finished (RFC 6026 Accepted):
   * the user forwards it statelessly to `target`, or returns false when nothing can go on.
   * `flow` and `side` are where the response came from; `hiddenVias`, the Via fields its
   * request was forwarded without (topology hiding).
   */
  onAcceptedRetransmission(
    response: SipResponse,
    target: SendTarget,
    flow: Flow,
    side: Direction,
    hiddenVias: HiddenVias | undefined,
  ): boolean;
  /** A response matching no transaction, live or finished: true when the user sent its request itself. */
  onUnmatchedResponse(response: SipResponse, flow: Flow): boolean;
  /** The transaction got its final status (from the target, or 408 when it never answered). */
  onCompleted(transaction: ProxyTransaction, request: SipRequest, status: number): void;
}

/**
 * The transaction layer (RFC 3261 section 17): keys and tables of the transactions in
 * progress and finished, absorption of retransmissions, the matching of responses and
 * CANCELs to their transactions, the check that a response comes from where its request
 * went, and the admission of new transactions into a bounded table.
 */
export class TransactionLayer {
  readonly #settings: TransactionSettings;
  readonly #answers: LocalAnswers;
  readonly #inspector: MessageInspector;
  readonly #stats: ProxyStats;
  readonly #log: Logger;
  readonly #user: TransactionUser;
  readonly #admission: AdmissionControl;
  readonly #shedding: Shedding;
  readonly #host: TransactionHost;
  readonly #byServerKey = new StringTable<ProxyTransaction>();
  readonly #byClientKey = new StringTable<ProxyTransaction>();
  /** Finished transactions still absorbing retransmissions: tombstones, off the heap ... */
  readonly #tombstones: TombstoneTable;
  /** ... or whole objects, for what a tombstone does not hold (a non-2xx INVITE awaiting its ACK). */
  readonly #lingering: LingerQueue<ProxyTransaction>;

  constructor(
    settings: TransactionSettings,
    answers: LocalAnswers,
    inspector: MessageInspector,
    stats: ProxyStats,
    log: Logger,
    user: TransactionUser,
    admission: AdmissionControl,
    shedding: Shedding,
  ) {
    this.#admission = admission;
    this.#shedding = shedding;
    this.#settings = settings;
    this.#answers = answers;
    this.#inspector = inspector;
    this.#stats = stats;
    this.#log = log;
    this.#user = user;
    const maxLingering = settings.maxLingeringTransactions ?? Math.min(settings.maxTransactions, 1_000_000);
    this.#tombstones = new TombstoneTable({ maxSize: maxLingering });
    this.#lingering = new LingerQueue({ maxSize: maxLingering });
    this.#host = {
      timers: settings.timers ?? RFC3261_TIMERS,
      log,
      send: (target, data) => answers.send(target, data),
      respond: (request, status, reason) => serializeMessage(createResponse(request, status, reason)),
      buildCancel,
      buildAck,
      ...(settings.failover === undefined ? {} : this.#failoverHost(settings.failover)),
      completed: (t, request, status) => user.onCompleted(t, request, status),
      linger: (t, ms) => {
        if (this.#entomb(t, ms)) t.terminate();
        else this.#lingering.add(t, ms);
      },
      terminated: (t) => {
        this.#lingering.delete(t);
        if (this.#byServerKey.get(t.serverKey) === t) this.#byServerKey.delete(t.serverKey);
        if (this.#byClientKey.get(t.clientKey) === t) this.#byClientKey.delete(t.clientKey);
        this.#stats.transactions = this.#byServerKey.size + this.#tombstones.size;
      },
    };
  }

  /** Transactions held, in progress and lingering. */
  get size(): number {
    return this.#byServerKey.size + this.#tombstones.size;
  }

  /** Finished transactions kept to absorb retransmissions. */
  get lingeringCount(): number {
    return this.#lingering.size + this.#tombstones.size;
  }

  /**
   * Transactions in progress: finished ones lingering to absorb retransmissions would
   * otherwise fill the table at a steady 1,600 calls/s (two per call, for 32 s each).
   */
  get inProgress(): number {
    return this.#byServerKey.size - this.#lingering.size;
  }

  serverKey(request: SipRequest, topVia: Via, flow: Flow): string {
    return serverTransactionKey(request, topVia, flow);
  }

  /** A retransmission of a request whose transaction exists: absorbed, answered from the transaction. */
  absorbed(serverKey: string): boolean {
    const existing = this.#byServerKey.get(serverKey);
    if (existing) {
      this.#stats.retransmissionsAbsorbed++;
      existing.onRequestRetransmission();
      return true;
    }
    const slot = this.#tombstones.findServer(serverKey);
    if (slot < 0) return false;
    this.#stats.retransmissionsAbsorbed++;
    // A non-INVITE's final response is repeated (Timer J); an accepted INVITE's retransmission is
    // only absorbed: its 2xx is the UAS's to repeat, end to end (RFC 6026 section 7.1).
    const response = this.#tombstones.response(slot);
    if (response) this.#answers.send(this.#tombstones.serverTarget(slot), response);
    return true;
  }

  /** RFC 3261 17.2.1: an ACK for a non-2xx final ends the INVITE server transaction here; true when it did. */
  absorbedAck(serverKey: string): boolean {
    const invite = this.#byServerKey.get(serverKey);
    if (!invite || invite.accepted) return false;
    invite.onAck();
    return true;
  }

  /**
   * RFC 3261 9.2 and 16.10: CANCEL matches the INVITE with the same branch and sent-by, from
   * the same source. True when it matched an INVITE still in progress (and cancels it).
   */
  onCancel(cancel: SipRequest, flow: Flow, topVia: Via, direction: Direction): boolean {
    const inviteKey = serverTransactionKey(cancel, topVia, flow, 'INVITE');
    const invite = this.#byServerKey.get(inviteKey);
    if (!invite) {
      // An INVITE already answered 2xx still exists (RFC 6026 Accepted): the CANCEL gets its 200 and does nothing.
      const slot = this.#tombstones.findServer(inviteKey);
      if (slot >= 0 && sameTarget(this.#tombstones.serverTarget(slot), flowTarget(flow))) {
        this.#answers.reply(cancel, flow, 200, 'OK');
        return false;
      }
    }
    if (!invite || !sameTarget(invite.serverTarget, flowTarget(flow))) {
      this.#inspector.refused({
        flow,
        direction,
        kind: 'transaction',
        code: 'no-matching-invite',
        reason: 'CANCEL matches no INVITE from this source',
        status: 481,
        method: 'CANCEL',
      });
      this.#answers.reply(cancel, flow, 481, 'Call/Transaction Does Not Exist');
      return false;
    }
    this.#answers.reply(cancel, flow, 200, 'OK');
    invite.cancel();
    return invite.isInvite && invite.serverState === 'proceeding';
  }

  /**
   * Room for one more transaction in progress, within the upstream's budget: under pressure
   * (table or budget) untrusted new requests go first; a refused one is shed (503 or dropped).
   */
  admit(request: SipRequest, flow: Flow, direction: Direction): boolean {
    const refusal = this.#admission.admitTransaction(
      request,
      flow,
      direction,
      this.inProgress,
      this.#settings.maxTransactions,
    );
    if (refusal === undefined) return true;
    this.#shedding.message(request, flow, direction, refusal);
    return false;
  }

  /** A new transaction for a request about to be forwarded, in the tables; the caller starts it. */
  create(
    request: SipRequest,
    flow: Flow,
    direction: Direction,
    serverKey: string,
    forwarded: SipRequest,
    branch: string,
    bytes: Buffer,
    target: SendTarget,
    alternatives?: readonly SendTarget[],
  ): ProxyTransaction {
    const transaction = new ProxyTransaction(
      this.#host,
      // Copies: keys cut from the message would keep its whole text while the transaction lingers.
      { server: detach(serverKey), client: detach(clientTransactionKey(branch, request.cseq.method)) },
      request,
      flow,
      direction,
      forwarded,
      bytes,
      target,
      alternatives,
    );
    this.#byServerKey.set(transaction.serverKey, transaction);
    this.#byClientKey.set(transaction.clientKey, transaction);
    this.#stats.transactions = this.#byServerKey.size + this.#tombstones.size;
    return transaction;
  }

  /** A response: to its transaction's user when it matches one and comes from where the request went. */
  onResponse(response: SipResponse, flow: Flow, direction: Direction): void {
    const branch = response.via[0]!.branch;
    if (!branch?.startsWith(MAGIC_COOKIE + 'sw')) {
      this.#stats.strayResponses++;
      return;
    }
    const clientKey = clientTransactionKey(branch, response.cseq.method);
    const transaction = this.#byClientKey.get(clientKey);
    if (!transaction) {
      this.#onFinishedResponse(response, flow, direction, clientKey);
      return;
    }
    // Only the party we sent the request to may answer it (RFC 3261 17.1.3 matches on
    // branch alone; a forged response from a third address must not reach the caller).
    if (!fromTarget(flow, transaction.target)) {
      this.#refuseForeignResponse(response, flow, direction);
      return;
    }
    this.#user.onResponse(transaction, response, flow);
  }

  /** The transaction host's part for failover: a new branch for the next endpoint, and the re-keying. */
  #failoverHost(
    failover: FailoverSettings,
  ): Pick<TransactionHost, 'failoverAfterMs' | 'retarget' | 'targetFailed'> {
    return {
      failoverAfterMs: failover.afterMs,
      targetFailed: (target, cause, retryAfterS) => failover.failed(target, cause, retryAfterS),
      retarget: (t, forwarded, _next) => {
        const oldBranch = forwarded.via[0]?.branch;
        if (oldBranch === undefined) return undefined;
        const branch = newBranch(loopHashOf(oldBranch) ?? '0');
        const message = withBranch(forwarded, oldBranch, branch);
        const clientKey = detach(clientTransactionKey(branch, forwarded.cseq.method));
        if (this.#byClientKey.get(t.clientKey) === t) this.#byClientKey.delete(t.clientKey);
        this.#byClientKey.set(clientKey, t);
        failover.failedOver();
        return { forwarded: message, bytes: serializeMessage(message), clientKey };
      },
    };
  }

  /** Ends every transaction (on shutdown). */
  close(): void {
    this.#lingering.clear();
    this.#tombstones.clear();
    for (const t of this.#byServerKey.valuesSnapshot()) t.terminate();
  }

  /** A response for a finished transaction: a 2xx to an INVITE goes on while Accepted lasts (RFC 6026). */
  #onFinishedResponse(response: SipResponse, flow: Flow, direction: Direction, clientKey: string): void {
    const slot = this.#tombstones.findClient(clientKey);
    if (slot < 0) {
      // A request the proxy made itself (a BYE at the maximum session length) ends here.
      if (this.#user.onUnmatchedResponse(response, flow)) return;
      // Responses to our own CANCEL, or late retransmissions: nothing to forward.
      this.#stats.strayResponses++;
      return;
    }
    if (!this.#tombstones.isFromClientTarget(slot, flow)) {
      this.#refuseForeignResponse(response, flow, direction);
      return;
    }
    const accepted = this.#tombstones.isInvite(slot) && response.status >= 200 && response.status < 300;
    if (
      !accepted ||
      !this.#user.onAcceptedRetransmission(
        response,
        this.#tombstones.serverTarget(slot),
        flow,
        direction,
        hiddenViasFrom(this.#tombstones.hiddenVias(slot)),
      )
    ) {
      this.#stats.retransmissionsAbsorbed++;
    }
  }

  #refuseForeignResponse(response: SipResponse, flow: Flow, direction: Direction): void {
    this.#stats.strayResponses++;
    this.#inspector.refused({
      flow,
      direction,
      kind: 'transaction',
      code: 'response-from-wrong-address',
      reason: 'response from an address its request was not sent to',
      method: response.cseq.method,
    });
    this.#log.debug({ flow }, 'response from an address the request was not sent to');
  }

  /** Keeps a finished transaction as a tombstone when one holds all it still needs. */
  #entomb(t: ProxyTransaction, ms: number): boolean {
    const kept = t.isInvite ? t.serverState === 'accepted' : t.serverState === 'completed';
    if (!kept) return false;
    const response = t.isInvite ? undefined : t.lastResponse;
    return this.#tombstones.add(
      {
        serverKey: t.serverKey,
        clientKey: t.clientKey,
        isInvite: t.isInvite,
        serverTarget: t.serverTarget,
        clientTarget: t.target,
        ...(response ? { response } : {}),
        ...(t.isInvite && t.hiddenVias !== undefined ? { hiddenVias: t.hiddenVias.values.join('\n') } : {}),
      },
      ms,
    );
  }
}

import type { Logger } from '../log/logger.ts';
import type { SipRequest, SipResponse, Via } from '../sip/message.ts';
import { serializeMessage } from '../sip/serialize.ts';
import type { Flow, InboundMessage, SendTarget, TransportLayer } from '../transport/types.ts';
import { type AdmissionControl, createAdmission } from './admission/admission.ts';
import { Shedding } from './admission/shedding.ts';
import { type CallObserver, type CallRefusal, NO_CALL_OBSERVER } from './call-observer.ts';
import { DialogChecks, type DialogSettings } from './dialog/dialog-checks.ts';
import type { Dialog, DialogMatched } from './dialog/dialog-table.ts';
import { FlowDirection } from './ingress/flow-direction.ts';
import { Ingress, type IngressSettings } from './ingress/ingress.ts';
import {
  type Direction,
  type MessageInspector,
  PASS_ALL,
  type RequestContext,
  type Verdict,
} from './inspector.ts';
import { LocalAnswers } from './local-answers.ts';
import { newProxyStats, type ProxyStats } from './proxy-stats.ts';
import type { MediaEngine } from './route/media-engine.ts';
import { type NatSettings, NatTraversal } from './route/nat/nat-traversal.ts';
import {
  RegistrationCache,
  type RegistrationCacheSettings,
  type RegistrationCacheStats,
} from './route/registration-cache.ts';
import { Router, type RouteSettings } from './route/router.ts';
import { type MediaLineHandler, SessionDescriptions } from './route/session-description.ts';
import type { HiddenVias } from './route/topology/topology-hiding.ts';
import { OptionsPinger, type PingSettings } from './route/upstreams/options-pinger.ts';
import { SessionEnd } from './session-end.ts';
import type { ProxyTransaction } from './transaction/proxy-transaction.ts';
import { RFC3261_TIMERS } from './transaction/timers.ts';
import { TransactionLayer, type TransactionSettings } from './transaction/transaction-layer.ts';

export type { ProxyStats } from './proxy-stats.ts';

/** The settings of every layer, and the few the proxy itself reads. */
export interface ProxySettings extends IngressSettings, TransactionSettings, DialogSettings, RouteSettings {
  /** Further source addresses whose requests count as coming from the upstream side. */
  readonly upstreamSources?: readonly string[];
  /** Answer OPTIONS addressed to sipwarden itself (health checks) instead of forwarding them. */
  readonly answerOptions: boolean;
  /** What is shed under overload (src/core/admission); default: the defaults, no work-age measure. */
  readonly admission?: AdmissionControl;
  /** What rewrites the session descriptions of offers and answers (relays); none by default. */
  readonly media?: readonly MediaLineHandler[];
  /** Sessions with a rewritten description held at most (the oldest ends first). */
  readonly maxMediaSessions?: number;
  /** A media engine (rtpengine) that rewrites RTP offers and answers asynchronously; none by default. */
  readonly mediaEngine?: MediaEngine;
  /** OPTIONS health checks of the upstream endpoints (with `upstreams` only). */
  readonly healthPings?: PingSettings;
  /** NAT traversal for registered phones: keepalives, dead flows (src/core/route/nat); none when absent. */
  readonly nat?: NatSettings;
  /** Phones' re-REGISTERs answered from the PBX's last 2xx (src/core/route/registration-cache.ts); off when absent. */
  readonly registrationCache?: RegistrationCacheSettings;
}

/** An INVITE shed under overload: answered 503 or dropped, as the admission decided. */
const OVERLOAD_REFUSAL: CallRefusal = Object.freeze({ stage: 'core', rule: 'overload' });

const ALLOW =
  'INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, MESSAGE, SUBSCRIBE, NOTIFY, REFER, INFO, UPDATE, PRACK, PUBLISH';

/**
 * A transaction-stateful proxy (RFC 3261 sections 16 and 17) that forwards every request
 * from the untrusted side to the one configured upstream, whatever its Request-URI or
 * Route headers name, and every request from the upstream to the client flow named by the
 * signed token in our own Route entry. Responses go back where the request came from.
 *
 * It is the transaction user on top of the layers below, and decides only the order:
 * ingress (admit, parse, validate) -> transaction (absorb retransmissions) -> dialog check
 * -> the security pipeline -> route -> a new transaction that forwards the request.
 */
export class SipProxy {
  readonly #settings: ProxySettings;
  readonly #log: Logger;
  readonly #inspector: MessageInspector;
  readonly #answers: LocalAnswers;
  readonly #ingress: Ingress;
  readonly #transactions: TransactionLayer;
  readonly #dialogs: DialogChecks;
  readonly #router: Router;
  readonly #calls: CallObserver;
  readonly #sessionEnd: SessionEnd;
  readonly #admission: AdmissionControl;
  /** Absent when no handler rewrites descriptions: the hot path pays one test. */
  readonly #sessions: SessionDescriptions | undefined;
  readonly #engine: MediaEngine | undefined;
  /** Health checks of several upstreams; absent with one. */
  readonly #pinger: OptionsPinger | undefined;
  /** Registered flows, their keepalives and deaths; absent when off. */
  readonly #nat: NatTraversal | undefined;
  /** Registration caching; absent when off. */
  readonly #registrations: RegistrationCache | undefined;
  readonly stats: ProxyStats = newProxyStats();

  constructor(
    settings: ProxySettings,
    transport: TransportLayer,
    log: Logger,
    inspector: MessageInspector = PASS_ALL,
    calls: CallObserver = NO_CALL_OBSERVER,
  ) {
    this.#settings = settings;
    this.#log = log;
    this.#inspector = inspector;
    this.#calls = calls;
    this.#answers = new LocalAnswers(transport, this.stats);
    this.#registrations =
      settings.registrationCache === undefined
        ? undefined
        : new RegistrationCache(settings.registrationCache);
    const admission = settings.admission ?? createAdmission();
    this.#admission = admission;
    const shedding = new Shedding(admission, this.#answers, inspector, this.stats);
    const router = new Router(settings);
    this.#router = router;
    const sessionEnd = new SessionEnd({
      timers: settings.timers ?? RFC3261_TIMERS,
      send: (target, data) => this.#answers.send(target, data),
      ownAddress: (toUpstream, transport) => router.ownAddress(toUpstream, transport),
      upstreamTarget: router.upstreamTarget,
    });
    this.#sessionEnd = sessionEnd;
    const sessions =
      settings.media === undefined || settings.media.length === 0
        ? undefined
        : new SessionDescriptions(settings.media, settings.maxMediaSessions);
    this.#sessions = sessions;
    const engine = settings.mediaEngine;
    this.#engine = engine;
    this.#nat =
      settings.nat === undefined
        ? undefined
        : new NatTraversal(settings.nat, {
            send: (target, data) => this.#answers.send(target, data),
            ownAddress: (toUpstream, transport) => router.ownAddress(toUpstream, transport),
            pathFor: (flow) => router.registrationPath(flow),
          });
    this.#nat?.start();
    this.#dialogs = new DialogChecks(settings, this.#answers, inspector, this.stats, {
      isOwnUri: (uri) => router.isOwnUri(uri),
      ended: (dialog, cause, otherLeg) => {
        if (dialog.method !== 'INVITE') return;
        // The maximum session length: the call ends with BYE to its parties (RFC 3261 15.1.1).
        // The media relay's flood rule ends a call the same way.
        if (cause === 'session-timeout' || cause === 'media-flood') sessionEnd.end(dialog, otherLeg);
        sessions?.dialogEnded(dialog.callId, dialog.callerTag, dialog.leg);
        if (otherLeg !== undefined) sessions?.dialogEnded(otherLeg.callId, otherLeg.callerTag, otherLeg.leg);
        engine?.dialogEnded(dialog.callId, dialog.callerTag, dialog.leg);
        calls.dialogEnded(dialog, cause);
      },
    });
    this.#transactions = new TransactionLayer(
      settings,
      this.#answers,
      inspector,
      this.stats,
      log,
      {
        onResponse: (t, response, flow) => this.#onResponse(t, response, flow),
        onAcceptedRetransmission: (response, target, flow, side, hiddenVias) =>
          this.#forwardAcceptedRetransmission(response, target, flow, side, hiddenVias),
        onUnmatchedResponse: (response, flow) =>
          sessionEnd.onResponse(response, flow) ||
          this.#pinger?.onResponse(response, flow) === true ||
          this.#nat?.onResponse(response, flow) === true,
        onCompleted: (t, request, status) => {
          this.#dialogs.onCompleted(request, status, t.direction);
          sessions?.completed(request, status, t.direction);
          engine?.completed(request, status, t.direction);
          if (request.method === 'INVITE') {
            if (request.to.params.get('tag') === undefined) {
              if (t.direction === 'client') this.#dialogs.callAnswered(request);
              calls.inviteCompleted(request, t.serverFlow, t.direction, status);
            }
          } else if (request.method === 'BYE') {
            calls.byeCompleted(request, t.direction, status);
          }
          this.#inspector.outcome({ flow: t.serverFlow, direction: t.direction, request, status });
        },
      },
      admission,
      shedding,
    );
    // --- several upstreams (src/core/route/upstreams): trusted side, health checks ---
    const pool = settings.upstreams?.pool;
    const direction = new FlowDirection(settings.upstream, settings.upstreamSources, pool);
    if (pool !== undefined && settings.healthPings !== undefined && pool.health.enabled) {
      this.#pinger = new OptionsPinger(pool, settings.healthPings, {
        send: (target, data) => this.#answers.send(target, data),
        ownAddress: () => router.ownAddress(true, 'udp'),
      });
      this.#pinger.start();
    }
    // --- end several upstreams ---
    this.#ingress = new Ingress(
      settings,
      direction,
      inspector,
      this.#answers,
      this.stats,
      log,
      {
        onRequest: (request, flow, side) => this.#onRequest(request, flow, side),
        absorbRetransmission: (request, flow) =>
          request.method !== 'ACK' &&
          request.via.length > 0 &&
          this.#transactions.absorbed(this.#transactions.serverKey(request, request.via[0]!, flow)),
        onResponse: (response, flow, side) => this.#transactions.onResponse(response, flow, side),
      },
      admission,
      shedding,
    );
  }

  /** Entry point for every inbound message; never throws. */
  handle = (inbound: InboundMessage): void => {
    this.stats.messagesIn++;
    try {
      this.#ingress.receive(inbound);
    } catch (error) {
      // A bug must cost one message, not the process.
      this.#log.error({ err: error, flow: inbound.flow }, 'internal error while handling a message');
    }
  };

  /** Ends every transaction (on shutdown). */
  close(): void {
    this.#pinger?.close();
    this.#nat?.close();
    this.#registrations?.clear();
    this.#sessions?.close();
    this.#engine?.close();
    this.#dialogs.close();
    this.#sessionEnd.close();
    this.#answers.close();
    this.#transactions.close();
  }

  /**
   * Ends the call of a media session (key from session-description.ts: Call-ID, caller's
   * tag, caller's side) with a BYE to its parties; false when no such call is open.
   */
  endMediaSession(session: string): boolean {
    const last = session.lastIndexOf('|');
    const middle = session.lastIndexOf('|', last - 1);
    if (middle < 0) return false;
    const leg: Direction = session.slice(last + 1) === 'c' ? 'client' : 'upstream';
    return this.#dialogs.endCall(session.slice(0, middle), session.slice(middle + 1, last), leg);
  }

  /** NAT traversal (keepalives, dead flows), when configured: for its events and metrics. */
  get nat(): NatTraversal | undefined {
    return this.#nat;
  }

  /** The transport closed a stream connection: a phone registered over it is unreachable now. */
  connectionClosed(flow: Flow): void {
    this.#nat?.connectionClosed(flow);
  }

  /** Registration caching's counters; undefined when it is off. */
  get registrationCacheStats(): RegistrationCacheStats | undefined {
    return this.#registrations?.stats;
  }

  /** Registrations held by registration caching. */
  get cachedRegistrations(): number {
    return this.#registrations?.size ?? 0;
  }

  /** Transactions held, in progress and lingering. */
  get transactionCount(): number {
    return this.#transactions.size;
  }

  /** Finished transactions kept to absorb retransmissions. */
  get lingeringCount(): number {
    return this.#transactions.lingeringCount;
  }

  /** Legs confirmed on other nodes (state.backend redis) come in here. */
  get dialogSink(): {
    put(id: string, value: string, expiresAt: number): void;
    remove(id: string): void;
  } {
    const dialogs = this.#dialogs;
    return {
      put: (id, value) => {
        dialogs.adopt(id, value);
      },
      remove: (id) => dialogs.forget(id),
    };
  }

  get dialogCount(): number {
    return this.#dialogs.size;
  }

  /** Calls open now, each once (the console's live figures). */
  get callCount(): number {
    return this.#dialogs.callCount;
  }

  /** The newest open calls, at most `limit` (the console's calls page). */
  recentCalls(limit: number): Dialog[] {
    return this.#dialogs.recentCalls(limit);
  }

  #onRequest(request: SipRequest, flow: Flow, direction: Direction): void {
    const topVia = request.via[0]!;
    const serverKey = this.#transactions.serverKey(request, topVia, flow);

    if (request.method === 'ACK') return this.#onAck(request, flow, serverKey, direction);
    if (this.#transactions.absorbed(serverKey)) return;

    const dialog = this.#dialogs.check(request, flow, direction);
    if (dialog === 'refused') return;
    const inDialog = typeof dialog === 'object';
    const context: RequestContext = {
      flow,
      direction,
      request,
      inDialog,
      ...(request.method === 'INVITE' && direction === 'client' && !inDialog
        ? { activeDialogs: this.#dialogs.callsOf(request) }
        : {}),
    };
    // Authentication plugs in here as a pipeline stage (after the dialog check, before routing).
    const inspected = this.#inspector.inspectRequest(context);
    if (inspected instanceof Promise) {
      inspected.then(
        (verdict) => {
          // A retransmission may have started the transaction while the check was pending.
          if (this.#transactions.absorbed(serverKey)) return;
          this.#continueRequest(request, flow, direction, serverKey, topVia, verdict, dialog, context);
        },
        (error: unknown) => this.#log.error({ err: error }, 'request inspection failed'),
      );
      return;
    }
    this.#continueRequest(request, flow, direction, serverKey, topVia, inspected, dialog, context);
  }

  #continueRequest(
    request: SipRequest,
    flow: Flow,
    direction: Direction,
    serverKey: string,
    topVia: Via,
    verdict: Verdict,
    dialog: DialogMatched | 'out-of-dialog',
    context: RequestContext,
  ): void {
    // A call attempt: an INVITE out of dialog, whatever side it comes from.
    const newCall = request.method === 'INVITE' && request.to.params.get('tag') === undefined;
    if (verdict.action !== 'pass') {
      if (newCall) {
        this.#calls.inviteRefused(context, {
          stage: verdict.stage ?? 'security',
          ...(verdict.rule === undefined ? {} : { rule: verdict.rule }),
          ...(verdict.action === 'reject' ? { status: verdict.status, reason: verdict.reason } : {}),
        });
      }
      return this.#answers.applyVerdict(request, flow, verdict);
    }

    if (request.method === 'CANCEL') {
      if (this.#transactions.onCancel(request, flow, topVia, direction)) {
        this.#calls.inviteCancelled(request, flow, direction);
      }
      return;
    }

    // RFC 3261 16.3 item 2: Max-Forwards 0 ends here, except OPTIONS which we may answer ourselves.
    const selfOptions =
      request.method === 'OPTIONS' && this.#settings.answerOptions && this.#router.isAddressedToUs(request);
    if (selfOptions) {
      this.#answerOptions(request, flow);
      return;
    }
    if (request.maxForwards === 0) {
      if (newCall) this.#refuseCall(context, 483, 'Too Many Hops', 'too-many-hops');
      this.#answers.reply(request, flow, 483, 'Too Many Hops');
      return;
    }
    if (this.#router.isLoop(request)) {
      if (newCall) this.#refuseCall(context, 482, 'Loop Detected', 'loop-detected');
      this.#answers.reply(request, flow, 482, 'Loop Detected');
      return;
    }

    // Registration caching: a phone's re-REGISTER answered from the PBX's last 2xx, after the
    // security pipeline (so a Digest sipwarden checks itself was checked).
    const registrations = this.#registrations;
    // Never over a flow found dead: sipwarden unregistered its bindings at the PBX, and only
    // the PBX's next 2xx on it (the REGISTER forwarded) brings the flow back.
    if (
      registrations !== undefined &&
      request.method === 'REGISTER' &&
      direction === 'client' &&
      this.#nat?.isDead(flow) !== true
    ) {
      const cached = registrations.answer(request, flow, identityOf(context));
      if (cached !== undefined) {
        this.#answers.sendBack(flow, serializeMessage(cached));
        return;
      }
    }

    const fromUpstream = direction === 'upstream';
    // What a stage changed (authentication removes credentials) is what goes on.
    const routed = this.#router.route(context.forward ?? request, fromUpstream, flow);
    if (!routed.ok) {
      if (newCall) this.#refuseCall(context, routed.status, routed.reason, 'no-route');
      this.#answers.reply(request, flow, routed.status, routed.reason);
      return;
    }
    // RFC 5626 section 5.3: the flow to the phone is known dead; waiting for a timeout helps no one.
    if (fromUpstream && this.#nat?.failed(routed.target, request.method) === true) {
      if (newCall) this.#refuseCall(context, 430, 'Flow Failed', 'flow-failed');
      this.#answers.reply(request, flow, 430, 'Flow Failed');
      return;
    }

    if (!this.#transactions.admit(request, flow, direction)) {
      // Shed (503 or dropped, as the admission decided): overload, not a verdict on the call.
      if (newCall) this.#calls.inviteRefused(context, OVERLOAD_REFUSAL);
      return;
    }

    const forwarded = this.#router.prepareForward(
      routed.request,
      request,
      flow,
      routed.target,
      fromUpstream,
      routed.clientFlow,
    );
    // Offers and answers: the relays' addresses replace the parties' own.
    if (this.#sessions !== undefined)
      forwarded.message = this.#sessions.request(forwarded.message, request, direction, flow);
    const start = () =>
      this.#startForwarding(
        request,
        flow,
        direction,
        serverKey,
        forwarded,
        routed.target,
        routed.alternatives,
        dialog,
        newCall,
        context,
      );
    const engine = this.#engine;
    if (engine?.handles(forwarded.message)) {
      // The media engine answers asynchronously; the request goes on once it has.
      engine.request(forwarded.message, request, direction).then(
        (message) => {
          // A retransmission may have started the transaction while the engine was asked.
          if (this.#transactions.absorbed(serverKey)) return;
          if (message === undefined) {
            if (newCall) this.#refuseCall(context, 503, 'Service Unavailable', 'media-engine');
            this.#answers.reply(request, flow, 503, 'Service Unavailable');
            return;
          }
          forwarded.message = message;
          start();
        },
        (error: unknown) => this.#log.error({ err: error }, 'media engine failed'),
      );
      return;
    }
    start();
  }

  /** A routed request, its descriptions rewritten: a new transaction forwards it. */
  #startForwarding(
    request: SipRequest,
    flow: Flow,
    direction: Direction,
    serverKey: string,
    forwarded: { message: SipRequest; branch: string },
    target: SendTarget,
    alternatives: readonly SendTarget[] | undefined,
    dialog: DialogMatched | 'out-of-dialog',
    newCall: boolean,
    context: RequestContext,
  ): void {
    const transaction = this.#transactions.create(
      request,
      flow,
      direction,
      serverKey,
      forwarded.message,
      forwarded.branch,
      serializeMessage(forwarded.message),
      target,
      alternatives,
    );
    // Topology hiding: the Via fields the forwarded request went without, for its responses.
    transaction.hiddenVias = this.#router.hiddenVias(request, direction !== 'upstream');
    // Forwarded: only now does the request count in its dialog (CSeq, session timer).
    if (typeof dialog === 'object') {
      this.#dialogs.commit(dialog);
      if (request.method === 'BYE' && dialog.dialog.method === 'INVITE') {
        this.#calls.byeForwarded(dialog.dialog, dialog.fromCaller);
      }
    }
    this.stats.requestsForwarded++;
    if (request.method === 'REGISTER' && direction === 'client')
      this.#registrations?.forwarded(request, flow, identityOf(context));
    transaction.start();
    if (newCall) {
      if (direction === 'client') this.#dialogs.callForwarded(request);
      this.#calls.inviteForwarded(context);
    }
  }

  /** The core's own refusal of a call attempt (stage `core`), for its record. */
  #refuseCall(context: RequestContext, status: number, reason: string, rule: string): void {
    const refusal: CallRefusal = { stage: 'core', rule, status, reason };
    this.#calls.inviteRefused(context, refusal);
  }

  #onAck(ack: SipRequest, flow: Flow, serverKey: string, direction: Direction): void {
    if (this.#transactions.absorbedAck(serverKey)) return;
    if (this.#answers.isAckOfLocalAnswer(ack)) return;
    // An ACK for a 2xx is end to end: forward it statelessly along the same route (RFC 3261 16.11).
    if (ack.maxForwards === 0) return;
    const dialog = this.#dialogs.check(ack, flow, direction);
    if (dialog === 'refused') return;
    const context = { flow, direction, request: ack, inDialog: ack.to.params.get('tag') !== undefined };
    const inspected = this.#inspector.inspectRequest(context);
    if (inspected instanceof Promise) {
      inspected.then(
        (verdict) => {
          if (verdict.action === 'pass') this.#forwardAck(ack, flow, direction, dialog);
        },
        (error: unknown) => this.#log.error({ err: error }, 'request inspection failed'),
      );
      return;
    }
    // An ACK is never answered: any other verdict drops it.
    if (inspected.action === 'pass') this.#forwardAck(ack, flow, direction, dialog);
  }

  #forwardAck(
    ack: SipRequest,
    flow: Flow,
    direction: Direction,
    dialog: DialogMatched | 'out-of-dialog',
  ): void {
    const fromUpstream = direction === 'upstream';
    const routed = this.#router.route(ack, fromUpstream, flow);
    if (!routed.ok) return;
    if (fromUpstream && this.#nat?.failed(routed.target, 'ACK') === true) return;
    if (typeof dialog === 'object') {
      this.#dialogs.commit(dialog);
      // The caller knew the To tag of the 2xx sent to its address: it is served, not spoofed.
      if (direction === 'client') this.#admission.served(flow.remoteAddress);
    }
    let message = this.#router.prepareAck(routed.request, ack, flow, routed.target, fromUpstream);
    if (this.#sessions !== undefined) message = this.#sessions.request(message, ack, direction, flow);
    if (this.#engine?.handles(message)) {
      // An answer in an ACK: forwarded as it is if the engine fails (an ACK is never refused).
      const original = message;
      this.#engine.request(message, ack, direction).then(
        (rewritten) => {
          this.stats.requestsForwarded++;
          this.#answers.send(routed.target, serializeMessage(rewritten ?? original));
        },
        (error: unknown) => this.#log.error({ err: error }, 'media engine failed'),
      );
      return;
    }
    this.stats.requestsForwarded++;
    this.#answers.send(routed.target, serializeMessage(message));
  }

  /** A response from the target of a transaction in progress: checked, then forwarded by its transaction. */
  #onResponse(transaction: ProxyTransaction, response: SipResponse, flow: Flow): void {
    // Topology hiding: what the request went without comes back before our Via comes off.
    const received = this.#router.restoreResponse(
      response,
      transaction.hiddenVias,
      transaction.direction === 'client',
    );
    let forwarded = this.#router.prepareResponse(received);
    if (forwarded === undefined) {
      this.stats.strayResponses++;
      return;
    }
    if (this.#sessions !== undefined)
      forwarded = this.#sessions.response(forwarded, transaction.direction, flow);
    if (this.#engine?.handles(forwarded)) {
      this.#engine.response(forwarded, transaction.direction).then(
        (rewritten) => this.#forwardResponse(transaction, rewritten, flow),
        (error: unknown) => this.#log.error({ err: error }, 'media engine failed'),
      );
      return;
    }
    this.#forwardResponse(transaction, forwarded, flow);
  }

  #forwardResponse(transaction: ProxyTransaction, forwarded: SipResponse, flow: Flow): void {
    const request = transaction.request;
    if (request) {
      const context = {
        flow: transaction.serverFlow,
        direction: transaction.direction,
        request,
        inDialog: false,
      };
      if (this.#inspector.inspectResponse(context, forwarded).action !== 'pass') return;
      this.#dialogs.onResponse(request, forwarded, transaction.serverFlow, transaction.direction, flow);
      // A phone's registration answered: the flow it came over is one to keep open.
      if (
        this.#nat !== undefined &&
        request.method === 'REGISTER' &&
        transaction.direction === 'client' &&
        forwarded.status >= 200 &&
        forwarded.status < 300
      ) {
        this.#nat.registerAnswered(request, forwarded, transaction.serverFlow, transaction.target);
      }
    }
    // Topology hiding, once the checks and the dialog have seen the response as it is.
    forwarded = this.#router.hideResponse(
      forwarded,
      transaction.direction === 'upstream',
      transaction.serverFlow.transport,
    );
    if (request?.method === 'REGISTER' && transaction.direction === 'client')
      this.#registrations?.answered(request, transaction.serverFlow, forwarded);
    this.stats.responsesForwarded++;
    transaction.onResponse(forwarded, serializeMessage(forwarded));
  }

  /** RFC 6026: a 2xx retransmission after its INVITE transaction ended goes on statelessly. */
  #forwardAcceptedRetransmission(
    response: SipResponse,
    target: SendTarget,
    flow: Flow,
    side: Direction,
    hiddenVias: HiddenVias | undefined,
  ): boolean {
    const received = this.#router.restoreResponse(response, hiddenVias, side === 'upstream');
    let forwarded = this.#router.prepareResponse(received);
    if (forwarded === undefined) return false;
    // The same answer as the first 2xx carried, relays' addresses in place.
    if (this.#sessions !== undefined)
      forwarded = this.#sessions.response(forwarded, side === 'client' ? 'upstream' : 'client', flow);
    forwarded = this.#router.hideResponse(forwarded, side === 'client', target.transport);
    if (this.#engine?.handles(forwarded)) {
      this.#engine.response(forwarded, side === 'client' ? 'upstream' : 'client').then(
        (rewritten) => {
          this.stats.responsesForwarded++;
          this.#answers.send(target, serializeMessage(rewritten));
        },
        (error: unknown) => this.#log.error({ err: error }, 'media engine failed'),
      );
      return true;
    }
    this.stats.responsesForwarded++;
    this.#answers.send(target, serializeMessage(forwarded));
    return true;
  }

  #answerOptions(request: SipRequest, flow: Flow): void {
    this.#answers.reply(request, flow, 200, 'OK', [
      { name: 'Allow', value: ALLOW },
      { name: 'Accept', value: 'application/sdp' },
      { name: 'Supported', value: 'path, outbound' },
    ]);
  }
}

/** The user sipwarden proved a request was sent by (authenticate mode local), as `user@domain`. */
function identityOf(context: RequestContext): string | undefined {
  const identity = context.identity;
  return identity === undefined ? undefined : `${identity.user}@${identity.domain}`;
}

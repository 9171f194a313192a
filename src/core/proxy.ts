import type { Logger } from '../log/logger.ts';
import { appendHeader, prependHeader, removeFirstValue, setHeader } from '../sip/edit.ts';
import { formatVia } from '../sip/headers/via.ts';
import type { ParserLimits } from '../sip/limits.ts';
import type { SipMessage, SipRequest, SipResponse, SipUri, Via } from '../sip/message.ts';
import { type PartialMessage, parseMessage } from '../sip/parse.ts';
import { createResponse, createResponseFromPartial } from '../sip/response.ts';
import { serializeMessage } from '../sip/serialize.ts';
import { validateMessage } from '../sip/validate.ts';
import { warningHeader } from '../sip/warning.ts';
import type { Flow, InboundMessage, SendTarget, TransportLayer, TransportName } from '../transport/types.ts';
import { detach } from '../util/detach.ts';
import { StringTable } from '../util/string-table.ts';
import { type DialogMatched, DialogTable, partyOf } from './dialog/dialog-table.ts';
import { type Direction, type MessageInspector, PASS_ALL, type Verdict } from './inspector.ts';
import { FlowTokenCodec } from './route/flow-token.ts';
import { type AdvertisedAddress, hostForUri, LocalIdentity } from './route/local-identity.ts';
import { withOwnVia } from './route/own-via.ts';
import { capRegisterExpires } from './route/register-expires.ts';
import { firstRouteUri, routeValues } from './route/routes.ts';
import {
  computeLoopHash,
  loopHashOf,
  MAGIC_COOKIE,
  newBranch,
  statelessBranch,
} from './transaction/branch.ts';
import { LingerQueue } from './transaction/linger-queue.ts';
import { flowTarget, ProxyTransaction, type TransactionHost } from './transaction/proxy-transaction.ts';
import { buildAck, buildCancel } from './transaction/request-builders.ts';
import { RFC3261_TIMERS, type TimerSettings } from './transaction/timers.ts';
import { TombstoneTable } from './transaction/tombstones.ts';

export interface ProxySettings {
  /** The protected service: every request from the untrusted side goes here and nowhere else. */
  readonly upstream: { readonly transport: TransportName; readonly address: string; readonly port: number };
  /** Further source addresses whose requests count as coming from the upstream side. */
  readonly upstreamSources?: readonly string[];
  /** Addresses written in Via/Record-Route/Path, per transport, for the client side. */
  readonly clientFacing: Partial<Record<TransportName, AdvertisedAddress>>;
  /** Address written in Via/Record-Route/Path toward the upstream. */
  readonly upstreamFacing: AdvertisedAddress;
  /** Hosts and ports that are sipwarden itself (Route entries, OPTIONS health checks). */
  readonly localHosts: readonly string[];
  readonly localPorts: readonly number[];
  readonly udpLimits: ParserLimits;
  readonly streamLimits: ParserLimits;
  readonly maxForwards: number;
  readonly recordRoute: boolean;
  /** Transactions in progress at once (before their final response); beyond it new requests get 503. */
  readonly maxTransactions: number;
  /**
   * Finished transactions kept to absorb retransmissions (for 64*T1 on UDP). Beyond it the
   * oldest ends early: it could only have absorbed a late retransmission. Default maxTransactions.
   */
  readonly maxLingeringTransactions?: number;
  readonly answerOptions: boolean;
  readonly timers?: TimerSettings;
  /** Dialogs tracked at once; the oldest gives way beyond it. */
  readonly maxDialogs?: number;
  /** A dialog with no in-dialog request for this long is forgotten (the session timeout). */
  readonly sessionTimeoutMs?: number;
  /** REGISTER lifetimes above this many seconds are shortened to it. */
  readonly maxRegisterExpires?: number;
  /** Signs flow tokens; random per process unless several nodes must share it. */
  readonly secret: Buffer;
}

export interface ProxyStats {
  messagesIn: number;
  requestsForwarded: number;
  responsesForwarded: number;
  retransmissionsAbsorbed: number;
  malformed: number;
  rejected: number;
  strayResponses: number;
  transactions: number;
  dialogs: number;
  dialogRefusals: number;
}

/** Methods whose 2xx creates a dialog we track (RFC 3261 12.1, RFC 6665). */
const DIALOG_CREATING = new Set(['INVITE', 'SUBSCRIBE']);

/** Methods that never create a dialog, so their requests are not record-routed. */
const NO_RECORD_ROUTE = new Set(['REGISTER', 'CANCEL', 'ACK', 'OPTIONS', 'MESSAGE', 'PUBLISH']);
const ALLOW =
  'INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, MESSAGE, SUBSCRIBE, NOTIFY, REFER, INFO, UPDATE, PRACK, PUBLISH';

/**
 * A transaction-stateful proxy (RFC 3261 sections 16 and 17) that forwards every request
 * from the untrusted side to the one configured upstream, whatever its Request-URI or
 * Route headers name, and every request from the upstream to the client flow named by the
 * signed token in our own Route entry. Responses go back where the request came from.
 */
export class SipProxy {
  readonly #settings: ProxySettings;
  readonly #transport: TransportLayer;
  readonly #log: Logger;
  readonly #identity: LocalIdentity;
  readonly #tokens: FlowTokenCodec;
  /** Keys the stateless ACK branches: the secret as text, made once. */
  readonly #branchKey: string;
  readonly #upstreamTarget: SendTarget;
  readonly #upstreamSources: ReadonlySet<string>;
  readonly #byServerKey = new StringTable<ProxyTransaction>();
  readonly #byClientKey = new StringTable<ProxyTransaction>();
  /** Finished transactions still absorbing retransmissions: tombstones, off the heap ... */
  readonly #tombstones: TombstoneTable;
  /** ... or whole objects, for what a tombstone does not hold (a non-2xx INVITE awaiting its ACK). */
  readonly #lingering: LingerQueue<ProxyTransaction>;
  readonly #host: TransactionHost;
  readonly #inspector: MessageInspector;
  readonly stats: ProxyStats = {
    messagesIn: 0,
    requestsForwarded: 0,
    responsesForwarded: 0,
    retransmissionsAbsorbed: 0,
    malformed: 0,
    rejected: 0,
    strayResponses: 0,
    transactions: 0,
    dialogs: 0,
    dialogRefusals: 0,
  };
  readonly #dialogs: DialogTable;
  readonly #sweepTimer: NodeJS.Timeout;

  constructor(
    settings: ProxySettings,
    transport: TransportLayer,
    log: Logger,
    inspector: MessageInspector = PASS_ALL,
  ) {
    this.#settings = settings;
    this.#inspector = inspector;
    const maxLingering = settings.maxLingeringTransactions ?? Math.min(settings.maxTransactions, 1_000_000);
    this.#tombstones = new TombstoneTable({ maxSize: maxLingering });
    this.#lingering = new LingerQueue({ maxSize: maxLingering });
    this.#dialogs = new DialogTable({
      maxDialogs: settings.maxDialogs ?? 100_000,
      // RFC 4028 leaves it to policy; 12 h is the field's common signal timeout.
      sessionTimeoutMs: settings.sessionTimeoutMs ?? 43_200_000,
    });
    this.#sweepTimer = setInterval(() => {
      this.#dialogs.sweep(Date.now());
      this.stats.dialogs = this.#dialogs.size;
    }, 10_000);
    this.#sweepTimer.unref();
    this.#transport = transport;
    this.#log = log;
    this.#identity = new LocalIdentity(settings.localHosts, settings.localPorts);
    this.#tokens = new FlowTokenCodec(settings.secret);
    this.#branchKey = settings.secret.toString('base64');
    this.#upstreamTarget = { ...settings.upstream };
    this.#upstreamSources = new Set(settings.upstreamSources ?? []);
    const timers = settings.timers ?? RFC3261_TIMERS;
    this.#host = {
      timers,
      log,
      send: (target, data) => this.#send(target, data),
      respond: (request, status, reason) => serializeMessage(createResponse(request, status, reason)),
      buildCancel,
      buildAck,
      completed: (t, request, status) => {
        if (
          request.method === 'BYE' &&
          ((status >= 200 && status < 300) || status === 481 || status === 408)
        ) {
          this.#endDialog(request, t.direction);
        }
        this.#inspector.outcome({ flow: t.serverFlow, direction: t.direction, request, status });
      },
      linger: (t, ms) => {
        if (this.#entomb(t, ms)) t.terminate();
        else this.#lingering.add(t, ms);
      },
      terminated: (t) => {
        this.#lingering.delete(t);
        if (this.#byServerKey.get(t.serverKey) === t) this.#byServerKey.delete(t.serverKey);
        if (this.#byClientKey.get(t.clientKey) === t) this.#byClientKey.delete(t.clientKey);
        this.stats.transactions = this.#byServerKey.size + this.#tombstones.size;
      },
    };
  }

  /** Entry point for every inbound message; never throws. */
  handle = (inbound: InboundMessage): void => {
    this.stats.messagesIn++;
    try {
      this.#handle(inbound);
    } catch (error) {
      // A bug must cost one message, not the process.
      this.#log.error({ err: error, flow: inbound.flow }, 'internal error while handling a message');
    }
  };

  /** Ends every transaction (on shutdown). */
  close(): void {
    clearInterval(this.#sweepTimer);
    this.#lingering.clear();
    this.#tombstones.clear();
    for (const t of this.#byServerKey.valuesSnapshot()) t.terminate();
  }

  /** Transactions held, in progress and lingering. */
  get transactionCount(): number {
    return this.#byServerKey.size + this.#tombstones.size;
  }

  /** Finished transactions kept to absorb retransmissions. */
  get lingeringCount(): number {
    return this.#lingering.size + this.#tombstones.size;
  }

  get dialogCount(): number {
    return this.#dialogs.size;
  }

  #handle(inbound: InboundMessage): void {
    const { flow } = inbound;
    const direction: Direction = this.#isFromUpstream(flow) ? 'upstream' : 'client';
    const packet = { flow, data: inbound.data, direction };
    // The cheapest checks run before any parsing: a blocked source costs a lookup.
    const admitted = this.#inspector.admit(packet);
    if (admitted.action === 'drop') return;
    const limits = flow.transport === 'udp' ? this.#settings.udpLimits : this.#settings.streamLimits;
    const parsed = parseMessage(inbound.data, limits);
    if (!parsed.ok || inbound.framingError !== undefined) {
      this.stats.malformed++;
      // A stream message that could not be framed: its head was read only to answer it.
      const error = inbound.framingError ?? (parsed.ok ? undefined : parsed.error)!;
      const partial: PartialMessage | undefined = parsed.ok ? partialOf(parsed.message) : parsed.partial;
      // A malformed request gets the error's status (400, 513...) with a Warning saying what
      // was wrong (RFC 3261 20.43), built from the fields that can be read; a request that
      // cannot be answered, and a malformed response, is dropped.
      const answer =
        partial === undefined
          ? undefined
          : createResponseFromPartial(partial, error.status, error.reason, {
              headers: [warningHeader(error.reason)],
            });
      this.#log.debug({ code: error.code, reason: error.reason, flow }, 'malformed message');
      if (this.#inspector.malformed(packet, error, answer !== undefined).action === 'drop') return;
      if (answer !== undefined) {
        this.stats.rejected++;
        this.#send(flowTarget(flow), answer);
      }
      return;
    }
    const message = parsed.message;
    if (admitted.action === 'reject') {
      if (message.kind === 'request' && message.method !== 'ACK') this.#applyVerdict(message, flow, admitted);
      return;
    }
    const verdict = validateMessage(message);
    if (!verdict.ok) {
      this.stats.malformed++;
      this.#log.debug({ code: verdict.code, reason: verdict.reason, flow }, 'invalid message');
      const answerable = message.kind === 'request' && message.method !== 'ACK';
      if (this.#inspector.malformed(packet, verdict, answerable).action === 'drop') return;
      if (answerable) {
        // RFC 3261 20.43: a Warning says what was wrong, for the engineer reading a trace.
        this.#reply(message, flow, verdict.status, verdict.reason, [warningHeader(verdict.reason)]);
      }
      return;
    }
    if (message.kind === 'response') this.#onResponse(message, flow);
    else this.#onRequest(message, flow, direction);
  }

  /** Carries out a non-pass verdict on a request. */
  #applyVerdict(request: SipRequest, flow: Flow, verdict: Verdict): void {
    if (verdict.action === 'reject')
      this.#reply(request, flow, verdict.status, verdict.reason, verdict.headers);
  }

  #isFromUpstream(flow: Flow): boolean {
    const up = this.#settings.upstream;
    if (flow.remoteAddress === up.address) {
      if (flow.remotePort === up.port) return true;
      // Over TCP and TLS the upstream sends its requests (calls to phones, along the Path) on
      // a connection it opens itself, from a port of its choosing (RFC 3261 18.1.1): from
      // its address, a stream is the upstream's when we reach it over a stream too.
      if (flow.transport !== 'udp' && up.transport !== 'udp') return true;
    }
    return this.#upstreamSources.has(flow.remoteAddress);
  }

  #onRequest(request: SipRequest, flow: Flow, direction: Direction): void {
    const topVia = request.via[0]!;
    const serverKey = serverTransactionKey(request, topVia, flow);

    if (request.method === 'ACK') return this.#onAck(request, flow, serverKey, direction);
    if (this.#absorbed(serverKey)) return;

    const dialog = this.#checkDialog(request, flow, direction);
    if (dialog === 'refused') return;
    const inDialog = typeof dialog === 'object';
    const context = {
      flow,
      direction,
      request,
      inDialog,
      ...(request.method === 'INVITE' && direction === 'client' && !inDialog
        ? { activeDialogs: this.#dialogs.countFor(identityOf(request)) }
        : {}),
    };
    const inspected = this.#inspector.inspectRequest(context);
    if (inspected instanceof Promise) {
      inspected.then(
        (verdict) => {
          // A retransmission may have started the transaction while the check was pending.
          if (this.#absorbed(serverKey)) return;
          this.#continueRequest(request, flow, direction, serverKey, topVia, verdict, dialog);
        },
        (error: unknown) => this.#log.error({ err: error }, 'request inspection failed'),
      );
      return;
    }
    this.#continueRequest(request, flow, direction, serverKey, topVia, inspected, dialog);
  }

  /**
   * RFC 3261 12.2: a request with a To tag claims a dialog. From the client side it must
   * match one we know and come from one of its parties, with a growing CSeq; otherwise it
   * is refused (481, or 500 for a CSeq out of order, RFC 3261 12.2.2). The upstream side is
   * trusted to speak of dialogs we may not know (after a restart, say). A match changes
   * nothing yet: the caller commits it once the request is forwarded.
   */
  #checkDialog(
    request: SipRequest,
    flow: Flow,
    direction: Direction,
  ): DialogMatched | 'out-of-dialog' | 'refused' {
    const toTag = request.to.params.get('tag');
    if (toTag === undefined || toTag === null || request.method === 'CANCEL') return 'out-of-dialog';
    const match = this.#dialogs.match(
      {
        callId: request.callId,
        fromTag: request.from.params.get('tag') ?? '',
        toTag,
        cseq: request.cseq.seq,
        method: request.method,
      },
      flow,
      direction,
      Date.now(),
    );
    if (match.ok) return match;
    if (direction === 'upstream') return 'out-of-dialog';
    this.stats.dialogRefusals++;
    const outOfOrder = match.reason === 'cseq-not-increasing';
    const status = request.method === 'ACK' ? undefined : outOfOrder ? 500 : 481;
    const reason = outOfOrder
      ? 'CSeq Out Of Order'
      : match.reason === 'wrong-party'
        ? 'Not A Party Of This Dialog'
        : 'Call/Transaction Does Not Exist';
    this.#inspector.refused({
      flow,
      direction,
      kind: 'dialog',
      code: match.reason,
      reason,
      method: request.method,
      ...(status === undefined ? {} : { status }),
    });
    if (status !== undefined) this.#reply(request, flow, status, reason);
    return 'refused';
  }

  /** A 2xx to an initial INVITE or SUBSCRIBE confirms a dialog between the two flows. */
  #createDialog(
    request: SipRequest,
    response: SipResponse,
    serverFlow: Flow,
    direction: Direction,
    responseFlow: Flow,
  ): void {
    const fromTag = request.from.params.get('tag');
    const toTag = response.to.params.get('tag');
    if (!fromTag || !toTag || request.to.params.get('tag') !== undefined) return;
    this.#dialogs.create({
      callId: request.callId,
      fromTag,
      toTag,
      method: request.method,
      caller: partyOf(serverFlow, direction),
      callee: partyOf(responseFlow, direction === 'client' ? 'upstream' : 'client'),
      identity: identityOf(request),
      callerCSeq: request.cseq.seq,
      now: Date.now(),
    });
    this.stats.dialogs = this.#dialogs.size;
  }

  /** A BYE sent from `direction` was answered (2xx, 481 or 408): the leg it travelled on ends. */
  #endDialog(request: SipRequest, direction: Direction): void {
    const fromTag = request.from.params.get('tag');
    const toTag = request.to.params.get('tag');
    if (!fromTag || !toTag) return;
    this.#dialogs.end({ callId: request.callId, fromTag, toTag }, direction);
    this.stats.dialogs = this.#dialogs.size;
  }

  /** A retransmission of a request whose transaction exists: absorbed, answered from the transaction. */
  #absorbed(serverKey: string): boolean {
    const existing = this.#byServerKey.get(serverKey);
    if (existing) {
      this.stats.retransmissionsAbsorbed++;
      existing.onRequestRetransmission();
      return true;
    }
    const slot = this.#tombstones.findServer(serverKey);
    if (slot < 0) return false;
    this.stats.retransmissionsAbsorbed++;
    // A non-INVITE's final response is repeated (Timer J); an accepted INVITE's retransmission is
    // only absorbed: its 2xx is the UAS's to repeat, end to end (RFC 6026 section 7.1).
    const response = this.#tombstones.response(slot);
    if (response) this.#send(this.#tombstones.serverTarget(slot), response);
    return true;
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
      },
      ms,
    );
  }

  #continueRequest(
    request: SipRequest,
    flow: Flow,
    direction: Direction,
    serverKey: string,
    topVia: Via,
    verdict: Verdict,
    dialog: DialogMatched | 'out-of-dialog',
  ): void {
    if (verdict.action !== 'pass') return this.#applyVerdict(request, flow, verdict);

    if (request.method === 'CANCEL') {
      this.#onCancel(request, flow, topVia);
      return;
    }

    // RFC 3261 16.3 item 2: Max-Forwards 0 ends here, except OPTIONS which we may answer ourselves.
    const selfOptions =
      request.method === 'OPTIONS' && this.#settings.answerOptions && this.#isAddressedToUs(request);
    if (selfOptions) {
      this.#answerOptions(request, flow);
      return;
    }
    if (request.maxForwards === 0) {
      this.#reply(request, flow, 483, 'Too Many Hops');
      return;
    }

    // RFC 3261 16.3 item 4: a request carrying our own Via with an unchanged hash is a loop.
    if (this.#isLoop(request)) {
      this.#reply(request, flow, 482, 'Loop Detected');
      return;
    }

    const fromUpstream = direction === 'upstream';
    const routed = this.#route(request, fromUpstream, flow);
    if (!routed.ok) {
      this.#reply(request, flow, routed.status, routed.reason);
      return;
    }

    // Only transactions in progress count: finished ones lingering to absorb retransmissions
    // would otherwise fill the table at a steady 1,600 calls/s (two per call, for 32 s each).
    if (this.#byServerKey.size - this.#lingering.size >= this.#settings.maxTransactions) {
      this.#log.warn(
        { limit: this.#settings.maxTransactions },
        'transaction table full: refusing new requests',
      );
      this.#reply(request, flow, 503, 'Service Unavailable', [{ name: 'Retry-After', value: '5' }]);
      return;
    }

    const forwarded = this.#prepareForward(
      routed.request,
      request,
      flow,
      routed.target,
      fromUpstream,
      routed.clientFlow,
    );
    const bytes = serializeMessage(forwarded.message);
    const transaction = new ProxyTransaction(
      this.#host,
      // Copies: keys cut from the message would keep its whole text while the transaction lingers.
      { server: detach(serverKey), client: detach(forwarded.branch + '|' + request.cseq.method) },
      request,
      flow,
      direction,
      forwarded.message,
      bytes,
      routed.target,
    );
    this.#byServerKey.set(transaction.serverKey, transaction);
    this.#byClientKey.set(transaction.clientKey, transaction);
    this.stats.transactions = this.#byServerKey.size + this.#tombstones.size;
    // Forwarded: only now does the request count in its dialog (CSeq, session timer).
    if (typeof dialog === 'object') this.#dialogs.commit(dialog, Date.now());
    this.stats.requestsForwarded++;
    transaction.start();
  }

  /**
   * Where a request goes. From the untrusted side: the upstream, always (not an open
   * relay). From the upstream: the client flow named by the signed token in our Route
   * entry (a dialog's Record-Route or a registration's Path), never an address merely
   * written in the message.
   */
  #route(
    request: SipRequest,
    fromUpstream: boolean,
    flow: Flow,
  ):
    | { ok: true; request: SipRequest; target: SendTarget; clientFlow: Flow | SendTarget }
    | { ok: false; status: number; reason: string } {
    let current = request;
    let token: string | undefined;
    // RFC 3261 16.4: remove the Route entries that name us (two when we double record-routed).
    for (let i = 0; i < 4; i++) {
      const uri = firstRouteUri(current);
      if (!uri || !this.#isOurUri(uri)) break;
      token ??= uri.user;
      current = removeFirstValue(current, 'route');
    }
    if (!fromUpstream) return { ok: true, request: current, target: this.#upstreamTarget, clientFlow: flow };
    if (!token) return { ok: false, status: 404, reason: 'No Route To Destination' };
    const target = this.#tokens.decode(token);
    if (!target) return { ok: false, status: 403, reason: 'Invalid Flow Token' };
    return { ok: true, request: current, target, clientFlow: target };
  }

  #prepareForward(
    routed: SipRequest,
    original: SipRequest,
    flow: Flow,
    target: SendTarget,
    fromUpstream: boolean,
    clientFlow: Flow | SendTarget,
  ): { message: SipRequest; branch: string } {
    let message: SipRequest = routed;
    // RFC 3581 section 4 and RFC 3261 18.2.1: record where the request really came from.
    message = this.#stampReceived(message, flow);
    // RFC 3261 16.6 item 3.
    const maxForwards = original.maxForwards;
    message =
      maxForwards === undefined
        ? appendHeader(message, 'Max-Forwards', String(this.#settings.maxForwards))
        : setHeader(message, 'Max-Forwards', String(maxForwards - 1));

    const token = this.#tokens.encode(asFlow(clientFlow));
    const inwardFacing = fromUpstream ? this.#upstreamFacing() : this.#clientFacing(flow.transport);
    const outwardFacing = fromUpstream ? this.#clientFacing(target.transport) : this.#upstreamFacing();
    const initial = original.to.params.get('tag') === undefined;
    if (this.#settings.recordRoute && initial && !NO_RECORD_ROUTE.has(original.method)) {
      // RFC 3261 16.6 item 4, RFC 5658: the entry facing the receiver goes on top; a second
      // entry for the other interface when host, port or transport differ.
      if (!sameAddress(inwardFacing, outwardFacing)) {
        message = prependHeader(message, 'Record-Route', routeUri(token, inwardFacing));
      }
      message = prependHeader(message, 'Record-Route', routeUri(token, outwardFacing));
    }
    if (original.method === 'REGISTER' && !fromUpstream && this.#settings.maxRegisterExpires !== undefined) {
      message = capRegisterExpires(message, this.#settings.maxRegisterExpires);
    }
    if (original.method === 'REGISTER' && !fromUpstream) {
      // RFC 3327: requests for this registration come back through us, over this flow.
      message = prependHeader(message, 'Path', routeUri(token, this.#upstreamFacing(), ';ob'));
    }
    // Over the request as it leaves (our Route entries gone): a looped copy arrives with the same fields.
    const loopHash = computeLoopHash(loopFields(routed));
    const branch = newBranch(loopHash);
    return { message: withOwnVia(message, outwardFacing, branch), branch };
  }

  #stampReceived(message: SipRequest, flow: Flow): SipRequest {
    const top = message.via[0]!;
    const wantsRport = top.params.has('rport');
    const hostDiffers = stripBrackets(top.host) !== flow.remoteAddress;
    if (!wantsRport && !hostDiffers) return message;
    const params = new Map(top.params);
    params.set('received', flow.remoteAddress);
    if (wantsRport) params.set('rport', String(flow.remotePort));
    const stamped: Via = { ...top, params };
    return prependHeader(removeFirstValue(message, 'via'), 'Via', formatVia(stamped));
  }

  #onAck(ack: SipRequest, flow: Flow, serverKey: string, direction: Direction): void {
    const invite = this.#byServerKey.get(serverKey);
    // RFC 3261 17.2.1: an ACK for a non-2xx final ends the INVITE server transaction here.
    if (invite && !invite.accepted) {
      invite.onAck();
      return;
    }
    // An ACK for a 2xx is end to end: forward it statelessly along the same route (RFC 3261 16.11).
    if (ack.maxForwards === 0) return;
    const dialog = this.#checkDialog(ack, flow, direction);
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
    const routed = this.#route(ack, fromUpstream, flow);
    if (!routed.ok) return;
    if (typeof dialog === 'object') this.#dialogs.commit(dialog, Date.now());
    let message = this.#stampReceived(routed.request, flow);
    const maxForwards = ack.maxForwards;
    message =
      maxForwards === undefined
        ? appendHeader(message, 'Max-Forwards', String(this.#settings.maxForwards))
        : setHeader(message, 'Max-Forwards', String(maxForwards - 1));
    const outwardFacing = fromUpstream ? this.#clientFacing(routed.target.transport) : this.#upstreamFacing();
    const branch = statelessBranch(this.#branchKey, ack.via[0]!.branch ?? ack.callId + ack.cseq.seq);
    message = withOwnVia(message, outwardFacing, branch);
    this.stats.requestsForwarded++;
    this.#send(routed.target, serializeMessage(message));
  }

  #onCancel(cancel: SipRequest, flow: Flow, topVia: Via): void {
    // RFC 3261 9.2 and 16.10: CANCEL matches the INVITE with the same branch and sent-by.
    const inviteKey = serverTransactionKey(cancel, topVia, flow, 'INVITE');
    const invite = this.#byServerKey.get(inviteKey);
    if (!invite) {
      // An INVITE already answered 2xx still exists (RFC 6026 Accepted): the CANCEL gets its 200 and does nothing.
      const slot = this.#tombstones.findServer(inviteKey);
      if (slot >= 0 && sameTarget(this.#tombstones.serverTarget(slot), flowTarget(flow))) {
        this.#reply(cancel, flow, 200, 'OK');
        return;
      }
    }
    if (!invite || !sameTarget(invite.serverTarget, flowTarget(flow))) {
      this.#inspector.refused({
        flow,
        direction: this.#isFromUpstream(flow) ? 'upstream' : 'client',
        kind: 'transaction',
        code: 'no-matching-invite',
        reason: 'CANCEL matches no INVITE from this source',
        status: 481,
        method: 'CANCEL',
      });
      this.#reply(cancel, flow, 481, 'Call/Transaction Does Not Exist');
      return;
    }
    this.#reply(cancel, flow, 200, 'OK');
    invite.cancel();
  }

  #onResponse(response: SipResponse, flow: Flow): void {
    const top = response.via[0]!;
    const branch = top.branch;
    if (!branch?.startsWith(MAGIC_COOKIE + 'sw')) {
      this.stats.strayResponses++;
      return;
    }
    const clientKey = branch + '|' + response.cseq.method;
    const transaction = this.#byClientKey.get(clientKey);
    if (!transaction) {
      this.#onFinishedResponse(response, flow, clientKey);
      return;
    }
    // Only the party we sent the request to may answer it (RFC 3261 17.1.3 matches on
    // branch alone; a forged response from a third address must not reach the caller).
    if (!fromTarget(flow, transaction.target)) {
      this.#refuseForeignResponse(response, flow);
      return;
    }
    const stripped = removeFirstValue(response, 'via');
    if (stripped.via.length === 0) {
      this.stats.strayResponses++;
      return;
    }
    const request = transaction.request;
    if (request) {
      const context = {
        flow: transaction.serverFlow,
        direction: transaction.direction,
        request,
        inDialog: false,
      };
      if (this.#inspector.inspectResponse(context, stripped).action !== 'pass') return;
      if (response.status >= 200 && response.status < 300 && DIALOG_CREATING.has(request.method)) {
        this.#createDialog(request, stripped, transaction.serverFlow, transaction.direction, flow);
      }
    }
    this.stats.responsesForwarded++;
    transaction.onResponse(stripped, serializeMessage(stripped));
  }

  /** A response for a finished transaction: a 2xx to an INVITE goes on while Accepted lasts (RFC 6026). */
  #onFinishedResponse(response: SipResponse, flow: Flow, clientKey: string): void {
    const slot = this.#tombstones.findClient(clientKey);
    if (slot < 0) {
      // Responses to our own CANCEL, or late retransmissions: nothing to forward.
      this.stats.strayResponses++;
      return;
    }
    if (!this.#tombstones.isFromClientTarget(slot, flow)) {
      this.#refuseForeignResponse(response, flow);
      return;
    }
    const accepted = this.#tombstones.isInvite(slot) && response.status >= 200 && response.status < 300;
    const stripped = accepted ? removeFirstValue(response, 'via') : undefined;
    if (stripped === undefined || stripped.via.length === 0) {
      this.stats.retransmissionsAbsorbed++;
      return;
    }
    this.stats.responsesForwarded++;
    this.#send(this.#tombstones.serverTarget(slot), serializeMessage(stripped));
  }

  #refuseForeignResponse(response: SipResponse, flow: Flow): void {
    this.stats.strayResponses++;
    this.#inspector.refused({
      flow,
      direction: this.#isFromUpstream(flow) ? 'upstream' : 'client',
      kind: 'transaction',
      code: 'response-from-wrong-address',
      reason: 'response from an address its request was not sent to',
      method: response.cseq.method,
    });
    this.#log.debug({ flow }, 'response from an address the request was not sent to');
  }

  #answerOptions(request: SipRequest, flow: Flow): void {
    this.#reply(request, flow, 200, 'OK', [
      { name: 'Allow', value: ALLOW },
      { name: 'Accept', value: 'application/sdp' },
      { name: 'Supported', value: 'path, outbound' },
    ]);
  }

  #reply(
    request: SipRequest,
    flow: Flow,
    status: number,
    reason: string,
    headers?: readonly { name: string; value: string }[],
  ): void {
    if (status >= 300) this.stats.rejected++;
    const response = createResponse(request, status, reason, {
      ...(status > 100 ? { toTag: localTag(request) } : {}),
      ...(headers ? { headers } : {}),
    });
    this.#send(flowTarget(flow), serializeMessage(response));
  }

  #send(target: SendTarget, data: Buffer): void {
    // The transport logs and counts failures; a failed send never throws.
    this.#transport.sendNow(target, data);
  }

  #isAddressedToUs(request: SipRequest): boolean {
    const uri = request.uri;
    if (uri.scheme !== 'sip' && uri.scheme !== 'sips') return false;
    const sipUri = uri as SipUri;
    if (sipUri.user !== undefined) return false;
    if (!this.#isOurUri(sipUri)) return false;
    // Only when no Route sends it elsewhere.
    const route = firstRouteUri(request);
    return !route || this.#isOurUri(route);
  }

  #isOurUri(uri: SipUri): boolean {
    return this.#identity.isLocal(uri.host, uri.port, uri.scheme === 'sips');
  }

  #isLoop(request: SipRequest): boolean {
    for (const via of request.via) {
      if (!via.branch) continue;
      const hash = loopHashOf(via.branch);
      if (hash === undefined || !this.#identity.isLocal(via.host, via.port)) continue;
      if (hash === computeLoopHash(loopFields(request))) return true;
    }
    return false;
  }

  #clientFacing(transport: TransportName): AdvertisedAddress {
    return this.#settings.clientFacing[transport] ?? this.#settings.upstreamFacing;
  }

  #upstreamFacing(): AdvertisedAddress {
    return this.#settings.upstreamFacing;
  }
}

/**
 * RFC 3261 16.6 item 8 hashes the top Via too; a looped request arrives with our Via on
 * top instead, so the hash leaves Via out and keeps the fields that decide routing.
 */
/**
 * RFC 3261 17.2.3: branch, sent-by and method (ACK matches INVITE); RFC 2543 peers fall back
 * to the request's identity. The flow it arrived on is part of the key: a retransmission
 * comes over the same one, and a request with the same Via over another transport or from
 * another source is a transaction of its own, answered over its own connection (RFC 3261
 * 18.2.2), never absorbed into one whose answers go elsewhere (a TCP request sent after the
 * same bytes over UDP got no answer at all). A third party cannot claim or pre-empt a
 * transaction by copying its branch either.
 */
function serverTransactionKey(request: SipRequest, topVia: Via, flow: Flow, methodOverride?: string): string {
  const method = methodOverride ?? (request.method === 'ACK' ? 'INVITE' : request.method);
  const sentBy = `${topVia.host}:${topVia.port ?? ''}`;
  const source = `${flow.transport}|${flow.remoteAddress}|${flow.remotePort}`;
  const branch = topVia.branch;
  if (branch?.startsWith(MAGIC_COOKIE)) return `${branch}|${sentBy}|${method}|${source}`;
  // RFC 3261 17.2.3 fallback for RFC 2543 requests: Request-URI, tags, Call-ID, CSeq number, top Via.
  const fromTag = request.from.params.get('tag') ?? '';
  return `2543|${request.uriText}|${fromTag}|${request.callId}|${request.cseq.seq}|${sentBy}|${method}|${source}`;
}

function loopFields(request: SipRequest): string[] {
  const header = (name: string): string =>
    request.headers
      .filter((h) => h.name === name)
      .map((h) => h.value)
      .join(',');
  return [
    request.uriText,
    request.from.params.get('tag') ?? '',
    request.to.params.get('tag') ?? '',
    request.callId,
    String(request.cseq.seq),
    routeValues(request).join(','),
    header('proxy-require'),
    header('proxy-authorization'),
  ];
}

function routeUri(token: string, address: AdvertisedAddress, extra = ''): string {
  const transport = address.transport === 'udp' ? '' : `;transport=${address.transport}`;
  return `<sip:${token}@${hostForUri(address.host)}:${address.port}${transport};lr${extra}>`;
}

function sameAddress(a: AdvertisedAddress, b: AdvertisedAddress): boolean {
  return a.transport === b.transport && a.host === b.host && a.port === b.port;
}

function sameTarget(a: SendTarget, b: SendTarget): boolean {
  return a.transport === b.transport && a.address === b.address && a.port === b.port;
}

/** A response must arrive over the flow its request left on: same transport, address and port. */
function fromTarget(flow: Flow, target: SendTarget): boolean {
  if (flow.transport !== target.transport || flow.remoteAddress !== target.address) return false;
  if (target.connectionId !== undefined && flow.connectionId !== undefined) {
    return flow.connectionId === target.connectionId;
  }
  return flow.remotePort === target.port;
}

function asFlow(flow: Flow | SendTarget): Flow {
  if ('remoteAddress' in flow) return flow;
  return {
    transport: flow.transport,
    remoteAddress: flow.address,
    remotePort: flow.port,
    localAddress: '',
    localPort: 0,
    ...(flow.connectionId === undefined ? {} : { connectionId: flow.connectionId }),
  };
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** Our To tag on locally generated responses: stable per request so retransmissions get the same answer. */
function localTag(request: SipRequest): string {
  let hash = 2166136261;
  const text = request.callId + request.cseq.seq + (request.via[0]?.branch ?? '');
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 16777619);
  return 'sw' + (hash >>> 0).toString(36);
}

/** Who places a call: the From URI's user@host, lower-cased, for per-identity limits. */
function identityOf(request: SipRequest): string {
  const uri = request.from.uri;
  if (uri.scheme === 'sip' || uri.scheme === 'sips') {
    const sip = uri as SipUri;
    return `${sip.user ?? ''}@${sip.host}`.toLowerCase();
  }
  return request.from.uriText.toLowerCase();
}

/** A parsed message seen as the fields an answer is built from (a framed stream message's head). */
function partialOf(message: SipMessage): PartialMessage {
  return message.kind === 'request'
    ? { kind: 'request', method: message.method, headers: message.headers }
    : { kind: 'response', headers: message.headers };
}

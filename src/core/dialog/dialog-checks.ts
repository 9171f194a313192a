import type { SipRequest, SipResponse, SipUri } from '../../sip/message.ts';
import type { Flow } from '../../transport/types.ts';
import type { DialogEndCause } from '../call-observer.ts';
import type { Direction, MessageInspector } from '../inspector.ts';
import type { LocalAnswers } from '../local-answers.ts';
import type { ProxyStats } from '../proxy-stats.ts';
import { dialogEndpoints } from './dialog-endpoints.ts';
import {
  type Dialog,
  type DialogEndpoints,
  type DialogMatched,
  type DialogReplica,
  DialogTable,
  partyOf,
} from './dialog-table.ts';
import { dialogFromWire, dialogToWire } from './dialog-wire.ts';

/** Methods whose 2xx creates a dialog we track (RFC 3261 12.1, RFC 6665). */
const DIALOG_CREATING = new Set(['INVITE', 'SUBSCRIBE']);

/** How often dialogs past their session timeout are swept, at most (a tenth of the timeout when shorter). */
const SWEEP_INTERVAL_MS = 10_000;

export interface DialogSettings {
  /** Dialogs tracked at once; the oldest gives way beyond it. */
  readonly maxDialogs?: number;
  /**
   * The maximum session length of a call (from its answer; the proxy then ends it with BYE
   * to both parties), and how long another dialog (SUBSCRIBE) lives without a request.
   */
  readonly sessionTimeoutMs?: number;
  /**
   * Where the legs this node confirms and ends are shared with the other nodes (as text,
   * src/core/dialog/dialog-wire.ts); absent on a node of its own.
   */
  readonly dialogReplica?: {
    created(id: string, value: string, expiresAt: number): void;
    ended(id: string): void;
  };
}

/** What the dialog layer asks of the proxy above it. */
export interface DialogHooks {
  /** A leg the table ended itself: timed out (with the same call's other leg, if any) or evicted. */
  ended(dialog: Dialog, cause: DialogEndCause, otherLeg?: Dialog): void;
  /** True when a Record-Route URI is sipwarden's own. */
  isOwnUri(uri: SipUri): boolean;
}

/**
 * The dialog layer the proxy calls: checks each in-dialog request against the dialogs it
 * knows, commits a match once the request is forwarded, and creates and ends dialogs as
 * their final responses go through. A refused request never changes a dialog.
 */
export class DialogChecks {
  /** Calls being set up per caller identity; an entry lives only while its INVITE transactions do. */
  readonly #settingUp = new Map<string, number>();
  readonly #table: DialogTable;
  readonly #answers: LocalAnswers;
  readonly #inspector: MessageInspector;
  readonly #stats: ProxyStats;
  readonly #sweepTimer: NodeJS.Timeout;
  readonly #isOwnUri: (uri: SipUri) => boolean;

  constructor(
    settings: DialogSettings,
    answers: LocalAnswers,
    inspector: MessageInspector,
    stats: ProxyStats,
    hooks: DialogHooks,
  ) {
    this.#answers = answers;
    this.#inspector = inspector;
    this.#stats = stats;
    this.#isOwnUri = hooks.isOwnUri;
    // RFC 4028 leaves it to policy; 12 h is the field's common signal timeout.
    const sessionTimeoutMs = settings.sessionTimeoutMs ?? 43_200_000;
    const shared = settings.dialogReplica;
    const replica: DialogReplica | undefined =
      shared === undefined
        ? undefined
        : {
            created: (id, snapshot) => shared.created(id, dialogToWire(snapshot), snapshot.expiresAt),
            ended: (id) => shared.ended(id),
          };
    this.#table = new DialogTable({
      maxDialogs: settings.maxDialogs ?? 100_000,
      sessionTimeoutMs,
      onEnded: (dialog, cause, otherLeg) => hooks.ended(dialog, cause, otherLeg),
      ...(replica === undefined ? {} : { replica }),
    });
    this.#sweepTimer = setInterval(
      () => {
        this.#table.sweep(Date.now());
        this.#stats.dialogs = this.#table.size;
      },
      Math.max(100, Math.min(SWEEP_INTERVAL_MS, sessionTimeoutMs / 10)),
    );
    this.#sweepTimer.unref();
  }

  get size(): number {
    return this.#table.size;
  }

  get callCount(): number {
    return this.#table.callCount;
  }

  recentCalls(limit: number): Dialog[] {
    return this.#table.recentCalls(limit);
  }

  /**
   * RFC 3261 12.2: a request with a To tag claims a dialog. From the client side it must
   * match one we know and come from one of its parties, with a growing CSeq; otherwise it
   * is refused (481, or 500 for a CSeq out of order, RFC 3261 12.2.2). The upstream side is
   * trusted to speak of dialogs we may not know (after a restart, say). A match changes
   * nothing yet: the caller commits it once the request is forwarded.
   */
  check(request: SipRequest, flow: Flow, direction: Direction): DialogMatched | 'out-of-dialog' | 'refused' {
    const toTag = request.to.params.get('tag');
    if (toTag === undefined || toTag === null || request.method === 'CANCEL') return 'out-of-dialog';
    const match = this.#table.match(
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
    this.#stats.dialogRefusals++;
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
    if (status !== undefined) this.#answers.reply(request, flow, status, reason);
    return 'refused';
  }

  /** A leg another node confirmed (its text as `dialogReplica` wrote it); false when refused. */
  adopt(id: string, value: string): boolean {
    const snapshot = dialogFromWire(value);
    if (snapshot === undefined) return false;
    this.#table.adopt(id, snapshot, Date.now());
    this.#stats.dialogs = this.#table.size;
    return true;
  }

  /** Another node ended a leg. */
  forget(id: string): void {
    this.#table.forget(id);
    this.#stats.dialogs = this.#table.size;
  }

  /** The request that matched was forwarded: only now does it count in its dialog (CSeq, session timer). */
  commit(matched: DialogMatched): void {
    this.#table.commit(matched, Date.now());
  }

  /**
   * Calls the caller of a new INVITE has now, for per-identity limits: INVITE dialogs open,
   * and calls still being set up (forwarded, no final answer yet), so that a burst of
   * INVITEs sent at once cannot pass the limit before the first is answered.
   */
  callsOf(request: SipRequest): number {
    const identity = identityOf(request);
    return this.#table.countFor(identity) + (this.#settingUp.get(identity) ?? 0);
  }

  /** A new call from the client side was forwarded: it counts until its final answer. */
  callForwarded(request: SipRequest): void {
    const identity = identityOf(request);
    this.#settingUp.set(identity, (this.#settingUp.get(identity) ?? 0) + 1);
  }

  /** Its final answer (a 2xx has made it a dialog by now). */
  callAnswered(request: SipRequest): void {
    const identity = identityOf(request);
    const count = (this.#settingUp.get(identity) ?? 0) - 1;
    if (count > 0) this.#settingUp.set(identity, count);
    else this.#settingUp.delete(identity);
  }

  /** A 2xx to an initial INVITE or SUBSCRIBE confirms a dialog between the two flows. */
  onResponse(
    request: SipRequest,
    response: SipResponse,
    serverFlow: Flow,
    direction: Direction,
    responseFlow: Flow,
  ): void {
    if (response.status < 200 || response.status >= 300 || !DIALOG_CREATING.has(request.method)) return;
    const fromTag = request.from.params.get('tag');
    const toTag = response.to.params.get('tag');
    if (!fromTag || !toTag || request.to.params.get('tag') !== undefined) return;
    this.#table.create({
      callId: request.callId,
      fromTag,
      toTag,
      method: request.method,
      caller: partyOf(serverFlow, direction),
      callee: partyOf(responseFlow, direction === 'client' ? 'upstream' : 'client'),
      identity: identityOf(request),
      callerCSeq: request.cseq.seq,
      now: Date.now(),
      ...(request.method === 'INVITE' ? endpointsOf(request, response, direction, this.#isOwnUri) : {}),
    });
    this.#stats.dialogs = this.#table.size;
  }

  /** A BYE sent from `direction` was answered (2xx, 481 or 408): the leg it travelled on ends. */
  onCompleted(request: SipRequest, status: number, direction: Direction): void {
    if (request.method !== 'BYE') return;
    if (!((status >= 200 && status < 300) || status === 481 || status === 408)) return;
    const fromTag = request.from.params.get('tag');
    const toTag = request.to.params.get('tag');
    if (!fromTag || !toTag) return;
    this.#table.end({ callId: request.callId, fromTag, toTag }, direction);
    this.#stats.dialogs = this.#table.size;
  }

  /** Ends a call (both its legs here) for its media; the hooks send the BYEs. */
  endCall(callId: string, callerTag: string, leg: Direction): boolean {
    const ended = this.#table.endCall(callId, callerTag, leg, 'media-flood');
    this.#stats.dialogs = this.#table.size;
    return ended;
  }

  close(): void {
    clearInterval(this.#sweepTimer);
  }
}

function endpointsOf(
  request: SipRequest,
  response: SipResponse,
  leg: Direction,
  isOwnUri: (uri: SipUri) => boolean,
): { endpoints?: DialogEndpoints } {
  const endpoints = dialogEndpoints(request, response, leg, isOwnUri);
  return endpoints === undefined ? {} : { endpoints };
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

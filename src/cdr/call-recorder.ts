/**
 * The call recorder: turns what the core reports of calls (src/core/call-observer.ts) into
 * call detail records. Calls under way are kept in a bounded table (the oldest is written
 * as `evicted` when it is full); a finished record waits in a bounded batch that is handed
 * to the sink on a timer or once it is full, never on the request's own path.
 *
 * What is one record:
 * - One INVITE out of dialog is one call attempt, whichever side sent it. Its
 *   retransmissions are absorbed by the transaction layer when forwarded; a refused one's
 *   are recognised here (same Call-ID, From tag and CSeq within 32 s).
 * - A call passing sipwarden twice (phone -> sipwarden -> PBX -> sipwarden -> phone, the
 *   same Call-ID and From tag on both legs) is ONE record, with `legs` 2: it is one call
 *   for its parties, and the per-identity call counts count it once too. The record is the
 *   first leg's (its source, its final status); a refusal on the second leg is the call's
 *   refusal; the first BYE on either leg ends it.
 * - An INVITE challenged (401/407, by the PBX or by sipwarden) and sent again with
 *   credentials (same Call-ID and From tag, RFC 3261 22.2) continues the same record; with no
 *   retry within 32 s (64*T1) the record is written as `challenged`.
 */
import type { CallObserver, CallRefusal, DialogEndCause } from '../core/call-observer.ts';
import type { Dialog } from '../core/dialog/dialog-table.ts';
import type { Direction, RequestContext } from '../core/inspector.ts';
import type { Logger } from '../log/logger.ts';
import { silentLogger } from '../log/logger.ts';
import type { SipRequest, Uri } from '../sip/message.ts';
import type { Flow } from '../transport/types.ts';
import { detach } from '../util/detach.ts';
import type { CallDetailRecord, Disposition, EndedBy, EndReason } from './cdr.ts';

/** Where finished records go (the SQLite store). Must not throw. */
export interface CdrSink {
  write(records: readonly CallDetailRecord[]): void;
}

export interface CallRecorderOptions {
  readonly sink: CdrSink;
  /** Calls under way tracked at once; default 100,000 (the dialog table's default). */
  readonly maxOpenCalls?: number;
  /** Records handed to the sink at once at most, and the batch size that triggers a write. */
  readonly batchSize?: number;
  /** How long a finished record may wait for its batch; default 1 s. */
  readonly flushIntervalMs?: number;
  /** Finished records waiting at most; beyond it they are counted as dropped. */
  readonly maxPending?: number;
  readonly clock?: () => number;
  readonly log?: Logger;
}

export interface CallRecorderStats {
  readonly open: number;
  readonly pending: number;
  readonly written: number;
  readonly dropped: number;
  readonly evicted: number;
}

/** RFC 3261 64*T1: how long a challenged attempt waits for its retry, and a refused one's retransmissions last. */
export const RETRY_WINDOW_MS = 32_000;
const DEFAULT_MAX_OPEN = 100_000;
const DEFAULT_BATCH = 500;
const DEFAULT_FLUSH_MS = 1000;
const DEFAULT_MAX_PENDING = 100_000;
/** Refused attempts remembered to recognise their retransmissions. */
const MAX_RECENT_REFUSALS = 10_000;

/** Caller and callee as the INVITE named them. */
interface Signalled {
  readonly fromUser: string | null;
  readonly fromDomain: string | null;
  readonly toUser: string | null;
  readonly toDomain: string | null;
  readonly requestUser: string | null;
  readonly requestDomain: string | null;
}

/** A call under way: what its record will say. */
class OpenCall {
  legs = 1;
  cseq: number;
  /** The INVITE's top Via branch: its final status and CANCEL are known by it and its source. */
  branch: string;
  answerTime: number | null = null;
  byeTime: number | null = null;
  endedBy: EndedBy | null = null;
  cancelled = false;
  /** 401/407 answered and no retry yet: since when. */
  challengedAt: number | null = null;
  status: number | null = null;
  refusal: CallRefusal | null = null;
  authUser: string | null;
  authDomain: string | null;
  authMethod: string | null;

  constructor(
    readonly key: string,
    readonly callId: string,
    readonly callerTag: string,
    readonly direction: Direction,
    readonly startTime: number,
    /** Copied out of the INVITE: the message itself is not kept for the call's life. */
    readonly signalled: Signalled,
    readonly sourceAddress: string,
    readonly sourcePort: number,
    readonly sourceTransport: string,
    context: RequestContext,
  ) {
    this.cseq = context.request.cseq.seq;
    this.branch = detach(context.request.via[0]?.branch ?? '');
    this.authUser = context.identity?.user ?? null;
    this.authDomain = context.identity?.domain ?? null;
    this.authMethod = context.identity?.method ?? null;
  }

  /** True when `request` (the INVITE, or its CANCEL) belongs to this attempt: its branch, CSeq and source. */
  sentBy(request: SipRequest, flow: Flow): boolean {
    return (
      request.cseq.seq === this.cseq &&
      (request.via[0]?.branch ?? '') === this.branch &&
      flow.remoteAddress === this.sourceAddress
    );
  }
}

export class CallRecorder implements CallObserver {
  readonly #sink: CdrSink;
  readonly #clock: () => number;
  readonly #log: Logger;
  readonly #maxOpen: number;
  readonly #batchSize: number;
  readonly #flushIntervalMs: number;
  readonly #maxPending: number;
  /** Calls under way by Call-ID and the caller's From tag, oldest first (insertion order). */
  readonly #open = new Map<string, OpenCall>();
  /** Refused attempts (key and CSeq) and when, oldest first: their retransmissions are no new attempts. */
  readonly #recentRefusals = new Map<string, number>();
  #pending: CallDetailRecord[] = [];
  #flushTimer: NodeJS.Timeout | undefined;
  #sweepTimer: NodeJS.Timeout | undefined;
  #closed = false;
  #written = 0;
  #dropped = 0;
  #evicted = 0;

  constructor(options: CallRecorderOptions) {
    this.#sink = options.sink;
    this.#clock = options.clock ?? Date.now;
    this.#log = options.log ?? silentLogger;
    this.#maxOpen = options.maxOpenCalls ?? DEFAULT_MAX_OPEN;
    this.#batchSize = options.batchSize ?? DEFAULT_BATCH;
    this.#flushIntervalMs = options.flushIntervalMs ?? DEFAULT_FLUSH_MS;
    this.#maxPending = options.maxPending ?? DEFAULT_MAX_PENDING;
  }

  /** Starts the sweep of challenged attempts that were never retried (a timer that does not keep the process alive). */
  start(): void {
    if (this.#sweepTimer !== undefined || this.#closed) return;
    this.#sweepTimer = setInterval(() => this.sweep(), RETRY_WINDOW_MS / 4);
    this.#sweepTimer.unref();
  }

  // --- CallObserver -------------------------------------------------------------------

  inviteForwarded(context: RequestContext): void {
    const request = context.request;
    const key = keyOf(request.callId, request.from.params.get('tag'));
    const call = this.#open.get(key);
    if (call === undefined) {
      this.#openCall(key, context);
      return;
    }
    if (call.direction !== context.direction) {
      // The same call coming back through sipwarden (a spiral): its second leg.
      call.legs = 2;
      return;
    }
    if (call.challengedAt !== null) this.#retried(call, context);
  }

  inviteRefused(context: RequestContext, refusal: CallRefusal): void {
    const request = context.request;
    const key = keyOf(request.callId, request.from.params.get('tag'));
    const call = this.#open.get(key);
    const challenge = refusal.status === 401 || refusal.status === 407;
    if (call !== undefined) {
      if (call.direction !== context.direction) {
        // The second leg of a spiral was refused: the call's refusal; the first leg's final status follows.
        call.legs = 2;
        call.refusal = refusal;
        return;
      }
      if (call.challengedAt === null || call.cseq === request.cseq.seq) return;
      // The retry after a challenge, refused: challenged again (a wrong password), or refused.
      this.#retried(call, context);
      if (challenge) {
        call.challengedAt = this.#clock();
        call.status = refusal.status ?? null;
        return;
      }
      call.refusal = refusal;
      call.status = refusal.status ?? null;
      this.#finish(call, 'refused', this.#clock());
      return;
    }
    const recent = `${key}|${request.cseq.seq}`;
    const now = this.#clock();
    const seen = this.#recentRefusals.get(recent);
    if (seen !== undefined && now - seen < RETRY_WINDOW_MS) return;
    const opened = this.#openCall(key, context);
    opened.refusal = refusal;
    opened.status = refusal.status ?? null;
    if (challenge) {
      // sipwarden's own challenge: the retry with credentials continues this record.
      opened.challengedAt = now;
      return;
    }
    this.#rememberRefusal(recent, now);
    this.#finish(opened, 'refused', now);
  }

  inviteCompleted(invite: SipRequest, flow: Flow, direction: Direction, status: number): void {
    const call = this.#open.get(keyOf(invite.callId, invite.from.params.get('tag')));
    // A spiral's second leg: the first leg's final status is what the caller got. Another
    // INVITE reusing the call's Call-ID and tag (from elsewhere) does not end it.
    if (call === undefined || call.direction !== direction || !call.sentBy(invite, flow)) return;
    const now = this.#clock();
    call.status = status;
    if (status < 300) {
      call.answerTime ??= now;
      return;
    }
    if ((status === 401 || status === 407) && !call.cancelled) {
      call.challengedAt = now;
      return;
    }
    this.#finish(call, call.refusal === null ? 'final-response' : 'refused', now);
  }

  inviteCancelled(cancel: SipRequest, flow: Flow, direction: Direction): void {
    const call = this.#open.get(keyOf(cancel.callId, cancel.from.params.get('tag')));
    // RFC 3261 9.1: the CANCEL carries its INVITE's branch and CSeq number.
    if (call !== undefined && call.direction === direction && call.sentBy(cancel, flow))
      call.cancelled = true;
  }

  byeForwarded(dialog: Dialog, fromCaller: boolean): void {
    const call = this.#open.get(keyOf(dialog.callId, dialog.callerTag));
    if (call === undefined || call.answerTime === null || call.byeTime !== null) return;
    call.byeTime = this.#clock();
    call.endedBy = fromCaller ? 'caller' : 'callee';
  }

  byeCompleted(bye: SipRequest, _direction: Direction, _status: number): void {
    // The caller's tag is the From tag of a BYE from the caller, the To tag of one from the callee.
    const fromTag = bye.from.params.get('tag');
    let call = this.#open.get(keyOf(bye.callId, fromTag));
    if (call === undefined) call = this.#open.get(keyOf(bye.callId, bye.to.params.get('tag')));
    if (call === undefined || call.answerTime === null) return;
    if (call.byeTime === null) {
      // A BYE the dialog check did not match (the upstream's, for a dialog sipwarden did not know).
      call.byeTime = this.#clock();
      call.endedBy = fromTag === call.callerTag ? 'caller' : 'callee';
    }
    this.#finish(call, 'bye', call.byeTime);
  }

  dialogEnded(dialog: Dialog, cause: DialogEndCause): void {
    const call = this.#open.get(keyOf(dialog.callId, dialog.callerTag));
    if (call === undefined || call.answerTime === null) return;
    if (cause !== 'evicted') call.endedBy = 'sipwarden';
    this.#finish(call, cause, this.#clock());
  }

  // --- records ------------------------------------------------------------------------

  /** Writes challenged attempts that were not retried in time. Called by the timer; tests call it. */
  sweep(now = this.#clock()): void {
    for (const call of [...this.#open.values()]) {
      if (call.challengedAt !== null && now - call.challengedAt >= RETRY_WINDOW_MS) {
        this.#finish(call, call.refusal === null ? 'final-response' : 'refused', call.challengedAt);
      }
    }
    for (const [key, at] of this.#recentRefusals) {
      if (now - at < RETRY_WINDOW_MS) break;
      this.#recentRefusals.delete(key);
    }
  }

  /** Hands every waiting record to the sink now. */
  flush(): void {
    if (this.#flushTimer !== undefined) clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    while (this.#pending.length > 0) {
      const batch = this.#pending.splice(0, this.#batchSize);
      try {
        this.#sink.write(batch);
        this.#written += batch.length;
      } catch (error) {
        // The sink counts and logs its own failures; this is a bug in it, not a reason to stop.
        this.#log.error({ err: error, records: batch.length }, 'call recorder: cannot hand records over');
      }
    }
  }

  /**
   * On exit: every call still open is written as it stands (`shutdown`), then everything
   * waiting goes to the sink. Nothing is recorded afterwards.
   */
  close(): void {
    if (this.#closed) return;
    const now = this.#clock();
    for (const call of [...this.#open.values()]) {
      if (call.challengedAt !== null) {
        this.#finish(call, call.refusal === null ? 'final-response' : 'refused', call.challengedAt);
      } else {
        this.#finish(call, 'shutdown', now);
      }
    }
    this.flush();
    this.#closed = true;
    if (this.#sweepTimer !== undefined) clearInterval(this.#sweepTimer);
    this.#sweepTimer = undefined;
  }

  stats(): CallRecorderStats {
    return {
      open: this.#open.size,
      pending: this.#pending.length,
      written: this.#written,
      dropped: this.#dropped,
      evicted: this.#evicted,
    };
  }

  #openCall(key: string, context: RequestContext): OpenCall {
    if (this.#open.size >= this.#maxOpen) {
      const oldest = this.#open.values().next().value;
      if (oldest !== undefined) {
        this.#evicted++;
        this.#finish(oldest, 'evicted', this.#clock());
      }
    }
    const request = context.request;
    const flow = context.flow;
    const from = uriParts(request.from.uri);
    const to = uriParts(request.to.uri);
    const target = uriParts(request.uri);
    const call = new OpenCall(
      key,
      detach(request.callId),
      detach(request.from.params.get('tag') ?? ''),
      context.direction,
      this.#clock(),
      {
        fromUser: from.user,
        fromDomain: from.domain,
        toUser: to.user,
        toDomain: to.domain,
        requestUser: target.user,
        requestDomain: target.domain,
      },
      flow.remoteAddress,
      flow.remotePort,
      flow.transport,
      context,
    );
    this.#open.set(key, call);
    return call;
  }

  /** A retry after a challenge: the same attempt goes on, now with its credentials. */
  #retried(call: OpenCall, context: RequestContext): void {
    call.challengedAt = null;
    call.status = null;
    call.refusal = null;
    call.cseq = context.request.cseq.seq;
    call.branch = detach(context.request.via[0]?.branch ?? '');
    if (context.identity !== undefined) {
      call.authUser = context.identity.user;
      call.authDomain = context.identity.domain;
      call.authMethod = context.identity.method;
    }
  }

  #rememberRefusal(key: string, now: number): void {
    if (this.#recentRefusals.size >= MAX_RECENT_REFUSALS) {
      const oldest = this.#recentRefusals.keys().next().value;
      if (oldest !== undefined) this.#recentRefusals.delete(oldest);
    }
    this.#recentRefusals.set(key, now);
  }

  #finish(call: OpenCall, reason: EndReason, endTime: number): void {
    if (this.#open.get(call.key) === call) this.#open.delete(call.key);
    if (this.#closed) return;
    this.#queue(recordOf(call, reason, endTime));
  }

  #queue(record: CallDetailRecord): void {
    if (this.#pending.length >= this.#maxPending) {
      this.#dropped++;
      if (this.#dropped === 1 || this.#dropped % 1000 === 0) {
        this.#log.warn({ dropped: this.#dropped }, 'call recorder: too many records waiting');
      }
      return;
    }
    this.#pending.push(record);
    if (this.#pending.length >= this.#batchSize) {
      // Off the request's path: on the next turn of the event loop.
      if (this.#flushTimer !== undefined) clearTimeout(this.#flushTimer);
      this.#flushTimer = setTimeout(() => this.flush(), 0);
    } else {
      this.#flushTimer ??= setTimeout(() => this.flush(), this.#flushIntervalMs);
    }
    this.#flushTimer.unref();
  }
}

function keyOf(callId: string, fromTag: string | null | undefined): string {
  return `${callId}|${fromTag ?? ''}`;
}

function dispositionOf(call: OpenCall, reason: EndReason): Disposition {
  if (call.answerTime !== null) return 'answered';
  if (call.refusal !== null) return 'refused';
  if (call.challengedAt !== null) return 'challenged';
  if (reason === 'shutdown' || reason === 'evicted') return 'interrupted';
  if (call.cancelled) return 'cancelled';
  const status = call.status;
  if (status === 486 || status === 600) return 'busy';
  if (status === 408 || status === 480 || status === 487) return 'no-answer';
  return 'failed';
}

function endedByOf(call: OpenCall, disposition: Disposition): EndedBy | null {
  switch (disposition) {
    case 'answered':
      return call.endedBy;
    case 'refused':
      return 'sipwarden';
    case 'cancelled':
    case 'challenged':
      return 'caller';
    case 'interrupted':
      return null;
    default:
      return 'callee';
  }
}

function recordOf(call: OpenCall, reason: EndReason, endTime: number): CallDetailRecord {
  const disposition = dispositionOf(call, reason);
  const refusal = call.refusal;
  return {
    callId: call.callId,
    direction: call.direction,
    legs: call.legs,
    startTime: call.startTime,
    answerTime: call.answerTime,
    endTime,
    durationMs: call.answerTime === null ? null : Math.max(0, endTime - call.answerTime),
    ...call.signalled,
    authUser: call.authUser,
    authDomain: call.authDomain,
    authMethod: call.authMethod,
    sourceAddress: call.sourceAddress,
    sourcePort: call.sourcePort,
    sourceTransport: call.sourceTransport,
    disposition,
    status: call.status,
    endedBy: endedByOf(call, disposition),
    endReason: reason,
    refusalStage: refusal?.stage ?? null,
    refusalRule: refusal?.rule ?? null,
    refusalReason: refusal?.reason ?? null,
  };
}

/** User and domain of a URI: a tel: number is a user without a domain. Copies: the message is not kept. */
function uriParts(uri: Uri): { user: string | null; domain: string | null } {
  if (uri.scheme === 'sip' || uri.scheme === 'sips') {
    const sip = uri as Extract<Uri, { scheme: 'sip' | 'sips' }>;
    return { user: sip.user === undefined ? null : detach(sip.user), domain: detach(sip.host.toLowerCase()) };
  }
  if (uri.scheme === 'tel') {
    return { user: detach((uri as Extract<Uri, { scheme: 'tel' }>).number), domain: null };
  }
  return { user: null, domain: null };
}

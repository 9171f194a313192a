import type { Flow } from '../../transport/types.ts';
import { detach } from '../../util/detach.ts';
import { StringTable } from '../../util/string-table.ts';
import type { DialogEndCause } from '../call-observer.ts';
import type { Direction } from '../inspector.ts';

/**
 * Dialogs the proxy has seen established (RFC 3261 section 12): created by a 2xx to an
 * INVITE or SUBSCRIBE that passed through, ended by a 2xx to BYE, by the session timeout,
 * or evicted when the table is full. The session timeout is a maximum session length for
 * a call (an INVITE dialog lives at most that long from its 2xx, whatever passes in it:
 * the proxy then ends it with BYE to both parties); other dialogs (SUBSCRIBE) are
 * forgotten after that long without a request. An in-dialog request must match one and come from
 * the party that the dialog expects it from: a spoofed BYE from a third address goes nowhere.
 *
 * One dialog can pass through the proxy twice. A call between two phones registered
 * through it goes phone A -> proxy -> upstream -> proxy (back along the Path the proxy
 * added at REGISTER, RFC 3327) -> phone B: the same Call-ID and tags on two legs, the
 * outer one created by A's request from the client side, the inner one by the upstream's
 * request towards B. Each leg is kept apart, keyed by the side that sent the creating
 * request, with its own parties and CSeq numbers.
 */

export interface DialogParty {
  readonly direction: Direction;
  readonly transport: Flow['transport'];
  readonly address: string;
  readonly port: number;
  readonly connectionId?: number;
}

/**
 * What sipwarden needs to end a call itself with a BYE to each party (RFC 3261 15.1.1 and
 * 12.2.1.1): each party's From/To value with its tag, its remote target (Contact URI),
 * and the Route values from sipwarden to it (the Record-Route entries between them).
 */
export interface DialogEndpoints {
  /** The INVITE's From value (the caller's tag in it) and the 2xx's To value (the callee's tag). */
  readonly callerAddress: string;
  readonly calleeAddress: string;
  readonly callerTarget: string;
  readonly calleeTarget: string;
  readonly routeToCaller: readonly string[];
  readonly routeToCallee: readonly string[];
}

export interface Dialog {
  /** The leg's key in the table: the dialog's identifier and its leg. */
  readonly id: string;
  readonly callId: string;
  /** The side that sent the dialog-creating request through the proxy: the leg. */
  readonly leg: Direction;
  /** INVITE or SUBSCRIBE: only INVITE dialogs (calls) count for an identity. */
  readonly method: string;
  /** The From tag of the creating request: a request carrying it in From comes from the caller's side. */
  readonly callerTag: string;
  /** The party that sent the dialog-creating request, and the one that answered it. */
  readonly caller: DialogParty;
  readonly callee: DialogParty;
  /** Who placed the call (From user@host of the creating request), for per-identity limits. */
  readonly identity: string;
  readonly createdAt: number;
  readonly expiresAt: number;
  /** Highest CSeq forwarded in requests from each party (RFC 3261 12.2.2: it must grow). */
  readonly callerCSeq: number;
  readonly calleeCSeq: number;
  /** A call's parties as a BYE names them; absent for other dialogs. */
  readonly endpoints?: DialogEndpoints;
}

/** What an in-dialog request claims: its dialog's identifiers and its CSeq. */
export interface InDialogRequest {
  readonly callId: string;
  readonly fromTag: string;
  readonly toTag: string;
  readonly cseq: number;
  readonly method: string;
}

export interface DialogMatched {
  readonly ok: true;
  readonly dialog: Dialog;
  readonly fromCaller: boolean;
  /** The matched request's CSeq number and method, for `commit`. */
  readonly cseq: number;
  readonly method: string;
}

export type DialogMatch =
  | DialogMatched
  | { readonly ok: false; readonly reason: 'unknown-dialog' | 'wrong-party' | 'cseq-not-increasing' };

export interface NewDialog {
  readonly callId: string;
  /** From tag of the creating request and To tag of its 2xx. */
  readonly fromTag: string;
  readonly toTag: string;
  readonly method: string;
  readonly caller: DialogParty;
  readonly callee: DialogParty;
  readonly identity: string;
  readonly callerCSeq: number;
  readonly now: number;
  readonly endpoints?: DialogEndpoints;
}

/**
 * A leg as another node needs it to serve the leg's in-dialog requests (state.backend redis):
 * what `create` was given, with the leg's times and CSeqs.
 */
export interface DialogSnapshot {
  readonly callId: string;
  readonly fromTag: string;
  readonly toTag: string;
  readonly method: string;
  readonly caller: DialogParty;
  readonly callee: DialogParty;
  readonly identity: string;
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly callerCSeq: number;
  readonly calleeCSeq: number;
  readonly endpoints?: DialogEndpoints;
}

/** Told of the legs this node confirms and ends, to share them with other nodes. */
export interface DialogReplica {
  created(id: string, snapshot: DialogSnapshot): void;
  ended(id: string): void;
}

const LEGS: readonly Direction[] = ['client', 'upstream'];

/** The dialog's identifier (RFC 3261 12): both parties name it with their tags in opposite From/To order. */
export function dialogId(callId: string, tagA: string, tagB: string): string {
  return tagA < tagB ? `${callId}|${tagA}|${tagB}` : `${callId}|${tagB}|${tagA}`;
}

/** The table key of one leg of a dialog. */
export function legId(id: string, leg: Direction): string {
  return `${id}|${leg === 'client' ? 'c' : 'u'}`;
}

export function partyOf(flow: Flow, direction: Direction): DialogParty {
  return {
    direction,
    transport: flow.transport,
    address: flow.remoteAddress,
    port: flow.remotePort,
    ...(flow.connectionId === undefined ? {} : { connectionId: flow.connectionId }),
  };
}

/**
 * Same party: the upstream side is one trusted peer; a client must use the same
 * connection for TCP/TLS, the same address for UDP (its port may change behind NAT).
 */
function sameParty(party: DialogParty, flow: Flow, direction: Direction, remote: boolean): boolean {
  if (party.direction !== direction) return false;
  if (direction === 'upstream') return true;
  if (party.transport !== flow.transport) return false;
  // A leg confirmed on another node: its connection ended with that node, the address stays.
  if (party.transport === 'udp' || remote) return party.address === flow.remoteAddress;
  return party.connectionId === flow.connectionId;
}

/** A table entry: the leg, linked in creation order (oldest first) for eviction and sweeps. */
class DialogRecord implements Dialog {
  older: DialogRecord | undefined;
  newer: DialogRecord | undefined;
  calleeCSeq = 0;
  /** This leg holds its call's one count for the identity (a spiral's other leg does not). */
  counted = false;
  /**
   * Confirmed on another node and replicated here: served like any leg, but not counted as
   * this node's call, and forgotten without a BYE at its timeout (its own node sends those).
   */
  remote = false;

  constructor(
    readonly id: string,
    readonly dialogId: string,
    readonly callId: string,
    readonly leg: Direction,
    readonly method: string,
    readonly callerTag: string,
    readonly calleeTag: string,
    readonly caller: DialogParty,
    readonly callee: DialogParty,
    readonly identity: string,
    readonly createdAt: number,
    public expiresAt: number,
    public callerCSeq: number,
    readonly endpoints: DialogEndpoints | undefined,
  ) {}
}

export class DialogTable {
  // Not Maps: a dialog is added and removed for every call (see StringTable).
  readonly #dialogs = new StringTable<DialogRecord>();
  readonly #perIdentity = new StringTable<number>();
  #oldest: DialogRecord | undefined;
  #newest: DialogRecord | undefined;
  readonly #maxDialogs: number;
  readonly #sessionTimeoutMs: number;
  readonly #onEnded: ((dialog: Dialog, cause: DialogEndCause, otherLeg?: Dialog) => void) | undefined;
  readonly #replica: DialogReplica | undefined;
  evictions = 0;
  /** Other nodes' legs not taken in because the table was full. */
  adoptionsRefused = 0;
  #calls = 0;

  constructor(options: {
    maxDialogs: number;
    sessionTimeoutMs: number;
    /**
     * A leg ended by the table itself (timed out, or evicted when full), not by a BYE. A
     * call that passed the proxy twice times out on both legs at once: `otherLeg`.
     */
    onEnded?: (dialog: Dialog, cause: DialogEndCause, otherLeg?: Dialog) => void;
    /** Told of every leg confirmed and ended here (not of those adopted from it). */
    replica?: DialogReplica;
  }) {
    this.#maxDialogs = options.maxDialogs;
    this.#sessionTimeoutMs = options.sessionTimeoutMs;
    this.#onEnded = options.onEnded;
    this.#replica = options.replica;
  }

  /** Legs held (a spiralled dialog holds two). */
  get size(): number {
    return this.#dialogs.size;
  }

  /**
   * Calls placed by an identity and open now: INVITE dialogs only (a phone's SUBSCRIBE
   * dialogs for busy lamps are no calls), each call once however many legs it has here.
   */
  countFor(identity: string): number {
    return this.#perIdentity.get(identity) ?? 0;
  }

  /** Calls open now: INVITE dialogs, each call once however many legs it has here. */
  get callCount(): number {
    return this.#calls;
  }

  /** The newest calls first, at most `limit` (each call by the leg that counts it). */
  recentCalls(limit: number): Dialog[] {
    const calls: Dialog[] = [];
    for (let dialog = this.#newest; dialog !== undefined && calls.length < limit; dialog = dialog.older) {
      if (dialog.counted) calls.push(dialog);
    }
    return calls;
  }

  /** Records a leg confirmed by a 2xx; a retransmitted 2xx finds it already there. */
  create(fields: NewDialog): Dialog {
    const existing = this.#dialogs.get(
      legId(dialogId(fields.callId, fields.fromTag, fields.toTag), fields.caller.direction),
    );
    if (existing) return existing;
    const dialog = this.#insert(fields, fields.now, fields.now + this.#sessionTimeoutMs, 0);
    if (dialog.method === 'INVITE' && !this.#otherLeg(dialog)?.counted) this.#count(dialog);
    this.#replica?.created(dialog.id, snapshotOf(dialog));
    return dialog;
  }

  /**
   * A leg another node confirmed (state.backend redis): held so that its in-dialog requests
   * are served here too, e.g. once that node is gone. Not counted as a call of this node, and
   * forgotten silently at its expiry. A leg already held is left as it is; when the table is
   * full it is not taken in.
   */
  adopt(id: string, snapshot: DialogSnapshot, now: number): void {
    if (snapshot.expiresAt <= now || this.#dialogs.get(id) !== undefined) return;
    // Full: this node's own legs come first; another node's never evict one.
    if (this.#dialogs.size >= this.#maxDialogs) {
      this.adoptionsRefused++;
      return;
    }
    const dialog = this.#insert(snapshot, snapshot.createdAt, snapshot.expiresAt, snapshot.calleeCSeq);
    if (dialog.id !== id) {
      // A record stored under another leg's name: not what it claims to be.
      this.#remove(dialog, false);
      return;
    }
    dialog.remote = true;
  }

  /** Another node ended this leg: removed here without a BYE nor a word back. */
  forget(id: string): void {
    const dialog = this.#dialogs.get(id);
    if (dialog) this.#remove(dialog, false);
  }

  #insert(
    fields: Omit<NewDialog, 'now'>,
    createdAt: number,
    expiresAt: number,
    calleeCSeq: number,
  ): DialogRecord {
    const leg = fields.caller.direction;
    const id = dialogId(fields.callId, fields.fromTag, fields.toTag);
    if (this.#dialogs.size >= this.#maxDialogs) this.#evictOldest();
    // Copies: strings cut from the message would keep its whole text for the dialog's life.
    const shared = detach(id);
    const dialog = new DialogRecord(
      legId(shared, leg),
      shared,
      detach(fields.callId),
      leg,
      fields.method === 'INVITE' ? 'INVITE' : detach(fields.method),
      detach(fields.fromTag),
      detach(fields.toTag),
      fields.caller,
      fields.callee,
      detach(fields.identity),
      createdAt,
      expiresAt,
      fields.callerCSeq,
      fields.endpoints,
    );
    dialog.calleeCSeq = calleeCSeq;
    this.#dialogs.set(dialog.id, dialog);
    const newest = this.#newest;
    dialog.older = newest;
    if (newest) newest.newer = dialog;
    else this.#oldest = dialog;
    this.#newest = dialog;
    return dialog;
  }

  /**
   * Matches an in-dialog request without changing anything: the dialog must exist, the
   * request must come from the party the leg expects it from (its From tag says which
   * side sent it, the flow must be that side's), and its CSeq must be higher than that
   * party's last (ACK and CANCEL reuse the INVITE's number and are exempt). Only
   * `commit`, once the request is forwarded, records its CSeq and refreshes the session
   * timer: a request refused on its way leaves the dialog as it was.
   */
  match(request: InDialogRequest, flow: Flow, direction: Direction, now: number): DialogMatch {
    const id = dialogId(request.callId, request.fromTag, request.toTag);
    let known = false;
    for (const leg of LEGS) {
      const dialog = this.#dialogs.get(legId(id, leg));
      if (!dialog) continue;
      if (dialog.expiresAt <= now) {
        if (dialog.remote) this.#remove(dialog, false);
        else this.#end(dialog, 'session-timeout');
        continue;
      }
      known = true;
      const fromCaller = request.fromTag === dialog.callerTag;
      if (!sameParty(fromCaller ? dialog.caller : dialog.callee, flow, direction, dialog.remote)) continue;
      if (request.method !== 'ACK' && request.method !== 'CANCEL') {
        const last = fromCaller ? dialog.callerCSeq : dialog.calleeCSeq;
        if (request.cseq <= last) return { ok: false, reason: 'cseq-not-increasing' };
      }
      return { ok: true, dialog, fromCaller, cseq: request.cseq, method: request.method };
    }
    return { ok: false, reason: known ? 'wrong-party' : 'unknown-dialog' };
  }

  /**
   * Records a matched request that was forwarded: its CSeq becomes its party's last, and a
   * dialog other than a call is kept for another session timeout (a call's maximum length
   * runs from its answer). A leg ended meanwhile stays ended.
   */
  commit(matched: DialogMatched, now: number): void {
    const dialog = this.#dialogs.get(matched.dialog.id);
    if (dialog !== matched.dialog) return;
    if (matched.method !== 'ACK' && matched.method !== 'CANCEL') {
      // The highest: two requests may pass the match while an inspection is pending.
      if (matched.fromCaller) dialog.callerCSeq = Math.max(dialog.callerCSeq, matched.cseq);
      else dialog.calleeCSeq = Math.max(dialog.calleeCSeq, matched.cseq);
    }
    if (dialog.method !== 'INVITE') dialog.expiresAt = now + this.#sessionTimeoutMs;
  }

  /**
   * Ends the leg that an in-dialog request sent from `direction` travels on (its BYE was
   * answered): the leg where the sender's side, told by its From tag, is `direction`.
   */
  end(request: { callId: string; fromTag: string; toTag: string }, direction: Direction): void {
    const id = dialogId(request.callId, request.fromTag, request.toTag);
    for (const leg of LEGS) {
      const dialog = this.#dialogs.get(legId(id, leg));
      if (!dialog) continue;
      const sender = request.fromTag === dialog.callerTag ? dialog.caller : dialog.callee;
      if (sender.direction === direction) this.remove(dialog.id);
    }
  }

  /** Removes one leg by its id (`Dialog.id`); the other nodes are told. */
  remove(id: string): void {
    const dialog = this.#dialogs.get(id);
    if (dialog) this.#remove(dialog, true);
  }

  #remove(dialog: DialogRecord, tell: boolean): void {
    const id = dialog.id;
    this.#dialogs.delete(id);
    if (tell) this.#replica?.ended(id);
    this.#unlink(dialog);
    if (!dialog.counted) return;
    this.#uncount(dialog);
    // The call goes on along its other leg: the count moves there.
    const other = this.#otherLeg(dialog);
    if (other?.method === 'INVITE' && !other.remote) this.#count(other);
  }

  /**
   * Ends the call a media session names (its Call-ID, the caller's tag, its leg) and its
   * other leg, as a timeout would (the parties get a BYE). A scan: this happens once per
   * call ended for its media, never per message.
   */
  endCall(callId: string, callerTag: string, leg: Direction, cause: DialogEndCause): boolean {
    for (let dialog = this.#oldest; dialog; dialog = dialog.newer) {
      if (dialog.callId === callId && dialog.callerTag === callerTag && dialog.leg === leg) {
        this.#end(dialog, cause);
        return true;
      }
    }
    return false;
  }

  /** Ends dialogs past their session timeout; the table is bounded, so is the work. */
  sweep(now: number): number {
    // Collected first: ending a call ends its other leg too, which may be the next in line.
    const expired: DialogRecord[] = [];
    for (let dialog = this.#oldest; dialog; dialog = dialog.newer) {
      if (dialog.expiresAt <= now) expired.push(dialog);
    }
    let removed = 0;
    for (const dialog of expired) {
      if (this.#dialogs.get(dialog.id) !== dialog) continue;
      if (dialog.remote) {
        this.#remove(dialog, false);
        removed++;
      } else removed += this.#end(dialog, 'session-timeout');
    }
    return removed;
  }

  #otherLeg(dialog: DialogRecord): DialogRecord | undefined {
    return this.#dialogs.get(legId(dialog.dialogId, dialog.leg === 'client' ? 'upstream' : 'client'));
  }

  #count(dialog: DialogRecord): void {
    dialog.counted = true;
    this.#calls++;
    this.#perIdentity.set(dialog.identity, this.countFor(dialog.identity) + 1);
  }

  #uncount(dialog: DialogRecord): void {
    dialog.counted = false;
    this.#calls--;
    const count = this.countFor(dialog.identity) - 1;
    if (count > 0) this.#perIdentity.set(dialog.identity, count);
    else this.#perIdentity.delete(dialog.identity);
  }

  #unlink(dialog: DialogRecord): void {
    const { older, newer } = dialog;
    if (older) older.newer = newer;
    else this.#oldest = newer;
    if (newer) newer.older = older;
    else this.#newest = older;
    dialog.older = undefined;
    dialog.newer = undefined;
  }

  #evictOldest(): void {
    // The oldest dialog gives way.
    const oldest = this.#oldest;
    if (oldest) {
      // Other nodes keep an evicted leg: the call goes on, only this node forgot it.
      if (oldest.remote) this.#remove(oldest, false);
      else this.#end(oldest, 'evicted');
      this.evictions++;
    }
  }

  /** Ends a leg (and, unless evicted, the same call's other leg); returns the legs removed. */
  #end(dialog: DialogRecord, cause: DialogEndCause): number {
    const other = cause === 'evicted' ? undefined : this.#otherLeg(dialog);
    this.#remove(dialog, cause !== 'evicted');
    if (other !== undefined) this.remove(other.id);
    this.#onEnded?.(dialog, cause, other);
    return other === undefined ? 1 : 2;
  }
}

function snapshotOf(dialog: DialogRecord): DialogSnapshot {
  return {
    callId: dialog.callId,
    fromTag: dialog.callerTag,
    toTag: dialog.calleeTag,
    method: dialog.method,
    caller: dialog.caller,
    callee: dialog.callee,
    identity: dialog.identity,
    createdAt: dialog.createdAt,
    expiresAt: dialog.expiresAt,
    callerCSeq: dialog.callerCSeq,
    calleeCSeq: dialog.calleeCSeq,
    ...(dialog.endpoints === undefined ? {} : { endpoints: dialog.endpoints }),
  };
}

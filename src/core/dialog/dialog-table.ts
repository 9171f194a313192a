import type { Flow } from '../../transport/types.ts';
import { detach } from '../../util/detach.ts';
import { StringTable } from '../../util/string-table.ts';
import type { Direction } from '../inspector.ts';

/**
 * Dialogs the proxy has seen established (RFC 3261 section 12): created by a 2xx to an
 * INVITE or SUBSCRIBE that passed through, ended by a 2xx to BYE, by the session timeout,
 * or evicted when the table is full. An in-dialog request must match one and come from
 * one of its two parties: a spoofed BYE from a third address goes nowhere.
 */

export interface DialogParty {
  readonly direction: Direction;
  readonly transport: Flow['transport'];
  readonly address: string;
  readonly port: number;
  readonly connectionId?: number;
}

export interface Dialog {
  readonly id: string;
  readonly callId: string;
  /** The party that sent the dialog-creating request, and the one that answered it. */
  readonly caller: DialogParty;
  readonly callee: DialogParty;
  /** Who placed the call (From user@host of the creating request), for per-identity limits. */
  readonly identity: string;
  readonly createdAt: number;
  expiresAt: number;
  /** Highest CSeq seen in requests from each party (RFC 3261 12.2.2: it must grow). */
  callerCSeq: number;
  calleeCSeq: number;
}

export type DialogMatch =
  | { readonly ok: true; readonly dialog: Dialog; readonly fromCaller: boolean }
  | { readonly ok: false; readonly reason: 'unknown-dialog' | 'wrong-party' | 'cseq-not-increasing' };

export function dialogId(callId: string, tagA: string, tagB: string): string {
  // Both parties name the same dialog with their tags in opposite From/To order.
  return tagA < tagB ? `${callId}|${tagA}|${tagB}` : `${callId}|${tagB}|${tagA}`;
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
function sameParty(party: DialogParty, flow: Flow, direction: Direction): boolean {
  if (party.direction !== direction) return false;
  if (direction === 'upstream') return true;
  if (party.transport !== flow.transport) return false;
  if (party.transport === 'udp') return party.address === flow.remoteAddress;
  return party.connectionId === flow.connectionId;
}

/** A table entry: the dialog, linked in creation order (oldest first) for eviction and sweeps. */
class DialogRecord implements Dialog {
  older: DialogRecord | undefined;
  newer: DialogRecord | undefined;
  calleeCSeq = 0;

  constructor(
    readonly id: string,
    readonly callId: string,
    readonly caller: DialogParty,
    readonly callee: DialogParty,
    readonly identity: string,
    readonly createdAt: number,
    public expiresAt: number,
    public callerCSeq: number,
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
  evictions = 0;

  constructor(options: { maxDialogs: number; sessionTimeoutMs: number }) {
    this.#maxDialogs = options.maxDialogs;
    this.#sessionTimeoutMs = options.sessionTimeoutMs;
  }

  get size(): number {
    return this.#dialogs.size;
  }

  /** Active dialogs placed by an identity. */
  countFor(identity: string): number {
    return this.#perIdentity.get(identity) ?? 0;
  }

  /** Records a dialog confirmed by a 2xx; a retransmitted 2xx finds it already there. */
  create(fields: Omit<Dialog, 'expiresAt' | 'calleeCSeq' | 'createdAt'> & { now: number }): Dialog {
    const existing = this.#dialogs.get(fields.id);
    if (existing) return existing;
    if (this.#dialogs.size >= this.#maxDialogs) this.#evictOldest();
    // Copies: strings cut from the message would keep its whole text for the dialog's life.
    const dialog = new DialogRecord(
      detach(fields.id),
      detach(fields.callId),
      fields.caller,
      fields.callee,
      detach(fields.identity),
      fields.now,
      fields.now + this.#sessionTimeoutMs,
      fields.callerCSeq,
    );
    this.#dialogs.set(dialog.id, dialog);
    const newest = this.#newest;
    dialog.older = newest;
    if (newest) newest.newer = dialog;
    else this.#oldest = dialog;
    this.#newest = dialog;
    this.#perIdentity.set(dialog.identity, this.countFor(dialog.identity) + 1);
    return dialog;
  }

  /**
   * Matches an in-dialog request: the dialog must exist, the request must come from one of
   * its parties, and its CSeq must be higher than that party's last (ACK and CANCEL reuse
   * the INVITE's number and are exempt). A match refreshes the session timer.
   */
  match(
    request: { callId: string; fromTag: string; toTag: string; cseq: number; method: string },
    flow: Flow,
    direction: Direction,
    now: number,
  ): DialogMatch {
    const dialog = this.#dialogs.get(dialogId(request.callId, request.fromTag, request.toTag));
    if (!dialog || dialog.expiresAt <= now) {
      if (dialog) this.remove(dialog.id);
      return { ok: false, reason: 'unknown-dialog' };
    }
    const fromCaller = sameParty(dialog.caller, flow, direction);
    if (!fromCaller && !sameParty(dialog.callee, flow, direction))
      return { ok: false, reason: 'wrong-party' };
    if (request.method !== 'ACK' && request.method !== 'CANCEL') {
      const last = fromCaller ? dialog.callerCSeq : dialog.calleeCSeq;
      if (request.cseq <= last) return { ok: false, reason: 'cseq-not-increasing' };
      if (fromCaller) dialog.callerCSeq = request.cseq;
      else dialog.calleeCSeq = request.cseq;
    }
    dialog.expiresAt = now + this.#sessionTimeoutMs;
    return { ok: true, dialog, fromCaller };
  }

  remove(id: string): void {
    const dialog = this.#dialogs.get(id);
    if (!dialog) return;
    this.#dialogs.delete(id);
    this.#unlink(dialog);
    const count = this.countFor(dialog.identity) - 1;
    if (count > 0) this.#perIdentity.set(dialog.identity, count);
    else this.#perIdentity.delete(dialog.identity);
  }

  /** Ends dialogs past their session timeout; the table is bounded, so is the work. */
  sweep(now: number): number {
    let removed = 0;
    for (let dialog = this.#oldest; dialog; ) {
      const newer = dialog.newer;
      if (dialog.expiresAt <= now) {
        this.remove(dialog.id);
        removed++;
      }
      dialog = newer;
    }
    return removed;
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
      this.remove(oldest.id);
      this.evictions++;
    }
  }
}

import type { Flow } from '../../transport/types.ts';
import { detach } from '../../util/detach.ts';
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

export class DialogTable {
  readonly #dialogs = new Map<string, Dialog>();
  readonly #perIdentity = new Map<string, number>();
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
    const dialog: Dialog = {
      id: detach(fields.id),
      callId: detach(fields.callId),
      caller: fields.caller,
      callee: fields.callee,
      identity: detach(fields.identity),
      createdAt: fields.now,
      expiresAt: fields.now + this.#sessionTimeoutMs,
      callerCSeq: fields.callerCSeq,
      calleeCSeq: 0,
    };
    this.#dialogs.set(dialog.id, dialog);
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
    const count = this.countFor(dialog.identity) - 1;
    if (count > 0) this.#perIdentity.set(dialog.identity, count);
    else this.#perIdentity.delete(dialog.identity);
  }

  /** Ends dialogs past their session timeout; the table is bounded, so is the work. */
  sweep(now: number): number {
    let removed = 0;
    for (const dialog of this.#dialogs.values()) {
      if (dialog.expiresAt <= now) {
        this.remove(dialog.id);
        removed++;
      }
    }
    return removed;
  }

  #evictOldest(): void {
    // Map order is insertion order: the oldest dialog gives way.
    const oldest = this.#dialogs.keys().next();
    if (!oldest.done) {
      this.remove(oldest.value);
      this.evictions++;
    }
  }
}

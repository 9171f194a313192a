import type { SipRequest } from '../sip/message.ts';
import type { Flow } from '../transport/types.ts';
import type { Dialog } from './dialog/dialog-table.ts';
import type { Direction, RequestContext } from './inspector.ts';

/**
 * What the core tells of calls, for call detail records: every INVITE out of dialog (a call
 * attempt), from either side, and what became of it. The core calls these hooks
 * synchronously at fixed points and knows nothing of what is done with them; src/cdr
 * implements this interface and the gateway wires it. An implementation must be cheap and
 * must not throw (the core does not catch here). In-dialog requests other than BYE never
 * reach it: the hot path pays one method comparison.
 *
 * A call between two parties on the untrusted side passes sipwarden twice (phone ->
 * sipwarden -> PBX -> sipwarden -> phone): both INVITEs, both final answers and both BYEs
 * are reported, each with its direction; the implementation decides how legs make calls.
 */
export interface CallObserver {
  /** A new INVITE (no To tag) was forwarded, from `context.direction`. */
  inviteForwarded(context: RequestContext): void;
  /** A new INVITE was refused by sipwarden: by a security stage, or by the core itself. */
  inviteRefused(context: RequestContext, refusal: CallRefusal): void;
  /**
   * The forwarded INVITE got its final status (from the target, or 408 when it never
   * answered); `flow` is the one it came on.
   */
  inviteCompleted(invite: SipRequest, flow: Flow, direction: Direction, status: number): void;
  /** A CANCEL matched a forwarded INVITE still in progress (same branch, same source): the sender gave up. */
  inviteCancelled(cancel: SipRequest, flow: Flow, direction: Direction): void;
  /** A BYE in a call's dialog was forwarded, sent by its caller (`fromCaller`) or its callee. */
  byeForwarded(dialog: Dialog, fromCaller: boolean): void;
  /** That BYE got its final status; `direction` is the side that sent it. */
  byeCompleted(bye: SipRequest, direction: Direction, status: number): void;
  /**
   * A call's dialog ended without a BYE through sipwarden: its maximum session length was
   * reached (sipwarden sent BYE to both parties), or the dialog table was full.
   */
  dialogEnded(dialog: Dialog, cause: DialogEndCause): void;
}

/** `media-flood`: the media relay's flood rule ended the call (media.relay.floodAction end-call). */
export type DialogEndCause = 'session-timeout' | 'evicted' | 'media-flood';

/** Who refused a call attempt, and how. */
export interface CallRefusal {
  /** The SIP status answered; absent when the INVITE was dropped unanswered. */
  readonly status?: number;
  readonly reason?: string;
  /** The security stage (`call-limit`, `policy`...) or `core` for the core's own refusals. */
  readonly stage: string;
  /** The stage's rule, or the core's code (`loop-detected`, `overload`...). */
  readonly rule?: string;
}

/** The observer used when nothing records calls. */
export const NO_CALL_OBSERVER: CallObserver = Object.freeze({
  inviteForwarded: () => {},
  inviteRefused: () => {},
  inviteCompleted: () => {},
  inviteCancelled: () => {},
  byeForwarded: () => {},
  byeCompleted: () => {},
  dialogEnded: () => {},
});

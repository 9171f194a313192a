import type { VerifiedIdentity } from '../identity/identity.ts';
import type { SipRequest, SipResponse } from '../sip/message.ts';
import type { Flow } from '../transport/types.ts';

/**
 * What the proxy core asks of the security pipeline, and what it tells it. The core knows
 * nothing of stages, rules or stores: it calls these hooks at fixed points and carries
 * out the verdict. src/security implements this interface; the gateway wires the two.
 */

/** Which side a message came from. */
export type Direction = 'client' | 'upstream';

export type Verdict =
  /** Go on. One frozen shared value: the common case allocates nothing. */
  | { readonly action: 'pass' }
  /** Answer a request with this status (responses are dropped instead). */
  | {
      readonly action: 'reject';
      readonly status: number;
      readonly reason: string;
      readonly headers?: readonly { readonly name: string; readonly value: string }[];
      /** Hold the answer back this long (a tarpit); the core bounds how many it holds. */
      readonly delayMs?: number;
      /** The security stage that decided, and its rule: for the record of a refused call. */
      readonly stage?: string;
      readonly rule?: string;
    }
  /** Say nothing at all: scanners learn nothing, floods cost no answer. */
  | { readonly action: 'drop'; readonly stage?: string; readonly rule?: string };

export const PASS: Verdict = Object.freeze({ action: 'pass' });
export const DROP: Verdict = Object.freeze({ action: 'drop' });

/** A datagram or framed stream message before parsing. */
export interface PacketContext {
  readonly flow: Flow;
  readonly data: Buffer;
  readonly direction: Direction;
}

export interface RequestContext {
  readonly flow: Flow;
  readonly direction: Direction;
  readonly request: SipRequest;
  /** True when the request belongs to a dialog the proxy knows, from one of its parties (RFC 3261 12.2). */
  readonly inDialog: boolean;
  /**
   * For a new INVITE from the client side: calls (INVITE dialogs) its caller identity has
   * open now, each once even when it passes the proxy twice; SUBSCRIBE dialogs do not count.
   */
  readonly activeDialogs?: number;
  /**
   * Written by the stage that proves who sent the request (authenticate); the stages after
   * it, and the core (CDRs), read it. Absent while unproven.
   */
  identity?: VerifiedIdentity;
  /**
   * Written by a stage that must change what is forwarded (credentials removed, the verified
   * identity asserted): the core routes and forwards this instead of `request`. Transaction
   * and dialog matching still use `request`, as received.
   */
  forward?: SipRequest;
}

/** A refusal the core decided itself (no dialog, no transaction), reported for the record. */
export interface CoreRefusal {
  readonly flow: Flow;
  readonly direction: Direction;
  readonly kind: 'dialog' | 'transaction' | 'overload';
  /** Short code: `unknown-dialog`, `wrong-party`, `cseq-not-increasing`, `no-matching-invite`, `response-from-wrong-address`, `work-age`... */
  readonly code: string;
  /** What the event aggregates on instead of the source address (overload: one aggregate for all sources). */
  readonly key?: string;
  readonly reason: string;
  /** SIP status answered; absent when the message was dropped. */
  readonly status?: number;
  readonly method?: string;
}

/** The final answer a forwarded request got, for detectors that count outcomes. */
export interface OutcomeContext {
  readonly flow: Flow;
  readonly direction: Direction;
  readonly request: SipRequest;
  /** Final status: from the target, or 408 when it never answered. */
  readonly status: number;
}

/** Why a message was refused before it could be processed: a parse, validation or framing error's code (from the sip or transport registry), status and reason. */
export interface MalformedError {
  readonly code: string;
  readonly status: number;
  readonly reason: string;
}

export interface MessageInspector {
  /** Before parsing: the cheapest checks (block list, budgets, size). Synchronous by design. */
  admit(packet: PacketContext): Verdict;
  /**
   * A message that failed to parse, frame or validate. `answerable` says whether the core
   * can answer it (a request, not an ACK, with a Via, From, To, Call-ID and CSeq it can copy):
   * unless a stage drops it, it then gets `error.status`; otherwise it is dropped.
   */
  malformed(packet: PacketContext, error: MalformedError, answerable: boolean): Verdict;
  /** A parsed, valid request about to be processed (not a retransmission, not a hop-by-hop ACK). */
  inspectRequest(context: RequestContext): Verdict | Promise<Verdict>;
  /** A response from the target, before it is forwarded (the final one and provisional ones). */
  inspectResponse(context: RequestContext, response: SipResponse): Verdict;
  /** The transaction ended with this final status. */
  outcome(context: OutcomeContext): void;
  /** The core refused or dropped a message on its own grounds. */
  refused(refusal: CoreRefusal): void;
}

/** The inspector used when no pipeline is configured: everything passes. */
export const PASS_ALL: MessageInspector = Object.freeze({
  admit: () => PASS,
  malformed: () => PASS,
  inspectRequest: () => PASS,
  inspectResponse: () => PASS,
  outcome: () => {},
  refused: () => {},
});

/**
 * The message inspector the proxy holds for its whole life, delegating to the security
 * pipeline of the running configuration: a reload builds the new pipeline aside and swaps
 * it in here in one assignment, so the proxy, its transactions and dialogs never notice. A
 * request already inside the old pipeline (an awaited content scan) finishes there.
 */
import type {
  CoreRefusal,
  MalformedError,
  MessageInspector,
  OutcomeContext,
  PacketContext,
  RequestContext,
  Verdict,
} from '../core/inspector.ts';
import type { SipResponse } from '../sip/message.ts';

export class SwitchableInspector implements MessageInspector {
  #current: MessageInspector;

  constructor(initial: MessageInspector) {
    this.#current = initial;
  }

  get current(): MessageInspector {
    return this.#current;
  }

  /** Every message from now on meets `next`. */
  switchTo(next: MessageInspector): void {
    this.#current = next;
  }

  admit(packet: PacketContext): Verdict {
    return this.#current.admit(packet);
  }

  malformed(packet: PacketContext, error: MalformedError, answerable: boolean): Verdict {
    return this.#current.malformed(packet, error, answerable);
  }

  inspectRequest(context: RequestContext): Verdict | Promise<Verdict> {
    return this.#current.inspectRequest(context);
  }

  inspectResponse(context: RequestContext, response: SipResponse): Verdict {
    return this.#current.inspectResponse(context, response);
  }

  outcome(context: OutcomeContext): void {
    this.#current.outcome(context);
  }

  refused(refusal: CoreRefusal): void {
    this.#current.refused(refusal);
  }
}

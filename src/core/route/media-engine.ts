/**
 * A media engine: something outside the proxy (rtpengine) that rewrites a call's session
 * descriptions and relays its media, answering asynchronously. The proxy waits for it only
 * for messages it `handles`, after the session-description handlers have run; a retransmission
 * arriving meanwhile is absorbed once the first copy's transaction exists, as after an
 * asynchronous security check.
 */
import type { SipMessage, SipRequest, SipResponse } from '../../sip/message.ts';
import type { Direction } from '../inspector.ts';

export interface MediaEngine {
  /** Whether the message carries a description the engine rewrites (an offer or answer with RTP). */
  handles(message: SipMessage): boolean;
  /**
   * A request with an offer or answer from `direction`: resolves with the request to forward,
   * or undefined when the engine could not take the call's media (the request is refused 503).
   * Never rejects.
   */
  request(message: SipRequest, original: SipRequest, direction: Direction): Promise<SipRequest | undefined>;
  /** A response going back to `direction` (the side of its request): resolves with the response to forward. Never rejects. */
  response(message: SipResponse, direction: Direction): Promise<SipResponse>;
  /** A request's final status, as SessionDescriptions.completed: a failed INVITE or an answered BYE ends the call's media. */
  completed(request: SipRequest, status: number, direction: Direction): void;
  /** A dialog the table ended itself. */
  dialogEnded(callId: string, callerTag: string, leg: Direction): void;
  close(): void;
}

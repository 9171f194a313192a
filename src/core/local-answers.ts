import type { SipRequest } from '../sip/message.ts';
import { createResponse } from '../sip/response.ts';
import { serializeMessage } from '../sip/serialize.ts';
import type { Flow, SendTarget, TransportLayer } from '../transport/types.ts';
import { HeldAnswers } from './held-answers.ts';
import type { Verdict } from './inspector.ts';
import type { ProxyStats } from './proxy-stats.ts';
import { flowTarget } from './transaction/proxy-transaction.ts';

/** Answers held back by tarpit verdicts at once; past it the one due soonest goes out early. */
const MAX_HELD_ANSWERS = 1024;

/**
 * The answers the core gives itself (refusals, 200 to a CANCEL or an OPTIONS ping) and the
 * one path by which every layer sends: each layer that refuses something answers here.
 */
export class LocalAnswers {
  readonly #transport: TransportLayer;
  readonly #stats: ProxyStats;
  /** Answers a verdict holds back (a tarpit): at most MAX_HELD_ANSWERS at once. */
  readonly #held = new HeldAnswers(MAX_HELD_ANSWERS);

  constructor(transport: TransportLayer, stats: ProxyStats) {
    this.#transport = transport;
    this.#stats = stats;
  }

  /** Carries out a non-pass verdict on a request. */
  applyVerdict(request: SipRequest, flow: Flow, verdict: Verdict): void {
    if (verdict.action !== 'reject') return;
    const reply = () => this.reply(request, flow, verdict.status, verdict.reason, verdict.headers);
    if (verdict.delayMs !== undefined && verdict.delayMs > 0) this.#held.hold(verdict.delayMs, reply);
    else reply();
  }

  /** Answers a request over the flow it came on (RFC 3261 18.2.2). */
  reply(
    request: SipRequest,
    flow: Flow,
    status: number,
    reason: string,
    headers?: readonly { name: string; value: string }[],
  ): void {
    if (status >= 300) this.#stats.rejected++;
    const response = createResponse(request, status, reason, {
      ...(status > 100 ? { toTag: localTag(request) } : {}),
      ...(headers ? { headers } : {}),
    });
    this.send(flowTarget(flow), serializeMessage(response));
  }

  /**
   * True for the ACK of a non-2xx final answer given here (a refusal, a Digest challenge): it
   * carries our To tag, which is derived from the INVITE's Call-ID, CSeq number and branch,
   * all of which the ACK repeats (RFC 3261 17.1.1.3). It belongs to a transaction that ended
   * here, so it is absorbed: never forwarded, and no unknown dialog either.
   */
  isAckOfLocalAnswer(ack: SipRequest): boolean {
    return ack.to.params.get('tag') === localTag(ack);
  }

  /** Sends an answer already serialised back over the flow its request came on. */
  sendBack(flow: Flow, data: Buffer): void {
    this.send(flowTarget(flow), data);
  }

  /** Drops every held answer (the proxy is closing: nothing can be sent any more). */
  close(): void {
    this.#held.clear();
  }

  send(target: SendTarget, data: Buffer): void {
    // The transport logs and counts failures; a failed send never throws.
    this.#transport.sendNow(target, data);
  }
}

/** Our To tag on locally generated responses: stable per request so retransmissions get the same answer. */
function localTag(request: SipRequest): string {
  let hash = 2166136261;
  const text = request.callId + request.cseq.seq + (request.via[0]?.branch ?? '');
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 16777619);
  return 'sw' + (hash >>> 0).toString(36);
}

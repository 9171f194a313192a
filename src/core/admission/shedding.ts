import type { SipRequest, SipResponse } from '../../sip/message.ts';
import type { Flow } from '../../transport/types.ts';
import type { Direction, MessageInspector } from '../inspector.ts';
import type { LocalAnswers } from '../local-answers.ts';
import type { ProxyStats } from '../proxy-stats.ts';
import type { AdmissionControl, AdmissionRefusal } from './admission.ts';

/** Work shed by its age before parsing: answered 503 (the admission said `reject`) or dropped. */
export const SHED_BY_AGE: AdmissionRefusal = Object.freeze({
  code: 'work-age',
  reason: 'work waited too long: new requests shed under overload',
  answer: true,
});

/**
 * What is shed under overload is counted and reported (the events aggregate it), never
 * logged per message, and answered 503 with Retry-After while answers are left.
 */
export class Shedding {
  readonly #admission: AdmissionControl;
  readonly #answers: LocalAnswers;
  readonly #inspector: MessageInspector;
  readonly #stats: ProxyStats;

  constructor(
    admission: AdmissionControl,
    answers: LocalAnswers,
    inspector: MessageInspector,
    stats: ProxyStats,
  ) {
    this.#admission = admission;
    this.#answers = answers;
    this.#inspector = inspector;
    this.#stats = stats;
  }

  /** A message shed before parsing. */
  packet(flow: Flow, direction: Direction): void {
    this.#stats.shed++;
    this.#inspector.refused({
      flow,
      direction,
      kind: 'overload',
      code: SHED_BY_AGE.code,
      reason: SHED_BY_AGE.reason,
      key: SHED_BY_AGE.code,
    });
  }

  /** A request shed under overload: 503 with Retry-After (RFC 3261 21.5.4) when answers are left, else dropped. */
  message(
    message: SipRequest | SipResponse,
    flow: Flow,
    direction: Direction,
    refusal: AdmissionRefusal,
  ): void {
    this.#stats.shed++;
    const answer = refusal.answer && message.kind === 'request' && message.method !== 'ACK';
    this.#inspector.refused({
      flow,
      direction,
      kind: 'overload',
      code: refusal.code,
      reason: refusal.reason,
      key: refusal.code,
      ...(answer ? { status: 503 } : {}),
      ...(message.kind === 'request' ? { method: message.method } : {}),
    });
    if (!answer) return;
    this.#answers.reply(message, flow, 503, 'Service Unavailable', [
      { name: 'Retry-After', value: String(this.#admission.settings.retryAfterSeconds) },
    ]);
  }
}

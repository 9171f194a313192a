import type { Logger } from '../../log/logger.ts';
import type { ParserLimits } from '../../sip/limits.ts';
import type { SipRequest, SipResponse } from '../../sip/message.ts';
import { type PartialMessage, parseMessage } from '../../sip/parse.ts';
import { validateMessage } from '../../sip/validate.ts';
import { warningHeader } from '../../sip/warning.ts';
import type { Flow, InboundMessage } from '../../transport/types.ts';
import type { AdmissionControl } from '../admission/admission.ts';
import { SHED_BY_AGE, type Shedding } from '../admission/shedding.ts';
import type { Direction, MessageInspector } from '../inspector.ts';
import type { LocalAnswers } from '../local-answers.ts';
import type { ProxyStats } from '../proxy-stats.ts';
import type { FlowDirection } from './flow-direction.ts';
import { malformedAnswer, partialOf } from './malformed-answer.ts';

/** What the layer above receives: parsed, valid messages, with the side they came from. */
export interface IngressUser {
  onRequest(request: SipRequest, flow: Flow, direction: Direction): void;
  /** Absorbs a retransmission of a request whose transaction exists; false when it is new. */
  absorbRetransmission(request: SipRequest, flow: Flow): boolean;
  onResponse(response: SipResponse, flow: Flow, direction: Direction): void;
}

export interface IngressSettings {
  readonly udpLimits: ParserLimits;
  readonly streamLimits: ParserLimits;
}

/**
 * The entry path of every message: admission (before any parsing), parse, validate, and
 * the answers to what fails them. Only a parsed, valid message goes on, to the layer above.
 */
export class Ingress {
  readonly #settings: IngressSettings;
  readonly #direction: FlowDirection;
  readonly #inspector: MessageInspector;
  readonly #answers: LocalAnswers;
  readonly #stats: ProxyStats;
  readonly #log: Logger;
  readonly #user: IngressUser;
  readonly #admission: AdmissionControl;
  readonly #shedding: Shedding;

  constructor(
    settings: IngressSettings,
    direction: FlowDirection,
    inspector: MessageInspector,
    answers: LocalAnswers,
    stats: ProxyStats,
    log: Logger,
    user: IngressUser,
    admission: AdmissionControl,
    shedding: Shedding,
  ) {
    this.#admission = admission;
    this.#shedding = shedding;
    this.#settings = settings;
    this.#direction = direction;
    this.#inspector = inspector;
    this.#answers = answers;
    this.#stats = stats;
    this.#log = log;
    this.#user = user;
  }

  receive(inbound: InboundMessage): void {
    const { flow } = inbound;
    const direction = this.#direction.of(flow);
    const packet = { flow, data: inbound.data, direction };
    // Under overload, work too old to be useful is shed before it costs a parse.
    const admission = this.#admission.admitPacket(flow, inbound.data, direction);
    if (admission === 'drop') return this.#shedding.packet(flow, direction);
    // The cheapest checks run before any parsing: a blocked source costs a lookup.
    const admitted = this.#inspector.admit(packet);
    if (admitted.action === 'drop') return;
    const limits = flow.transport === 'udp' ? this.#settings.udpLimits : this.#settings.streamLimits;
    const parsed = parseMessage(inbound.data, limits);
    if (!parsed.ok || inbound.framingError !== undefined) {
      this.#stats.malformed++;
      // A stream message that could not be framed: its head was read only to answer it.
      const error = inbound.framingError ?? (parsed.ok ? undefined : parsed.error)!;
      const partial: PartialMessage | undefined = parsed.ok ? partialOf(parsed.message) : parsed.partial;
      // A malformed request is answered; one that cannot be, and a malformed response, is dropped.
      const answer = malformedAnswer(partial, error);
      this.#log.debug({ code: error.code, reason: error.reason, flow }, 'malformed message');
      if (this.#inspector.malformed(packet, error, answer !== undefined).action === 'drop') return;
      if (answer !== undefined) {
        this.#stats.rejected++;
        this.#answers.sendBack(flow, answer);
      }
      return;
    }
    const message = parsed.message;
    if (admission === 'reject') {
      // A retransmission of a request already forwarded is no new work: its transaction
      // absorbs it. A 503 to it would race the real answer and end a call the upstream is
      // setting up (the sender takes the first final response).
      if (message.kind === 'request' && this.#user.absorbRetransmission(message, flow)) return;
      this.#shedding.message(message, flow, direction, SHED_BY_AGE);
      return;
    }
    if (admitted.action === 'reject') {
      if (message.kind === 'request' && message.method !== 'ACK') {
        this.#answers.applyVerdict(message, flow, admitted);
      }
      return;
    }
    const verdict = validateMessage(message);
    if (!verdict.ok) {
      this.#stats.malformed++;
      this.#log.debug({ code: verdict.code, reason: verdict.reason, flow }, 'invalid message');
      const answerable = message.kind === 'request' && message.method !== 'ACK';
      if (this.#inspector.malformed(packet, verdict, answerable).action === 'drop') return;
      if (answerable) {
        // RFC 3261 20.43: a Warning says what was wrong, for the engineer reading a trace.
        this.#answers.reply(message, flow, verdict.status, verdict.reason, [warningHeader(verdict.reason)]);
      }
      return;
    }
    if (message.kind === 'response') this.#user.onResponse(message, flow, direction);
    else this.#user.onRequest(message, flow, direction);
  }
}

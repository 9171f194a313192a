import type { SipParseError } from '../../sip/errors.ts';
import type { SipMessage } from '../../sip/message.ts';
import type { PartialMessage } from '../../sip/parse.ts';
import { createResponseFromPartial } from '../../sip/response.ts';
import { warningHeader } from '../../sip/warning.ts';

/**
 * The answer to a message that failed to parse or frame: the error's status (400, 513...)
 * with a Warning saying what was wrong (RFC 3261 20.43), built from the fields that can be
 * read. Undefined when none can be built (a response, or a request missing what an answer copies).
 */
export function malformedAnswer(
  partial: PartialMessage | undefined,
  error: Pick<SipParseError, 'status' | 'reason'>,
): Buffer | undefined {
  return partial === undefined
    ? undefined
    : createResponseFromPartial(partial, error.status, error.reason, {
        headers: [warningHeader(error.reason)],
      });
}

/** A parsed message seen as the fields an answer is built from (a framed stream message's head). */
export function partialOf(message: SipMessage): PartialMessage {
  return message.kind === 'request'
    ? { kind: 'request', method: message.method, headers: message.headers }
    : { kind: 'response', headers: message.headers };
}

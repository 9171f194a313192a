/**
 * Errors of the SIP layer. They are returned, never thrown across the module boundary. Each
 * carries a stable code, the SIP status to answer a request with, and a short ASCII reason
 * built from our own words (never from the attacker's bytes) so it is safe in a reason
 * phrase or a Warning header.
 */
export class SipParseError {
  readonly code: string;
  readonly status: number;
  readonly reason: string;
  readonly limit?: string;

  constructor(code: string, status: number, reason: string, limit?: string) {
    this.code = code;
    this.status = status;
    this.reason = reason;
    if (limit !== undefined) this.limit = limit;
  }

  /** For logs: `SW_ERR_BAD_VIA: malformed Via header`. */
  toString(): string {
    return `${this.code}: ${this.reason}`;
  }
}

/** Stable error codes with the status each answers a request with. */
export const ERROR_STATUS = Object.freeze({
  SW_ERR_MESSAGE_TOO_LARGE: 513, // RFC 3261 21.5.14 Message Too Large
  SW_ERR_TOO_MANY_HEADERS: 513,
  SW_ERR_TOKEN_TOO_LONG: 400,
  SW_ERR_BODY_TOO_LARGE: 413, // RFC 3261 21.4.11 Request Entity Too Large
  SW_ERR_BAD_START_LINE: 400,
  SW_ERR_BAD_VERSION: 505, // RFC 3261 21.5.6 Version Not Supported
  SW_ERR_BAD_STATUS_CODE: 400,
  SW_ERR_BAD_REQUEST_URI: 400,
  SW_ERR_REQUEST_URI_HEADERS: 400,
  SW_ERR_NO_HEADER_END: 400,
  SW_ERR_BAD_HEADER: 400,
  SW_ERR_MISSING_HEADER: 400,
  SW_ERR_DUPLICATE_HEADER: 400,
  SW_ERR_BAD_CONTENT_LENGTH: 400,
  SW_ERR_CONTENT_LENGTH: 400,
  SW_ERR_BAD_URI: 400,
  SW_ERR_BAD_VIA: 400,
  SW_ERR_BAD_NAME_ADDR: 400,
  SW_ERR_BAD_CSEQ: 400,
  SW_ERR_BAD_CALL_ID: 400,
  SW_ERR_BAD_MAX_FORWARDS: 400,
  SW_ERR_BAD_EXPIRES: 400,
  SW_ERR_INTERNAL: 500,
} as const);

export type SipErrorCode = keyof typeof ERROR_STATUS;

export function sipError(code: SipErrorCode, reason: string, limit?: string): SipParseError {
  return new SipParseError(code, ERROR_STATUS[code], reason, limit);
}

export function isSipParseError(v: unknown): v is SipParseError {
  return v instanceof SipParseError;
}

/**
 * Errors of the SIP layer. They are returned, never thrown across the module boundary. Each
 * carries a stable code, the SIP status to answer a request with, and a short ASCII reason
 * built from our own words (never from the attacker's bytes) so it is safe in a reason
 * phrase or a Warning header.
 */
export class SipParseError {
  readonly code: SipErrorCode;
  readonly status: number;
  readonly reason: string;
  readonly limit?: string;

  constructor(code: SipErrorCode, status: number, reason: string, limit?: string) {
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
  // Semantics of a parsed message (validate.ts, RFC 3261 8.2 and 16.3).
  SW_ERR_EXPIRES_RANGE: 400,
  SW_ERR_BAD_QVALUE: 400,
  SW_ERR_UNSUPPORTED_URI_SCHEME: 416, // RFC 3261 21.4.14 Unsupported URI Scheme
  SW_ERR_CSEQ_METHOD_MISMATCH: 400,
  SW_ERR_MAX_FORWARDS_RANGE: 400,
  SW_ERR_BAD_CONTACT_STAR: 400,
  SW_ERR_BAD_EXTENSION: 420, // RFC 3261 21.4.15 Bad Extension
  // The checks of the validate stage (src/security/stages/validate.ts).
  SW_ERR_TOO_MANY_VIA: 400,
  SW_ERR_TOO_MANY_HEADER_FIELDS: 400,
  SW_ERR_TOO_MANY_CONTACT: 400,
  SW_ERR_TOO_MANY_ROUTE: 400,
  SW_ERR_BAD_PORT: 400,
  SW_ERR_BAD_HEADER_URI: 400,
  SW_ERR_BAD_OPTION_TAGS: 400,
  SW_ERR_BAD_ACCEPT: 400,
  SW_ERR_BAD_CONTENT_TYPE: 400,
  SW_ERR_BAD_EVENT: 400,
  SW_ERR_BAD_DELTA_SECONDS: 400,
  SW_ERR_MISSING_CONTENT_TYPE: 400,
  SW_ERR_UNSUPPORTED_CONTENT_ENCODING: 415, // RFC 3261 21.4.13 Unsupported Media Type
} as const);

export type SipErrorCode = keyof typeof ERROR_STATUS;

export function sipError(code: SipErrorCode, reason: string, limit?: string): SipParseError {
  return new SipParseError(code, ERROR_STATUS[code], reason, limit);
}

export function isSipParseError(v: unknown): v is SipParseError {
  return v instanceof SipParseError;
}

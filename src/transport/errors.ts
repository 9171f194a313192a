/**
 * Stable error codes of the transport layer, each with the SIP status a caller could answer
 * with before closing (RFC 3261 section 21).
 */
export const TRANSPORT_ERRORS = {
  /** No CRLFCRLF within maxStreamHeaderBytes of a message's start. */
  SW_ERR_HEADERS_TOO_LARGE: { status: 513 },
  /** Headers plus Content-Length exceed maxStreamMessageBytes. */
  SW_ERR_MESSAGE_TOO_LARGE: { status: 513 },
  /** Content-Length not a single decimal, or two Content-Length headers that disagree. */
  SW_ERR_BAD_CONTENT_LENGTH: { status: 400 },
  /** The options given to createTransport are not usable. */
  SW_ERR_TRANSPORT_CONFIG: { status: 500 },
  /** A listening socket could not be opened. */
  SW_ERR_LISTEN_FAILED: { status: 500 },
} as const;

export type TransportErrorCode = keyof typeof TRANSPORT_ERRORS;

export class TransportError extends Error {
  readonly code: TransportErrorCode;
  readonly status: number;

  constructor(code: TransportErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TransportError';
    this.code = code;
    this.status = TRANSPORT_ERRORS[code].status;
  }
}

/** Why a send failed: logged and counted, never thrown. */
export type SendFailureReason =
  | 'no-listener'
  | 'bad-address'
  | 'tls-not-configured'
  | 'connection-limit'
  | 'connect-failed'
  | 'connect-timeout'
  | 'connection-closed'
  | 'write-buffer-full'
  | 'socket-error';

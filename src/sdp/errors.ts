/**
 * Errors of the SDP layer. They are returned, never thrown across the module boundary. Each
 * carries a stable code and a short ASCII reason in our own words (never the attacker's
 * bytes), so it is safe in a SIP reason phrase, a Warning header or a log line.
 */
export class SdpError {
  readonly code: SdpErrorCode;
  readonly reason: string;
  /** 1-based line of the session description where the problem was found, when one was. */
  readonly line?: number;

  constructor(code: SdpErrorCode, reason: string, line?: number) {
    this.code = code;
    this.reason = reason;
    if (line !== undefined) this.line = line;
  }

  /** For logs: `SW_ERR_SDP_BAD_MEDIA: bad media port (line 6)`. */
  toString(): string {
    return `${this.code}: ${this.reason}${this.line === undefined ? '' : ` (line ${this.line})`}`;
  }
}

/** Stable codes, one per kind of problem. */
export const SDP_ERROR_CODES = [
  'SW_ERR_SDP_EMPTY',
  'SW_ERR_SDP_TOO_LARGE',
  'SW_ERR_SDP_TOO_MANY_LINES',
  'SW_ERR_SDP_TOO_MANY_MEDIA',
  'SW_ERR_SDP_TOO_MANY_ATTRIBUTES',
  'SW_ERR_SDP_TOO_MANY_FORMATS',
  'SW_ERR_SDP_BAD_LINE',
  'SW_ERR_SDP_BAD_CHARACTER',
  'SW_ERR_SDP_UNKNOWN_LINE',
  'SW_ERR_SDP_LINE_ORDER',
  'SW_ERR_SDP_REPEATED_LINE',
  'SW_ERR_SDP_MISSING_LINE',
  'SW_ERR_SDP_BAD_VERSION',
  'SW_ERR_SDP_BAD_ORIGIN',
  'SW_ERR_SDP_BAD_CONNECTION',
  'SW_ERR_SDP_MISSING_CONNECTION',
  'SW_ERR_SDP_BAD_BANDWIDTH',
  'SW_ERR_SDP_BAD_TIMING',
  'SW_ERR_SDP_BAD_MEDIA',
  'SW_ERR_SDP_BAD_PORT',
  'SW_ERR_SDP_BAD_PROTO',
  'SW_ERR_SDP_BAD_PAYLOAD_TYPE',
  'SW_ERR_SDP_BAD_RTPMAP',
  'SW_ERR_SDP_BAD_FMTP',
  'SW_ERR_SDP_BAD_ATTRIBUTE',
  'SW_ERR_SDP_BAD_FIELD',
  'SW_ERR_SDP_INTERNAL',
  /** Locating the SDP in a SIP body (src/sdp/body.ts). */
  'SW_ERR_SDP_BAD_MULTIPART',
  'SW_ERR_SDP_UNSUPPORTED_ENCODING',
] as const;

export type SdpErrorCode = (typeof SDP_ERROR_CODES)[number];

export function sdpError(code: SdpErrorCode, reason: string, line?: number): SdpError {
  return new SdpError(code, reason, line);
}

/**
 * Parser limits: every buffer, list and token the parser reads is bounded by one of these.
 * Defaults follow the field (DESIGN.md): 6048 bytes per message on every transport (a
 * stream is no reason to accept a larger one), 1024 bytes per header parameter, 4000 bytes
 * of body.
 */
export interface ParserLimits {
  /** Largest message accepted (start line, headers and body). */
  readonly maxMessageBytes: number;
  /** Largest number of header lines, continuation lines included. */
  readonly maxHeaderLines: number;
  /** Largest header parameter, value token, URI component, quoted string or Call-ID. */
  readonly maxTokenBytes: number;
  /** Largest body. */
  readonly maxBodyBytes: number;
  /**
   * Content-Length is mandatory (stream transports, RFC 3261 section 18.3). When false or
   * absent, a message without it takes the rest of the datagram as its body.
   */
  readonly requireContentLength?: boolean;
}

export const DEFAULT_UDP_LIMITS: ParserLimits = Object.freeze({
  maxMessageBytes: 6048,
  maxHeaderLines: 256,
  maxTokenBytes: 1024,
  maxBodyBytes: 4000,
  requireContentLength: false,
});

export const DEFAULT_STREAM_LIMITS: ParserLimits = Object.freeze({
  maxMessageBytes: 6048,
  maxHeaderLines: 256,
  maxTokenBytes: 1024,
  maxBodyBytes: 4000,
  requireContentLength: true,
});

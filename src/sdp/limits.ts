/**
 * SDP parser limits: every list the parser builds is bounded by one of these. The byte
 * bound follows the field (DESIGN.md: 4000 bytes of SDP); the others keep a description
 * within what a real offer needs (a WebRTC audio+video offer is about 120 lines).
 */
export interface SdpLimits {
  /** Largest session description, in bytes. */
  readonly maxBytes: number;
  /** Largest number of lines. */
  readonly maxLines: number;
  /** Largest number of media sections (m= lines). */
  readonly maxMedia: number;
  /** Largest number of a= lines, session and media levels together. */
  readonly maxAttributes: number;
  /** Largest number of formats (payload types) on one m= line. */
  readonly maxFormats: number;
}

export const DEFAULT_SDP_LIMITS: SdpLimits = Object.freeze({
  maxBytes: 4000,
  maxLines: 256,
  maxMedia: 16,
  maxAttributes: 256,
  maxFormats: 64,
});

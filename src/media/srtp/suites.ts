/**
 * The SRTP crypto suites sipwarden speaks, as SDES names them (RFC 4568 section 6.2,
 * RFC 6188 section 7): AES in counter mode with HMAC-SHA1, 128- or 256-bit master keys,
 * an 80- or 32-bit SRTP tag. SRTCP always carries an 80-bit tag (RFC 4568 section 6.2.2:
 * the _32 suites shorten the SRTP tag only).
 */
export type SrtpSuiteName =
  | 'AES_CM_128_HMAC_SHA1_80'
  | 'AES_CM_128_HMAC_SHA1_32'
  | 'AES_256_CM_HMAC_SHA1_80'
  | 'AES_256_CM_HMAC_SHA1_32';

export interface SrtpSuite {
  readonly name: SrtpSuiteName;
  /** Master and session encryption key length in octets. */
  readonly keyLength: 16 | 32;
  /** Master and session salt length in octets (112 bits for every AES-CM suite). */
  readonly saltLength: 14;
  /** Session authentication key length in octets (HMAC-SHA1, 160 bits). */
  readonly authKeyLength: 20;
  /** SRTP authentication tag length in octets. */
  readonly srtpTagLength: 10 | 4;
  /** SRTCP authentication tag length in octets. */
  readonly srtcpTagLength: 10;
}

const suite = (name: SrtpSuiteName, keyLength: 16 | 32, srtpTagLength: 10 | 4): SrtpSuite =>
  Object.freeze({ name, keyLength, saltLength: 14, authKeyLength: 20, srtpTagLength, srtcpTagLength: 10 });

export const SRTP_SUITES: ReadonlyMap<string, SrtpSuite> = new Map(
  [
    suite('AES_CM_128_HMAC_SHA1_80', 16, 10),
    suite('AES_CM_128_HMAC_SHA1_32', 16, 4),
    suite('AES_256_CM_HMAC_SHA1_80', 32, 10),
    suite('AES_256_CM_HMAC_SHA1_32', 32, 4),
  ].map((s) => [s.name, s]),
);

export function srtpSuite(name: string): SrtpSuite | undefined {
  return SRTP_SUITES.get(name);
}

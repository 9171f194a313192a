/**
 * The SRTP key derivation (RFC 3711 section 4.3, the AES-CM PRF of 4.3.3; RFC 6188
 * section 3 for the 256-bit PRF): each session key is the AES counter-mode keystream
 * under the master key, from the IV (master salt XOR (label || index DIV kdr)) * 2^16.
 * The key derivation rate is 0 (keys derived once), the only rate SDES offers by default
 * and the only one sipwarden accepts.
 */
import { createCipheriv } from 'node:crypto';
import type { MasterKey } from './master-key.ts';
import type { SrtpSuite } from './suites.ts';

/** Key derivation labels (RFC 3711 section 4.3.1 and 4.3.2). */
export const LABEL = {
  srtpEncryption: 0x00,
  srtpAuthentication: 0x01,
  srtpSalt: 0x02,
  srtcpEncryption: 0x03,
  srtcpAuthentication: 0x04,
  srtcpSalt: 0x05,
} as const;

/** PRF_n(k_master, x): n octets of AES-CM keystream (RFC 3711 section 4.3.3). */
export function deriveSessionKey(
  masterKey: Buffer,
  masterSalt: Buffer,
  label: number,
  length: number,
): Buffer {
  const iv = Buffer.alloc(16);
  masterSalt.copy(iv, 0, 0, 14);
  // x = master salt XOR (label || r), r = index DIV kdr = 0 with kdr 0: the label lands
  // in octet 7 of the 14-octet salt (RFC 3711 B.3).
  iv[7]! ^= label;
  const algorithm = masterKey.length === 32 ? 'aes-256-ctr' : 'aes-128-ctr';
  const cipher = createCipheriv(algorithm, masterKey, iv);
  const out = Buffer.concat([cipher.update(Buffer.alloc(length)), cipher.final()]);
  return out.subarray(0, length);
}

export interface SessionKeys {
  readonly encryption: Buffer;
  readonly authentication: Buffer;
  readonly salt: Buffer;
}

export function deriveSrtpKeys(master: MasterKey, suite: SrtpSuite): SessionKeys {
  const { key, salt } = master.reveal();
  return {
    encryption: deriveSessionKey(key, salt, LABEL.srtpEncryption, suite.keyLength),
    authentication: deriveSessionKey(key, salt, LABEL.srtpAuthentication, suite.authKeyLength),
    salt: deriveSessionKey(key, salt, LABEL.srtpSalt, suite.saltLength),
  };
}

export function deriveSrtcpKeys(master: MasterKey, suite: SrtpSuite): SessionKeys {
  const { key, salt } = master.reveal();
  return {
    encryption: deriveSessionKey(key, salt, LABEL.srtcpEncryption, suite.keyLength),
    authentication: deriveSessionKey(key, salt, LABEL.srtcpAuthentication, suite.authKeyLength),
    salt: deriveSessionKey(key, salt, LABEL.srtcpSalt, suite.saltLength),
  };
}

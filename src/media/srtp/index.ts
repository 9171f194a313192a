/** SRTP and SRTCP (RFC 3711, RFC 6188) and SDES keying (RFC 4568). */
export * from './crypto-attribute.ts';
export * from './master-key.ts';
export * from './session.ts';
export * from './suites.ts';

/** The SIP layer's public API: pure, bytes in, values out. */
export { type NameAddrField, nameAddrsOf } from './address-headers.ts';
export * from './edit.ts';
export * from './errors.ts';
export { canonicalName, compactName, longName } from './header-names.ts';
export { formatCSeq, parseCSeq } from './headers/cseq.ts';
export { formatNameAddr, parseNameAddr, parseNameAddrList } from './headers/name-addr.ts';
export { formatVia, parseViaValues } from './headers/via.ts';
export * from './limits.ts';
export type * from './message.ts';
export * from './parse.ts';
export * from './response.ts';
export * from './serialize.ts';
export { formatSipUri, formatUri, isSipUri, isTelUri, parseUri } from './uri.ts';
export * from './validate.ts';
export { warningHeader } from './warning.ts';

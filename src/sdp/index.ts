/** The SDP layer's public API: pure, bytes in, values out. */
export { isFqdn, isIPv4, isIPv6 } from './address.ts';
export * from './body.ts';
export * from './errors.ts';
export * from './limits.ts';
export type * from './model.ts';
export * from './parse.ts';
export * from './serialize.ts';

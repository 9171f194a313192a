import { isIP } from 'node:net';

const MAPPED_IPV4 = /^::ffff:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i;

/**
 * The address as flows report it: an IPv4 peer reached through a dual-stack IPv6 socket
 * ("::ffff:192.0.2.1") is reported as plain IPv4, so that policies and bans see one form.
 */
export function normalizeAddress(address: string): string {
  const mapped = MAPPED_IPV4.exec(address);
  return mapped === null ? address : mapped[1]!;
}

/** 4 or 6 for an IP literal, 0 for anything else (host names are resolved above this layer). */
export function addressFamily(address: string): 0 | 4 | 6 {
  const family = isIP(address);
  return family === 4 || family === 6 ? family : 0;
}

export function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::';
}

/** The form a dual-stack IPv6 socket needs to reach an IPv4 address. */
export function mapIpv4(address: string): string {
  return `::ffff:${address}`;
}

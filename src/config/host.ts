/**
 * Host syntax checks for configuration values: an IPv4 address, an IPv6 address (without
 * brackets) or a DNS hostname (RFC 1123 section 2.1). Pure string checks: no lookups. The
 * addresses are read by the SIP layer's one IP reader, in its strict form.
 */
import { ipv4Value, ipv6Groups } from '../sip/host.ts';

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;
const groups = new Uint16Array(8);

/** A dotted quad without leading zeros (which some resolvers read as octal). */
export function isIpv4(text: string): boolean {
  return ipv4Value(text, 0, text.length, true) >= 0;
}

/** RFC 4291 section 2.2 text forms, `::` compression and a trailing IPv4 part included; no zone id. */
export function isIpv6(text: string): boolean {
  return ipv6Groups(text, 0, text.length, groups, true);
}

export function isHostname(text: string): boolean {
  if (text.length === 0 || text.length > 253) return false;
  const name = text.endsWith('.') ? text.slice(0, -1) : text;
  const labels = name.split('.');
  // A name made only of digits and dots is a mistyped IPv4 address, not a hostname.
  if (labels.every((label) => /^\d+$/.test(label))) return false;
  return labels.every((label) => LABEL.test(label));
}

export function isHost(text: string): boolean {
  return isIpv4(text) || isIpv6(text) || isHostname(text);
}

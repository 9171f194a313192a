/**
 * Host syntax checks for configuration values: an IPv4 address, an IPv6 address (without
 * brackets) or a DNS hostname (RFC 1123 section 2.1). Pure string checks: no lookups.
 */

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;
const HEX_GROUP = /^[0-9a-f]{1,4}$/i;

export function isIpv4(text: string): boolean {
  return IPV4.test(text);
}

/** RFC 4291 section 2.2 text forms, `::` compression and a trailing IPv4 part included. */
export function isIpv6(text: string): boolean {
  if (text.length < 2 || text.length > 45) return false;
  const lastColon = text.lastIndexOf(':');
  if (lastColon === -1) return false;
  let body = text;
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    // The dotted tail stands for the last two groups.
    if (!isIpv4(tail)) return false;
    body = text.slice(0, lastColon + 1) + '0:0';
  }
  const halves = body.split('::');
  if (halves.length > 2) return false;
  const groupsOf = (part: string): string[] => (part === '' ? [] : part.split(':'));
  if (halves.length === 1) {
    const groups = groupsOf(body);
    return groups.length === 8 && groups.every((group) => HEX_GROUP.test(group));
  }
  const groups = [...groupsOf(halves[0]!), ...groupsOf(halves[1]!)];
  return groups.length <= 7 && groups.every((group) => HEX_GROUP.test(group));
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

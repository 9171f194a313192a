/**
 * Where an attack goes, and the rule that keeps it on the operator's own machine: targets
 * other than loopback (127.0.0.0/8, ::1, and `localhost` when it resolves to them) are
 * refused unless the operator passes --allow-remote to test a network of their own.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { type AddressRange, isLoopbackAddress, isLoopbackRange, parseAddressRange } from './address-range.ts';
import { attackError } from './errors.ts';

export const DEFAULT_SIP_PORT = 5060;

export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

function parsePort(text: string, whole: string): number {
  const port = Number(text);
  if (!/^\d{1,5}$/.test(text) || port < 1 || port > 65535) {
    throw attackError('SW_ERR_ATTACK_TARGET', `${whole}: the port must be 1..65535`);
  }
  return port;
}

/** `HOST:PORT`, `[IPv6]:PORT`, or a host alone (port 5060). */
export function parseHostPort(text: string, defaultPort = DEFAULT_SIP_PORT): HostPort {
  const value = text.trim();
  if (value === '') throw attackError('SW_ERR_ATTACK_TARGET', 'the target is empty: give HOST:PORT');
  if (value.startsWith('[')) {
    const close = value.indexOf(']');
    if (close < 0) throw attackError('SW_ERR_ATTACK_TARGET', `${text}: missing ] after the IPv6 address`);
    const host = value.slice(1, close);
    const rest = value.slice(close + 1);
    if (rest === '') return { host, port: defaultPort };
    if (!rest.startsWith(':')) throw attackError('SW_ERR_ATTACK_TARGET', `${text}: expected :PORT after ]`);
    return { host, port: parsePort(rest.slice(1), text) };
  }
  if (isIP(value) === 6) return { host: value, port: defaultPort };
  const colon = value.lastIndexOf(':');
  if (colon < 0) return { host: value, port: defaultPort };
  return { host: value.slice(0, colon), port: parsePort(value.slice(colon + 1), text) };
}

function refusedMessage(what: string, address: string): string {
  return (
    `${what} (${address}) is not a loopback address: sipwarden attack only targets this machine ` +
    'unless you pass --allow-remote, to test a network that is yours'
  );
}

/**
 * Resolves a target host to one address and applies the loopback rule. A name is resolved
 * once, here, and every address it has must be loopback (so `localhost` passes, a name that
 * also resolves elsewhere does not).
 */
export async function resolveTarget(text: string, allowRemote: boolean): Promise<Endpoint> {
  const { host, port } = parseHostPort(text);
  let addresses: string[];
  if (isIP(host) !== 0) addresses = [host];
  else {
    try {
      addresses = (await lookup(host, { all: true })).map((entry) => entry.address);
    } catch {
      throw attackError('SW_ERR_ATTACK_TARGET', `${host}: cannot resolve this name`);
    }
    if (addresses.length === 0) throw attackError('SW_ERR_ATTACK_TARGET', `${host}: no address`);
  }
  if (!allowRemote) {
    const remote = addresses.find((address) => !isLoopbackAddress(address));
    if (remote !== undefined) throw attackError('SW_ERR_ATTACK_REMOTE_REFUSED', refusedMessage(host, remote));
  }
  // Prefer IPv4 when a name has both, as SIP clients commonly do.
  const chosen = addresses.find((address) => isIP(address) === 4) ?? addresses[0]!;
  return { address: chosen, port };
}

/** A scan target: an address range and the ports to try on each. */
export interface ScanTarget {
  readonly range: AddressRange;
  readonly ports: readonly number[];
}

/** `RANGE:PORT` (`127.0.0.0/28:5060`, `127.0.0.1-127.0.0.9:5060`), or a host; ports may be given apart. */
export function resolveScanTarget(
  text: string,
  ports: readonly number[] | undefined,
  allowRemote: boolean,
): ScanTarget {
  const { host, port } = parseHostPort(text);
  const range = host === 'localhost' ? parseAddressRange('127.0.0.1') : parseAddressRange(host);
  if (!allowRemote && !isLoopbackRange(range)) {
    throw attackError('SW_ERR_ATTACK_REMOTE_REFUSED', refusedMessage(`the range ${host}`, range.text));
  }
  return { range, ports: ports && ports.length > 0 ? ports : [port] };
}

/** `5060`, `5060,5062`, `5060-5070` and mixes of them; bounded to `max` ports. */
export function parsePortList(text: string, max = 4096): number[] {
  const ports: number[] = [];
  for (const part of text.split(',')) {
    const item = part.trim();
    const dash = item.indexOf('-');
    const first = parsePort(dash > 0 ? item.slice(0, dash) : item, text);
    const last = dash > 0 ? parsePort(item.slice(dash + 1), text) : first;
    if (last < first) throw attackError('SW_ERR_ATTACK_TARGET', `${text}: ${item} is an empty range`);
    for (let port = first; port <= last; port++) {
      if (ports.length >= max) throw attackError('SW_ERR_ATTACK_TARGET', `${text}: more than ${max} ports`);
      ports.push(port);
    }
  }
  return ports;
}

/** `[::1]:5060` or `127.0.0.1:5060`. */
export function formatEndpoint(endpoint: Endpoint): string {
  return isIP(endpoint.address) === 6
    ? `[${endpoint.address}]:${endpoint.port}`
    : `${endpoint.address}:${endpoint.port}`;
}

/** The host as it goes in a SIP URI or Via (IPv6 in brackets). */
export function uriHost(address: string): string {
  return isIP(address) === 6 ? `[${address}]` : address;
}

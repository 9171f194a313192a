/**
 * Address ranges for source pools and scan sweeps: one address, a CIDR block
 * (`127.1.0.0/16`) or a dash range (`127.0.0.1-127.0.0.50`). IPv4 ranges of any size are
 * held as two numbers, never expanded; IPv6 is accepted as a single address only.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { attackError } from './errors.ts';

export interface AddressRange {
  /** How many addresses the range holds. */
  readonly size: number;
  /** The address at `index` (0 <= index < size). */
  at(index: number): string;
  /** The range as written back (`127.1.0.1-127.1.255.254`). */
  readonly text: string;
  readonly family: 4 | 6;
}

export function ipv4ToNumber(address: string): number {
  const parts = address.split('.');
  let value = 0;
  for (const part of parts) value = value * 256 + Number(part);
  return value;
}

export function numberToIpv4(value: number): string {
  return `${(value >>> 24) & 255}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
}

function ipv4Range(first: number, last: number, text: string): AddressRange {
  return {
    size: last - first + 1,
    at: (index) => numberToIpv4(first + index),
    text,
    family: 4,
  };
}

/**
 * Parses `ADDRESS`, `ADDRESS/PREFIX` or `FIRST-LAST`. A CIDR block of more than two
 * addresses leaves out its network and broadcast addresses, as a host sweep does.
 */
export function parseAddressRange(text: string): AddressRange {
  const value = text.trim();
  if (isIPv6(value)) return { size: 1, at: () => value, text: value, family: 6 };
  if (isIPv4(value)) return ipv4Range(ipv4ToNumber(value), ipv4ToNumber(value), value);
  const slash = value.indexOf('/');
  if (slash > 0) {
    const base = value.slice(0, slash);
    const prefixText = value.slice(slash + 1);
    const prefix = Number(prefixText);
    if (!isIPv4(base) || !/^\d{1,2}$/.test(prefixText) || prefix > 32) {
      throw attackError('SW_ERR_ATTACK_RANGE', `${text}: not an IPv4 CIDR block (like 127.1.0.0/16)`);
    }
    const hostBits = 32 - prefix;
    const blockSize = 2 ** hostBits;
    const network = ipv4ToNumber(base) - (ipv4ToNumber(base) % blockSize);
    if (blockSize <= 2) return ipv4Range(network, network + blockSize - 1, value);
    return ipv4Range(
      network + 1,
      network + blockSize - 2,
      `${numberToIpv4(network + 1)}-${numberToIpv4(network + blockSize - 2)}`,
    );
  }
  const dash = value.indexOf('-');
  if (dash > 0) {
    const first = value.slice(0, dash);
    const last = value.slice(dash + 1);
    if (!isIPv4(first) || !isIPv4(last) || ipv4ToNumber(last) < ipv4ToNumber(first)) {
      throw attackError('SW_ERR_ATTACK_RANGE', `${text}: not an IPv4 range (like 127.0.0.1-127.0.0.50)`);
    }
    return ipv4Range(ipv4ToNumber(first), ipv4ToNumber(last), value);
  }
  throw attackError('SW_ERR_ATTACK_RANGE', `${text}: not an address, a CIDR block or a range`);
}

/** Loopback: 127.0.0.0/8 and ::1 (with its IPv4-mapped form for 127/8). */
export function isLoopbackAddress(address: string): boolean {
  if (isIPv4(address)) return address.startsWith('127.');
  if (!isIPv6(address)) return false;
  const lower = address.toLowerCase();
  if (lower === '::1' || lower === '0:0:0:0:0:0:0:1') return true;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  return mapped !== null && mapped[1]!.startsWith('127.');
}

/** True when every address of the range is loopback (checked on its ends: ranges are contiguous). */
export function isLoopbackRange(range: AddressRange): boolean {
  return isLoopbackAddress(range.at(0)) && isLoopbackAddress(range.at(range.size - 1));
}

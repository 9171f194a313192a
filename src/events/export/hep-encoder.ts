/**
 * HEP version 3 (the Homer Encapsulation Protocol of sipcapture.org, as Kamailio's siptrace
 * and heplify send it): "HEP3", the total length (uint16, network order), then chunks of
 * vendor id (0: generic), type id and length (uint16 each, the length counting the 6-byte
 * chunk header) followed by the value. The generic chunk types used here:
 *
 *   1 IP family (uint8: 2 IPv4, 10 IPv6)   2 IP protocol (uint8: 17 UDP, 6 TCP)
 *   3/4 IPv4 source/destination            5/6 IPv6 source/destination
 *   7/8 source/destination port (uint16)   9/10 time: seconds, microseconds (uint32)
 *   11 payload type (uint8: 1 SIP, 100 log) 12 capture agent id (uint32)
 *   14 authentication key (text)           15 payload
 *   17 correlation id (text: the Call-ID)
 */
import { isIP } from 'node:net';

export const HEP_PROTOCOL_SIP = 1;
export const HEP_PROTOCOL_LOG = 100;
/** A HEP packet's length is a uint16. */
export const MAX_HEP_PACKET = 65_535;

export const HEP_CHUNK = {
  ipFamily: 1,
  ipProtocol: 2,
  ipv4Source: 3,
  ipv4Destination: 4,
  ipv6Source: 5,
  ipv6Destination: 6,
  sourcePort: 7,
  destinationPort: 8,
  seconds: 9,
  microseconds: 10,
  protocolType: 11,
  captureId: 12,
  authKey: 14,
  payload: 15,
  correlationId: 17,
} as const;

export interface HepPacket {
  /** Both addresses of one family (IPv4-mapped IPv6 is written as IPv4). */
  readonly sourceAddress: string;
  readonly sourcePort: number;
  readonly destinationAddress: string;
  readonly destinationPort: number;
  /** The transport carrying the SIP message: TLS is TCP for HEP. */
  readonly transport: 'udp' | 'tcp' | 'tls';
  /** Epoch ms. */
  readonly at: number;
  readonly protocolType: number;
  readonly captureId: number;
  readonly payload: Buffer;
  readonly correlationId?: string;
  readonly authKey?: string;
}

/** The packet's bytes; undefined when it cannot be encoded (addresses of mixed families, too large). */
export function encodeHep(packet: HepPacket): Buffer | undefined {
  // Chunk lengths are uint16 too: a payload that cannot fit is not captured.
  if (packet.payload.length > MAX_HEP_PACKET - 512) return undefined;
  const source = plainAddress(packet.sourceAddress);
  const destination = plainAddress(packet.destinationAddress);
  const family = isIP(source);
  if (family === 0 || isIP(destination) !== family) return undefined;
  const chunks: Buffer[] = [
    uint8(HEP_CHUNK.ipFamily, family === 4 ? 2 : 10),
    uint8(HEP_CHUNK.ipProtocol, packet.transport === 'udp' ? 17 : 6),
    bytes(family === 4 ? HEP_CHUNK.ipv4Source : HEP_CHUNK.ipv6Source, addressBytes(source, family)),
    bytes(
      family === 4 ? HEP_CHUNK.ipv4Destination : HEP_CHUNK.ipv6Destination,
      addressBytes(destination, family),
    ),
    uint16(HEP_CHUNK.sourcePort, packet.sourcePort),
    uint16(HEP_CHUNK.destinationPort, packet.destinationPort),
    uint32(HEP_CHUNK.seconds, Math.floor(packet.at / 1000)),
    uint32(HEP_CHUNK.microseconds, Math.floor(packet.at % 1000) * 1000),
    uint8(HEP_CHUNK.protocolType, packet.protocolType),
    uint32(HEP_CHUNK.captureId, packet.captureId),
  ];
  if (packet.authKey !== undefined)
    chunks.push(bytes(HEP_CHUNK.authKey, Buffer.from(packet.authKey, 'utf8')));
  if (packet.correlationId !== undefined) {
    chunks.push(bytes(HEP_CHUNK.correlationId, Buffer.from(packet.correlationId, 'latin1')));
  }
  chunks.push(bytes(HEP_CHUNK.payload, packet.payload));
  const length = 6 + chunks.reduce((sum, chunk) => sum + chunk.length, 0);
  if (length > MAX_HEP_PACKET) return undefined;
  const header = Buffer.alloc(6);
  header.write('HEP3', 0, 'latin1');
  header.writeUInt16BE(length, 4);
  return Buffer.concat([header, ...chunks], length);
}

export interface HepChunk {
  readonly vendor: number;
  readonly type: number;
  readonly value: Buffer;
}

/** The chunks of a HEP v3 packet; undefined when it is not one (for tests and tools). */
export function decodeHep(data: Buffer): HepChunk[] | undefined {
  if (data.length < 6 || data.toString('latin1', 0, 4) !== 'HEP3') return undefined;
  const total = data.readUInt16BE(4);
  if (total !== data.length) return undefined;
  const chunks: HepChunk[] = [];
  let offset = 6;
  while (offset < total) {
    if (offset + 6 > total) return undefined;
    const length = data.readUInt16BE(offset + 4);
    if (length < 6 || offset + length > total) return undefined;
    chunks.push({
      vendor: data.readUInt16BE(offset),
      type: data.readUInt16BE(offset + 2),
      value: data.subarray(offset + 6, offset + length),
    });
    offset += length;
  }
  return chunks;
}

/** `::ffff:192.0.2.1` as `192.0.2.1`: what a dual-stack socket reports for IPv4 peers. */
function plainAddress(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

function addressBytes(address: string, family: number): Buffer {
  if (family === 4) return Buffer.from(address.split('.').map(Number));
  // Expand `::` into the zero groups it stands for, then write eight 16-bit groups.
  const [head = '', tail] = address.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const out = Buffer.alloc(16);
  for (let index = 0; index < 8; index += 1) {
    out.writeUInt16BE(Number.parseInt(groups[index] ?? '0', 16) || 0, index * 2);
  }
  return out;
}

function header(type: number, valueLength: number): Buffer {
  const out = Buffer.alloc(6 + valueLength);
  out.writeUInt16BE(0, 0);
  out.writeUInt16BE(type, 2);
  out.writeUInt16BE(6 + valueLength, 4);
  return out;
}

function uint8(type: number, value: number): Buffer {
  const out = header(type, 1);
  out.writeUInt8(value, 6);
  return out;
}

function uint16(type: number, value: number): Buffer {
  const out = header(type, 2);
  out.writeUInt16BE(value, 6);
  return out;
}

function uint32(type: number, value: number): Buffer {
  const out = header(type, 4);
  out.writeUInt32BE(value >>> 0, 6);
  return out;
}

function bytes(type: number, value: Buffer): Buffer {
  const out = header(type, value.length);
  value.copy(out, 6);
  return out;
}

/**
 * The DNS wire format (RFC 1035 section 4), as much of it as RFC 3263 resolution needs:
 * a query for one name and type (with an EDNS0 OPT record, RFC 6891, so that answers up to
 * 1232 bytes come whole over UDP), and the answer read with every record's TTL: A, AAAA,
 * CNAME, SRV (RFC 2782), NAPTR (RFC 3403) and, in the authority section, SOA for negative
 * caching (RFC 2308). node:dns reports no TTL for SRV and NAPTR, hence this.
 *
 * An answer comes from the network: every length and offset is checked against the packet,
 * compression pointers may only point backwards (no loops), names are at most 255 bytes,
 * and at most MAX_RECORDS records are read. Anything else is a WireError, never a throw of
 * another kind.
 */

export const TYPE = { A: 1, CNAME: 5, SOA: 6, AAAA: 28, SRV: 33, NAPTR: 35, OPT: 41 } as const;
export type QueryType = 'A' | 'AAAA' | 'SRV' | 'NAPTR';

export interface SrvData {
  readonly priority: number;
  readonly weight: number;
  readonly port: number;
  readonly target: string;
}

export interface NaptrData {
  readonly order: number;
  readonly preference: number;
  readonly flags: string;
  readonly service: string;
  readonly regexp: string;
  readonly replacement: string;
}

export type RecordData =
  | { readonly type: 'A' | 'AAAA'; readonly address: string }
  | { readonly type: 'CNAME'; readonly target: string }
  | { readonly type: 'SRV'; readonly srv: SrvData }
  | { readonly type: 'NAPTR'; readonly naptr: NaptrData }
  | { readonly type: 'SOA'; readonly minimum: number }
  | { readonly type: 'other' };

export interface ResourceRecord {
  /** Owner name, lower case, without the final dot. */
  readonly name: string;
  readonly ttl: number;
  readonly data: RecordData;
}

export interface DnsResponse {
  readonly id: number;
  readonly truncated: boolean;
  /** RCODE: 0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN, 5 REFUSED... */
  readonly rcode: number;
  readonly question: { readonly name: string; readonly type: number } | undefined;
  readonly answers: readonly ResourceRecord[];
  readonly authority: readonly ResourceRecord[];
}

export class WireError extends Error {}

/** Records read from one answer at most (answer and authority sections together). */
const MAX_RECORDS = 64;
/** Compression pointers followed in one name at most. */
const MAX_POINTERS = 32;
/** The UDP payload size announced in EDNS0 (the DNS flag day 2020 value). */
export const EDNS_PAYLOAD = 1232;

/** A recursive query (RD set) for `name` of `type`, with an EDNS0 OPT record. */
export function encodeQuery(id: number, name: string, type: QueryType): Buffer {
  const labels = name.replace(/\.$/, '').split('.');
  const parts: Buffer[] = [];
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id & 0xffff, 0);
  header.writeUInt16BE(0x0100, 2); // RD
  header.writeUInt16BE(1, 4); // QDCOUNT
  header.writeUInt16BE(1, 10); // ARCOUNT: the OPT record
  parts.push(header);
  let length = 1;
  for (const label of labels) {
    const bytes = Buffer.from(label, 'latin1');
    if (bytes.length === 0 || bytes.length > 63) throw new WireError(`bad label in ${name}`);
    length += bytes.length + 1;
    parts.push(Buffer.from([bytes.length]), bytes);
  }
  if (length > 255) throw new WireError(`name too long: ${name}`);
  const tail = Buffer.alloc(1 + 4 + 11);
  tail.writeUInt8(0, 0);
  tail.writeUInt16BE(TYPE[type], 1);
  tail.writeUInt16BE(1, 3); // IN
  // OPT: root name, type 41, class = UDP payload size, TTL 0 (no extended flags), no data.
  tail.writeUInt8(0, 5);
  tail.writeUInt16BE(TYPE.OPT, 6);
  tail.writeUInt16BE(EDNS_PAYLOAD, 8);
  tail.writeUInt32BE(0, 10);
  tail.writeUInt16BE(0, 14);
  parts.push(tail);
  return Buffer.concat(parts);
}

/** Reads an answer; throws WireError when it is not a well-formed DNS response. */
export function decodeResponse(packet: Buffer): DnsResponse {
  if (packet.length < 12) throw new WireError('shorter than a header');
  const id = packet.readUInt16BE(0);
  const flags = packet.readUInt16BE(2);
  if ((flags & 0x8000) === 0) throw new WireError('not a response');
  const qdcount = packet.readUInt16BE(4);
  const ancount = packet.readUInt16BE(6);
  const nscount = packet.readUInt16BE(8);
  let offset = 12;
  let question: DnsResponse['question'];
  if (qdcount > 1) throw new WireError('more than one question');
  if (qdcount === 1) {
    const name = readName(packet, offset);
    offset = name.next;
    need(packet, offset, 4);
    question = { name: name.name, type: packet.readUInt16BE(offset) };
    offset += 4;
  }
  const answers: ResourceRecord[] = [];
  const authority: ResourceRecord[] = [];
  const total = Math.min(ancount + nscount, MAX_RECORDS);
  for (let i = 0; i < total; i++) {
    const record = readRecord(packet, offset);
    offset = record.next;
    (i < ancount ? answers : authority).push(record.record);
  }
  return { id, truncated: (flags & 0x0200) !== 0, rcode: flags & 0x000f, question, answers, authority };
}

function need(packet: Buffer, offset: number, bytes: number): void {
  if (offset + bytes > packet.length) throw new WireError('runs past the end of the packet');
}

function readRecord(packet: Buffer, offset: number): { record: ResourceRecord; next: number } {
  const owner = readName(packet, offset);
  let at = owner.next;
  need(packet, at, 10);
  const type = packet.readUInt16BE(at);
  // A TTL with the top bit set is read as 0 (RFC 2181 section 8).
  const rawTtl = packet.readUInt32BE(at + 4);
  const ttl = rawTtl > 0x7fffffff ? 0 : rawTtl;
  const length = packet.readUInt16BE(at + 8);
  at += 10;
  need(packet, at, length);
  const end = at + length;
  const data = readData(packet, type, at, end);
  return { record: { name: owner.name, ttl, data }, next: end };
}

function readData(packet: Buffer, type: number, at: number, end: number): RecordData {
  const length = end - at;
  switch (type) {
    case TYPE.A:
      if (length !== 4) throw new WireError('A record of the wrong length');
      return { type: 'A', address: [...packet.subarray(at, end)].join('.') };
    case TYPE.AAAA: {
      if (length !== 16) throw new WireError('AAAA record of the wrong length');
      const groups: string[] = [];
      for (let i = 0; i < 16; i += 2) groups.push(packet.readUInt16BE(at + i).toString(16));
      return { type: 'AAAA', address: compressIpv6(groups) };
    }
    case TYPE.CNAME:
      return { type: 'CNAME', target: within(readName(packet, at), end).name };
    case TYPE.SRV: {
      if (length < 7) throw new WireError('SRV record too short');
      const target = within(readName(packet, at + 6), end);
      return {
        type: 'SRV',
        srv: {
          priority: packet.readUInt16BE(at),
          weight: packet.readUInt16BE(at + 2),
          port: packet.readUInt16BE(at + 4),
          target: target.name,
        },
      };
    }
    case TYPE.NAPTR: {
      need(packet, at, 4);
      if (length < 4) throw new WireError('NAPTR record too short');
      let p = at + 4;
      const flags = readString(packet, p, end);
      p = flags.next;
      const service = readString(packet, p, end);
      p = service.next;
      const regexp = readString(packet, p, end);
      p = regexp.next;
      const replacement = within(readName(packet, p), end);
      return {
        type: 'NAPTR',
        naptr: {
          order: packet.readUInt16BE(at),
          preference: packet.readUInt16BE(at + 2),
          flags: flags.text,
          service: service.text,
          regexp: regexp.text,
          replacement: replacement.name,
        },
      };
    }
    case TYPE.SOA: {
      // MNAME, RNAME, then SERIAL REFRESH RETRY EXPIRE MINIMUM (RFC 1035 3.3.13).
      const mname = readName(packet, at);
      const rname = readName(packet, mname.next);
      if (rname.next + 20 !== end) throw new WireError('SOA record of the wrong length');
      return { type: 'SOA', minimum: packet.readUInt32BE(rname.next + 16) };
    }
    default:
      return { type: 'other' };
  }
}

function within<T extends { next: number }>(value: T, end: number): T {
  if (value.next > end) throw new WireError('name runs past its record');
  return value;
}

/** A <character-string>: one length byte, then that many bytes. */
function readString(packet: Buffer, at: number, end: number): { text: string; next: number } {
  if (at >= end) throw new WireError('string runs past its record');
  const length = packet[at]!;
  if (at + 1 + length > end) throw new WireError('string runs past its record');
  return { text: packet.toString('latin1', at + 1, at + 1 + length), next: at + 1 + length };
}

/** A domain name, compressed or not: lower case, no final dot ('' for the root). */
function readName(packet: Buffer, offset: number): { name: string; next: number } {
  const labels: string[] = [];
  let at = offset;
  let next = -1;
  let pointers = 0;
  let length = 1;
  for (;;) {
    need(packet, at, 1);
    const byte = packet[at]!;
    if (byte === 0) {
      if (next < 0) next = at + 1;
      break;
    }
    const kind = byte & 0xc0;
    if (kind === 0xc0) {
      need(packet, at, 2);
      const target = ((byte & 0x3f) << 8) | packet[at + 1]!;
      // Backwards only: a pointer can never lead into a loop.
      if (target >= at || ++pointers > MAX_POINTERS) throw new WireError('bad compression pointer');
      if (next < 0) next = at + 2;
      at = target;
      continue;
    }
    if (kind !== 0) throw new WireError('unknown label type');
    need(packet, at + 1, byte);
    length += byte + 1;
    if (length > 255) throw new WireError('name longer than 255 bytes');
    labels.push(packet.toString('latin1', at + 1, at + 1 + byte).toLowerCase());
    at += byte + 1;
  }
  return { name: labels.join('.'), next };
}

/** Eight hexadecimal groups written as RFC 5952 does: the longest run of zeros as `::`. */
function compressIpv6(groups: readonly string[]): string {
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  if (bestStart < 0) return groups.join(':');
  return `${groups.slice(0, bestStart).join(':')}::${groups.slice(bestStart + bestLength).join(':')}`;
}

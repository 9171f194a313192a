import { randomInt } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { getServers } from 'node:dns';
import { isIP } from 'node:net';
import {
  type DnsResponse,
  decodeResponse,
  encodeQuery,
  type QueryType,
  type RecordData,
  type ResourceRecord,
  TYPE,
} from './wire.ts';

/**
 * A stub resolver over UDP (RFC 1035 4.2.1) that reports every answer's TTL, which node:dns
 * does not for SRV and NAPTR. One query at a time per call, each from a fresh socket on a
 * port the system picks, with a random id; an answer is taken only from the server asked,
 * with that id and that question (RFC 5452). Each try asks every server in turn.
 */
export interface DnsServer {
  readonly address: string;
  readonly port: number;
}

/** What a name of a type resolved to, with the time it may be kept. */
export type Lookup =
  | { readonly kind: 'answer'; readonly records: readonly RecordData[]; readonly ttlS: number }
  /** NXDOMAIN or NODATA; ttlS from the SOA in the answer (RFC 2308 section 5), absent without one. */
  | { readonly kind: 'negative'; readonly what: 'NXDOMAIN' | 'NODATA'; readonly ttlS: number | undefined };

export class DnsQueryError extends Error {
  constructor(
    readonly code: 'ETIMEOUT' | 'ESERVFAIL' | 'EREFUSED' | 'ETRUNCATED' | 'EBADRESP' | 'ECANCELLED',
  ) {
    super(code);
  }
}

/** CNAMEs followed from the question name at most. */
const MAX_CNAMES = 8;

const WANTED: Readonly<Record<QueryType, RecordData['type']>> = {
  A: 'A',
  AAAA: 'AAAA',
  SRV: 'SRV',
  NAPTR: 'NAPTR',
};

/** `127.0.0.1`, `127.0.0.1:5353`, `[::1]:53`, `::1`: an address and a port (53 by default). */
export function parseServer(text: string): DnsServer | undefined {
  const bracketed = /^\[([0-9a-fA-F:.]+)\](?::(\d{1,5}))?$/.exec(text);
  if (bracketed !== null) return server(bracketed[1]!, bracketed[2]);
  if (isIP(text) !== 0) return { address: text, port: 53 };
  const v4 = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(text);
  return v4 === null ? undefined : server(v4[1]!, v4[2]);
}

function server(address: string, port: string | undefined): DnsServer | undefined {
  const number = port === undefined ? 53 : Number(port);
  if (isIP(address) === 0 || number < 1 || number > 65535) return undefined;
  return { address, port: number };
}

/** The configured servers, or the system's (resolv.conf, as node:dns reads it). */
export function dnsServers(configured: readonly string[] | undefined): DnsServer[] {
  const texts = configured !== undefined && configured.length > 0 ? configured : getServers();
  return texts.map(parseServer).filter((s): s is DnsServer => s !== undefined);
}

export class UdpDnsClient {
  readonly #servers: readonly DnsServer[];
  readonly #timeoutMs: number;
  readonly #tries: number;
  readonly #open = new Set<{ socket: Socket; fail: (error: DnsQueryError) => void }>();

  constructor(servers: readonly DnsServer[], timeoutMs: number, tries: number) {
    this.#servers = servers;
    this.#timeoutMs = timeoutMs;
    this.#tries = tries;
  }

  /** Resolves `name` of `type`; throws DnsQueryError when no server gave a usable answer. */
  async query(name: string, type: QueryType): Promise<Lookup> {
    let last = new DnsQueryError('ETIMEOUT');
    for (let attempt = 0; attempt < this.#tries; attempt++) {
      for (const server of this.#servers) {
        try {
          const response = await this.#ask(server, name, type);
          const lookup = interpret(response, name, type);
          if (lookup !== undefined) return lookup;
          last = new DnsQueryError(response.rcode === 5 ? 'EREFUSED' : 'ESERVFAIL');
        } catch (error) {
          if (!(error instanceof DnsQueryError) || error.code === 'ECANCELLED') throw error;
          last = error;
        }
      }
    }
    throw last;
  }

  /** Ends every query in flight (they fail with ECANCELLED). */
  close(): void {
    for (const open of [...this.#open]) open.fail(new DnsQueryError('ECANCELLED'));
  }

  #ask(server: DnsServer, name: string, type: QueryType): Promise<DnsResponse> {
    const id = randomInt(0x10000);
    const query = encodeQuery(id, name, type);
    const asked = name.toLowerCase().replace(/\.$/, '');
    return new Promise<DnsResponse>((resolve, reject) => {
      const socket = createSocket(isIP(server.address) === 6 ? 'udp6' : 'udp4');
      const open = {
        socket,
        fail: (error: DnsQueryError) => finish(() => reject(error)),
      };
      let done = false;
      const finish = (settle: () => void) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.#open.delete(open);
        socket.close();
        settle();
      };
      const timer = setTimeout(() => open.fail(new DnsQueryError('ETIMEOUT')), this.#timeoutMs);
      this.#open.add(open);
      socket.on('error', () => open.fail(new DnsQueryError('ETIMEOUT')));
      socket.on('message', (packet, from) => {
        // Only the server asked, with our id and our question: anything else is ignored.
        if (from.address !== server.address || from.port !== server.port) return;
        let response: DnsResponse;
        try {
          response = decodeResponse(packet);
        } catch {
          return open.fail(new DnsQueryError('EBADRESP'));
        }
        if (response.id !== id) return;
        const question = response.question;
        if (question !== undefined && (question.name !== asked || question.type !== TYPE[type])) return;
        if (response.truncated) return open.fail(new DnsQueryError('ETRUNCATED'));
        finish(() => resolve(response));
      });
      socket.send(query, server.port, server.address, (error) => {
        if (error) open.fail(new DnsQueryError('ETIMEOUT'));
      });
    });
  }
}

/**
 * An answer read as RFC 2308 and RFC 1034 say: the records of the asked type at the name or
 * at the end of its CNAME chain, kept for the lowest TTL along the way; NXDOMAIN and NODATA
 * with the SOA's negative TTL (the lower of its own TTL and its MINIMUM). Undefined for
 * SERVFAIL, REFUSED and the like: the next server is asked.
 */
function interpret(response: DnsResponse, name: string, type: QueryType): Lookup | undefined {
  if (response.rcode === 3)
    return { kind: 'negative', what: 'NXDOMAIN', ttlS: negativeTtl(response.authority) };
  if (response.rcode !== 0) return undefined;
  let owner = name.toLowerCase().replace(/\.$/, '');
  let ttl = Number.POSITIVE_INFINITY;
  for (let i = 0; i < MAX_CNAMES; i++) {
    const alias = response.answers.find((r) => r.name === owner && r.data.type === 'CNAME');
    if (alias === undefined || alias.data.type !== 'CNAME') break;
    ttl = Math.min(ttl, alias.ttl);
    owner = alias.data.target;
  }
  const wanted = WANTED[type];
  const records: RecordData[] = [];
  for (const record of response.answers) {
    if (record.name !== owner || record.data.type !== wanted) continue;
    records.push(record.data);
    ttl = Math.min(ttl, record.ttl);
  }
  if (records.length === 0)
    return { kind: 'negative', what: 'NODATA', ttlS: negativeTtl(response.authority) };
  return { kind: 'answer', records, ttlS: ttl };
}

function negativeTtl(authority: readonly ResourceRecord[]): number | undefined {
  const soa = authority.find((r) => r.data.type === 'SOA');
  if (soa === undefined || soa.data.type !== 'SOA') return undefined;
  return Math.min(soa.ttl, soa.data.minimum);
}

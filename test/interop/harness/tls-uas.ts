/**
 * A minimal SIP UAS over TLS, for testing TLS clients (Kamailio's tls.cfg variant) where
 * sipp cannot: Debian's sipp is built without TLS.
 *
 * It answers every request but ACK with 200 on the connection it came in on (RFC 3261
 * 18.2.2), echoing Via, From, Call-ID, CSeq and, to an INVITE, the Record-Route set
 * (RFC 3261 12.1.1); To gets a tag; Contact points at itself with transport=tls so in-dialog
 * requests come back over TLS. It records what it received. Independent of sipwarden's own
 * parser on purpose: a deliberately small framing (headers up to CRLFCRLF, then
 * Content-Length bytes), bounded per connection.
 */
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import type { CertificateFiles } from './certs.ts';

const MAX_BUFFER = 64 * 1024;
const MAX_RECORDED = 10000;

const COMPACT: Readonly<Record<string, string>> = {
  v: 'via',
  f: 'from',
  t: 'to',
  i: 'call-id',
  m: 'contact',
  l: 'content-length',
};

export interface ReceivedRequest {
  readonly method: string;
  readonly requestUri: string;
  readonly callId: string;
  /** Header lines as received, in order. */
  readonly headers: readonly string[];
  readonly remotePort: number;
}

export interface TlsUas {
  readonly host: string;
  readonly port: number;
  readonly received: readonly ReceivedRequest[];
  /** TLS connections accepted so far. */
  readonly connections: number;
  close(): Promise<void>;
}

function headerName(line: string): string {
  const name = line.slice(0, line.indexOf(':')).trim().toLowerCase();
  return COMPACT[name] ?? name;
}

/** A To tag stable for a dialog: a hash of the Call-ID (tags are tokens, Call-IDs may hold '@'). */
function tagFor(callId: string): string {
  let hash = 5381;
  for (let i = 0; i < callId.length; i++) hash = ((hash << 5) + hash + callId.charCodeAt(i)) >>> 0;
  return `tlsuas${hash.toString(16)}`;
}

function answer(request: ReceivedRequest, host: string, port: number): string {
  const keep = new Set(['via', 'from', 'call-id', 'cseq']);
  if (request.method === 'INVITE') keep.add('record-route');
  const lines = ['SIP/2.0 200 OK'];
  for (const line of request.headers) {
    const name = headerName(line);
    if (keep.has(name)) lines.push(line);
    else if (name === 'to')
      lines.push(/;\s*tag=/i.test(line) ? line : `${line};tag=${tagFor(request.callId)}`);
  }
  lines.push(`Contact: <sip:uas@${host}:${port};transport=tls>`, 'Content-Length: 0', '', '');
  return lines.join('\r\n');
}

/** Starts the TLS UAS on `host`:`port` (port 0: any free port). */
export async function startTlsUas(
  certificate: CertificateFiles,
  host = '127.0.0.1',
  port = 0,
): Promise<TlsUas> {
  const received: ReceivedRequest[] = [];
  let connections = 0;
  const sockets = new Set<TLSSocket>();
  const server: Server = createServer({
    cert: readFileSync(certificate.certPath),
    key: readFileSync(certificate.keyPath),
  });
  let boundPort = port;

  server.on('secureConnection', (socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (buffer.length > MAX_BUFFER) {
        socket.destroy();
        return;
      }
      // Bounded: each turn consumes one message or stops.
      for (let guard = 0; guard < 1000; guard++) {
        // RFC 5626 keep-alive CRLFs between messages.
        while (buffer.length >= 2 && buffer[0] === 0x0d && buffer[1] === 0x0a) buffer = buffer.subarray(2);
        const end = buffer.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buffer.subarray(0, end).toString('latin1').split('\r\n');
        const headers = head.slice(1);
        const lengthLine = headers.find((l) => headerName(l) === 'content-length');
        const declared = lengthLine ? Number.parseInt(lengthLine.slice(lengthLine.indexOf(':') + 1), 10) : 0;
        if (!(declared >= 0 && declared <= MAX_BUFFER)) {
          socket.destroy(); // no sane framing possible
          return;
        }
        const bodyLength = declared;
        if (buffer.length < end + 4 + bodyLength) return;
        buffer = buffer.subarray(end + 4 + bodyLength);
        const [first = ''] = head;
        if (first.startsWith('SIP/2.0')) continue; // a response: nothing of ours to match
        const [method = '', requestUri = ''] = first.split(' ');
        const callIdLine = headers.find((l) => headerName(l) === 'call-id') ?? '';
        const request: ReceivedRequest = {
          method,
          requestUri,
          callId: callIdLine.slice(callIdLine.indexOf(':') + 1).trim(),
          headers,
          remotePort: socket.remotePort ?? 0,
        };
        if (received.length < MAX_RECORDED) received.push(request);
        if (method !== 'ACK') socket.write(answer(request, host, boundPort));
      }
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => resolve());
  });
  boundPort = (server.address() as AddressInfo).port;

  return {
    host,
    port: boundPort,
    received,
    get connections() {
      return connections;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

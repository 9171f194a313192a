/**
 * Small targets of the attack tests' own, each a real socket on loopback that records what
 * it receives: a counting sink, a digest-verifying registrar (its own Digest code, written
 * from RFC 7616 here, not shared with the attacker), a target that stops answering after a
 * message with a NUL byte, and a TCP service with a connection limit.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { createServer, type Server, type Socket as TcpSocket } from 'node:net';
import type { SipRequest } from '../../../src/sip/message.ts';
import { parseMessage } from '../../../src/sip/parse.ts';
import { createResponse } from '../../../src/sip/response.ts';
import { serializeMessage } from '../../../src/sip/serialize.ts';

export interface UdpTarget {
  readonly port: number;
  readonly socket: Socket;
  close(): void;
}

async function bindUdp(
  onMessage: (data: Buffer, from: RemoteInfo, socket: Socket) => void,
): Promise<UdpTarget> {
  // A large receive buffer (as far as net.core.rmem_max allows): the floods sent at these
  // targets come from several processes at once, and a busy machine must not drop them here.
  const socket = createSocket({ type: 'udp4', recvBufferSize: 4 * 1024 * 1024 });
  socket.on('message', (data, from) => onMessage(data, from, socket));
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  return { port: socket.address().port, socket, close: () => socket.close() };
}

function reply(
  socket: Socket,
  request: SipRequest,
  from: RemoteInfo,
  status: number,
  headers: { name: string; value: string }[] = [],
): void {
  const response = createResponse(request, status, undefined, { toTag: 'target1', headers });
  socket.send(serializeMessage(response), from.port, from.address);
}

/**
 * Counts datagrams, distinct source addresses, and keeps the parsed requests (bounded);
 * answers request number n (ACKs not counted) with `answer(n)` when that gives a status.
 */
export async function countingTarget(
  answer: (index: number, request: SipRequest) => number | undefined = () => undefined,
) {
  const sources = new Set<string>();
  const requests: SipRequest[] = [];
  let datagrams = 0;
  let unparsable = 0;
  let answerable = 0;
  const target = await bindUdp((data, from, socket) => {
    datagrams++;
    sources.add(from.address);
    const parsed = parseMessage(data);
    if (!parsed.ok || parsed.message.kind !== 'request') {
      unparsable++;
      return;
    }
    const request = parsed.message;
    if (requests.length < 100_000) requests.push(request);
    if (request.method === 'ACK') return;
    const status = answer(answerable++, request);
    if (status !== undefined) reply(socket, request, from, status);
  });
  return {
    ...target,
    sources,
    requests,
    get datagrams() {
      return datagrams;
    },
    get unparsable() {
      return unparsable;
    },
  };
}

/**
 * A registrar that demands Digest (RFC 7616 section 3.4) for `user`, verifying each
 * response itself from the known password: 401 with a fresh nonce, then 200 or 403.
 */
export async function digestRegistrar(user: string, password: string, algorithm: 'MD5' | 'SHA-256') {
  const nonces = new Set<string>();
  let verified = 0;
  let refused = 0;
  const hash = (text: string) =>
    createHash(algorithm === 'MD5' ? 'md5' : 'sha256')
      .update(text)
      .digest('hex');
  const param = (header: string, name: string): string | undefined => {
    const match = new RegExp(`${name}=(?:"([^"]*)"|([^,\\s]+))`, 'i').exec(header);
    return match ? (match[1] ?? match[2]) : undefined;
  };
  const target = await bindUdp((data, from, socket) => {
    const parsed = parseMessage(data);
    if (!parsed.ok || parsed.message.kind !== 'request' || parsed.message.method !== 'REGISTER') return;
    const request = parsed.message;
    const authorization = request.headers.find((h) => h.name === 'authorization')?.value;
    if (authorization === undefined) {
      const nonce = randomBytes(12).toString('hex');
      nonces.add(nonce);
      reply(socket, request, from, 401, [
        {
          name: 'WWW-Authenticate',
          value: `Digest realm="test.realm", nonce="${nonce}", algorithm=${algorithm}, qop="auth"`,
        },
      ]);
      return;
    }
    const nonce = param(authorization, 'nonce') ?? '';
    const ha1 = hash(`${param(authorization, 'username')}:test.realm:${password}`);
    const ha2 = hash(`REGISTER:${param(authorization, 'uri')}`);
    const expected = hash(
      `${ha1}:${nonce}:${param(authorization, 'nc')}:${param(authorization, 'cnonce')}:auth:${ha2}`,
    );
    const ok =
      nonces.delete(nonce) &&
      param(authorization, 'username') === user &&
      param(authorization, 'response') === expected;
    if (ok) verified++;
    else refused++;
    reply(socket, request, from, ok ? 200 : 403);
  });
  return {
    ...target,
    get verified() {
      return verified;
    },
    get refused() {
      return refused;
    },
  };
}

/** Answers every request 200 (OPTIONS included) until a datagram with a NUL byte arrives; then never again. */
export async function diesOnNulTarget() {
  let dead = false;
  let killer: string | undefined;
  const target = await bindUdp((data, from, socket) => {
    if (dead) return;
    if (data.includes(0)) {
      dead = true;
      killer = data.toString('latin1');
      return;
    }
    const parsed = parseMessage(data);
    if (parsed.ok && parsed.message.kind === 'request' && parsed.message.method !== 'ACK') {
      reply(socket, parsed.message, from, 200);
    }
  });
  return {
    ...target,
    get dead() {
      return dead;
    },
    get killer() {
      return killer;
    },
  };
}

/**
 * A SIP-over-TCP service that answers each complete request 200 and accepts at most
 * `maxConnections` at once; with `headerTimeoutMs`, a connection that has not finished
 * its headers by then is closed.
 */
export async function tcpTarget(maxConnections: number, headerTimeoutMs?: number) {
  const sockets = new Set<TcpSocket>();
  let answered = 0;
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buffer = '';
    const timer =
      headerTimeoutMs === undefined ? undefined : setTimeout(() => socket.destroy(), headerTimeoutMs);
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('latin1');
      if (buffer.length > 65536) socket.destroy();
      const end = buffer.indexOf('\r\n\r\n');
      if (end < 0) return;
      clearTimeout(timer);
      const parsed = parseMessage(Buffer.from(buffer.slice(0, end + 4), 'latin1'));
      buffer = buffer.slice(end + 4);
      if (parsed.ok && parsed.message.kind === 'request') {
        answered++;
        socket.write(serializeMessage(createResponse(parsed.message, 200, undefined, { toTag: 't' })));
      }
    });
  });
  server.maxConnections = maxConnections;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    port,
    get answered() {
      return answered;
    },
    get open() {
      return sockets.size;
    },
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

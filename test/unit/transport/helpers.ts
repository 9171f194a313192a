import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import type { LogFn, Logger } from '../../../src/log/logger.ts';
import { createTransport } from '../../../src/transport/create-transport.ts';
import type { TransportOptions } from '../../../src/transport/options.ts';
import type { InboundMessage, TransportLayer } from '../../../src/transport/types.ts';

/** Inbound messages in arrival order; `next()` waits for the next one. */
export class Inbox {
  readonly #queue: InboundMessage[] = [];
  readonly #waiting: ((message: InboundMessage) => void)[] = [];

  readonly push = (message: InboundMessage): void => {
    const waiter = this.#waiting.shift();
    if (waiter === undefined) this.#queue.push(message);
    else waiter(message);
  };

  next(): Promise<InboundMessage> {
    const queued = this.#queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve) => this.#waiting.push(resolve));
  }
}

export interface LogRecord {
  readonly level: string;
  readonly context: Record<string, unknown>;
  readonly message: string;
}

/** A logger that keeps what it is given, for asserting that a failure was logged. */
export function recordingLogger(records: LogRecord[] = []): Logger & { records: LogRecord[] } {
  const at =
    (level: string): LogFn =>
    (first: Record<string, unknown> | string, second?: string) => {
      if (typeof first === 'string') records.push({ level, context: {}, message: first });
      else records.push({ level, context: first, message: second ?? '' });
    };
  const logger: Logger & { records: LogRecord[] } = {
    records,
    trace: at('trace'),
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    fatal: at('fatal'),
    child: () => logger,
  };
  return logger;
}

export interface Running {
  readonly transport: TransportLayer;
  readonly inbox: Inbox;
  readonly logger: ReturnType<typeof recordingLogger>;
  port(transport: 'udp' | 'tcp' | 'tls'): number;
}

/** Starts a transport on loopback port 0 with its messages going to an inbox. */
export async function start(options: Partial<TransportOptions> = {}): Promise<Running> {
  const logger = recordingLogger();
  const transport = await createTransport(
    { listen: [{ host: '127.0.0.1', port: 0, transports: ['udp', 'tcp'] }], ...options },
    logger,
  );
  const inbox = new Inbox();
  transport.onMessage(inbox.push);
  return {
    transport,
    inbox,
    logger,
    port: (name) => {
      const local = transport.localFor(name);
      if (local === undefined) throw new Error(`no ${name} listener`);
      return local.port;
    },
  };
}

/** A loopback port that nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

/** Resolves with everything the socket receives once `predicate` holds for it. */
export function readUntil(socket: Socket, predicate: (received: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    let received = '';
    const onData = (chunk: Buffer): void => {
      received += chunk.toString('latin1');
      if (predicate(received)) {
        socket.off('data', onData);
        socket.off('close', onClose);
        resolve(received);
      }
    };
    const onClose = (): void => reject(new Error(`closed after receiving ${JSON.stringify(received)}`));
    socket.on('data', onData);
    socket.once('close', onClose);
  });
}

/** Resolves when the socket has closed, whether by an orderly end or a reset. */
export function closeOf(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.closed) resolve();
    else socket.once('close', () => resolve());
  });
}

export const sip = (method: string, body = ''): string =>
  `${method} sip:bob@example.com SIP/2.0\r\nCSeq: 1 ${method}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

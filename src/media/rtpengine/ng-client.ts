/**
 * A client of rtpengine's NG control protocol: each command is one UDP datagram
 * `<cookie> <bencoded dictionary>`, answered by `<cookie> <bencoded dictionary>` whose
 * `result` is `ok` (or `pong`), else `error` with an `error-reason`. A command not answered
 * within the timeout is sent again with the same cookie (rtpengine answers a repeated
 * cookie from its cache, so a retry never runs a command twice), and fails after the last
 * retry. Commands waiting for their answer are bounded: beyond the limit a command fails at
 * once instead of queueing without end. Replies from any address but the daemon's, and
 * replies with an unknown cookie, are dropped.
 */
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { type BencodeDictionary, type Decoded, decode, encode } from './bencode.ts';

export interface NgClientOptions {
  readonly host: string;
  readonly port: number;
  /** Time to wait for an answer before sending again, in ms. */
  readonly timeoutMs?: number;
  /** Sends after the first before the command fails. */
  readonly retries?: number;
  /** Commands waiting for an answer at most. */
  readonly maxPending?: number;
}

export type NgErrorCode = 'timeout' | 'overloaded' | 'closed' | 'error-reply' | 'bad-reply';

export class NgError extends Error {
  override readonly name = 'NgError';
  constructor(
    readonly code: NgErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** An answer's dictionary, with `result` checked to be ok or pong. */
export type NgReply = { readonly [key: string]: Decoded };

interface Pending {
  readonly bytes: Buffer;
  readonly command: string;
  readonly resolve: (reply: NgReply) => void;
  readonly reject: (error: NgError) => void;
  timer: NodeJS.Timeout;
  sends: number;
}

/** The longest reply read: an SDP of many streams fits well below it. */
const MAX_REPLY = 65_535;

export class NgClient {
  readonly #socket: Socket;
  readonly #host: string;
  readonly #port: number;
  readonly #timeoutMs: number;
  readonly #retries: number;
  readonly #maxPending: number;
  readonly #pending = new Map<string, Pending>();
  readonly #prefix = randomBytes(6).toString('hex');
  #sequence = 0;
  #closed = false;
  /** Replies dropped: unknown cookie, other source, malformed. */
  dropped = 0;

  private constructor(socket: Socket, options: NgClientOptions) {
    this.#socket = socket;
    this.#host = options.host;
    this.#port = options.port;
    this.#timeoutMs = options.timeoutMs ?? 1000;
    this.#retries = options.retries ?? 2;
    this.#maxPending = options.maxPending ?? 1024;
    socket.on('message', (data, from) => this.#onReply(data, from.address, from.port));
    // A send error (ICMP unreachable surfacing on Linux) leaves the command to its timer.
    socket.on('error', () => {});
  }

  static async connect(options: NgClientOptions): Promise<NgClient> {
    const socket = createSocket(options.host.includes(':') ? 'udp6' : 'udp4');
    socket.bind(0, options.host.includes(':') ? '::' : '0.0.0.0');
    await once(socket, 'listening');
    return new NgClient(socket, options);
  }

  get pending(): number {
    return this.#pending.size;
  }

  /** Sends one command (`command` plus its parameters); resolves with the reply or rejects with an NgError. */
  command(command: string, parameters: BencodeDictionary = {}): Promise<NgReply> {
    if (this.#closed) return Promise.reject(new NgError('closed', 'the NG client is closed'));
    if (this.#pending.size >= this.#maxPending)
      return Promise.reject(
        new NgError('overloaded', `${this.#maxPending} NG commands already wait for rtpengine`),
      );
    const cookie = `${this.#prefix}_${(this.#sequence++).toString(36)}`;
    const bytes = Buffer.concat([Buffer.from(`${cookie} `, 'latin1'), encode({ ...parameters, command })]);
    return new Promise<NgReply>((resolve, reject) => {
      const entry: Pending = {
        bytes,
        command,
        resolve,
        reject,
        sends: 0,
        timer: undefined as unknown as NodeJS.Timeout,
      };
      this.#pending.set(cookie, entry);
      this.#send(cookie, entry);
    });
  }

  ping(): Promise<NgReply> {
    return this.command('ping');
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const [cookie, entry] of this.#pending) {
      clearTimeout(entry.timer);
      this.#pending.delete(cookie);
      entry.reject(new NgError('closed', 'the NG client closed'));
    }
    await new Promise<void>((resolve) => this.#socket.close(() => resolve()));
  }

  #send(cookie: string, entry: Pending): void {
    entry.sends++;
    this.#socket.send(entry.bytes, this.#port, this.#host);
    entry.timer = setTimeout(() => {
      if (this.#pending.get(cookie) !== entry) return;
      if (entry.sends <= this.#retries) return this.#send(cookie, entry);
      this.#pending.delete(cookie);
      entry.reject(
        new NgError('timeout', `rtpengine did not answer ${entry.command} (${entry.sends} sends)`),
      );
    }, this.#timeoutMs);
    entry.timer.unref();
  }

  #onReply(data: Buffer, address: string, port: number): void {
    if (port !== this.#port || address !== this.#host || data.length > MAX_REPLY) {
      this.dropped++;
      return;
    }
    const space = data.indexOf(0x20);
    if (space <= 0 || space > 64) {
      this.dropped++;
      return;
    }
    const cookie = data.toString('latin1', 0, space);
    const entry = this.#pending.get(cookie);
    if (entry === undefined) {
      this.dropped++;
      return;
    }
    this.#pending.delete(cookie);
    clearTimeout(entry.timer);
    let reply: Decoded;
    try {
      reply = decode(data.subarray(space + 1));
    } catch (error) {
      entry.reject(
        new NgError('bad-reply', `rtpengine's reply to ${entry.command}: ${(error as Error).message}`),
      );
      return;
    }
    if (typeof reply !== 'object' || Array.isArray(reply)) {
      entry.reject(new NgError('bad-reply', `rtpengine's reply to ${entry.command} is not a dictionary`));
      return;
    }
    const result = reply.result;
    if (result === 'ok' || result === 'pong') return entry.resolve(reply);
    const reason =
      typeof reply['error-reason'] === 'string' ? reply['error-reason'].slice(0, 200) : String(result);
    entry.reject(new NgError('error-reply', `rtpengine refused ${entry.command}: ${reason}`));
  }
}

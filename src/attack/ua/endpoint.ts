/**
 * A SIP endpoint on one UDP socket: sends requests and collects their responses by
 * transaction (branch and CSeq method, RFC 3261 17.1.3), retransmitting over UDP with
 * timers A/E (T1 doubling to T2), and hands incoming requests to a handler. The attack
 * kinds use it to talk to one target at a time; the UAC and UAS are built on it.
 *
 * A response is matched on its branch alone, from whatever address it comes, as many
 * phones do: that is what lets response-inject tell whether a forged answer got through.
 */
import type { RemoteInfo, Socket } from 'node:dgram';
import type { SipRequest, SipResponse } from '../../sip/message.ts';
import { readMessage } from '../context.ts';
import type { Endpoint } from '../target.ts';
import { bindUdp } from '../udp-bind.ts';

/** RFC 3261 17.1.1.1 timer values. */
export const T1_MS = 500;
export const T2_MS = 4000;
/** Transactions open at once per endpoint. */
const MAX_TRANSACTIONS = 20_000;

export interface Exchange {
  /** The final response, undefined on timeout. */
  readonly final?: SipResponse;
  /** Provisional responses in arrival order (bounded). */
  readonly provisional: readonly SipResponse[];
  /** Where the final response came from. */
  readonly from?: RemoteInfo;
  /** Milliseconds from the first send to the final response (or the timeout). */
  readonly ms: number;
}

export interface RequestOptions {
  readonly branch: string;
  readonly method: string;
  readonly timeoutMs: number;
  /** Retransmit over UDP until a final (non-INVITE) or any (INVITE) response; default true. */
  readonly retransmit?: boolean;
  /** Called for each provisional response as it arrives. */
  readonly onProvisional?: (response: SipResponse, from: RemoteInfo) => void;
  /** Called for every response of the transaction, final retransmissions included. */
  readonly onResponse?: (response: SipResponse, from: RemoteInfo) => void;
}

interface Pending {
  readonly options: RequestOptions;
  readonly provisional: SipResponse[];
  readonly started: number;
  final?: SipResponse;
  from?: RemoteInfo;
  timer?: NodeJS.Timeout;
  deadline?: NodeJS.Timeout;
  resolve(exchange: Exchange): void;
}

export type RequestHandler = (request: SipRequest, from: RemoteInfo, data: Buffer) => void;
export type ResponseHandler = (response: SipResponse, from: RemoteInfo) => void;

export class SipEndpoint {
  readonly #socket: Socket;
  readonly #pending = new Map<string, Pending>();
  #closed = false;
  /** Incoming requests. */
  onRequest: RequestHandler | undefined;
  /** Responses that match no open transaction (late retransmissions, forgeries). */
  onStray: ResponseHandler | undefined;
  /** Every response received, before matching. */
  onAnyResponse: ResponseHandler | undefined;
  /** Datagrams that did not parse. */
  unreadable = 0;
  sendErrors = 0;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('message', (data, from) => this.#receive(data, from));
    socket.on('error', () => {
      this.sendErrors++;
    });
  }

  static async bind(address: string, port = 0): Promise<SipEndpoint> {
    return new SipEndpoint(await bindUdp(address, port));
  }

  get address(): string {
    return this.#socket.address().address;
  }

  get port(): number {
    return this.#socket.address().port;
  }

  send(data: string | Buffer, to: Endpoint): void {
    if (this.#closed) return;
    const bytes = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    this.#socket.send(bytes, to.port, to.address, (error) => {
      if (error) this.sendErrors++;
    });
  }

  /** Sends a request and resolves with its final response, or without one at the timeout. */
  request(data: string | Buffer, to: Endpoint, options: RequestOptions): Promise<Exchange> {
    const key = `${options.branch}|${options.method}`;
    const bytes = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    const started = performance.now();
    if (this.#pending.size >= MAX_TRANSACTIONS || this.#pending.has(key) || this.#closed) {
      return Promise.resolve({ provisional: [], ms: 0 });
    }
    return new Promise((resolve) => {
      const pending: Pending = { options, provisional: [], started, resolve };
      this.#pending.set(key, pending);
      this.send(bytes, to);
      if (options.retransmit !== false) {
        let interval = T1_MS;
        const again = () => {
          // INVITE: timer A stops at the first provisional (RFC 3261 17.1.1.2).
          if (options.method === 'INVITE' && pending.provisional.length > 0) return;
          this.send(bytes, to);
          interval = options.method === 'INVITE' ? interval * 2 : Math.min(interval * 2, T2_MS);
          pending.timer = setTimeout(again, interval);
        };
        pending.timer = setTimeout(again, interval);
      }
      pending.deadline = setTimeout(() => this.#finish(key, pending), options.timeoutMs);
    });
  }

  #finish(key: string, pending: Pending): void {
    if (this.#pending.get(key) !== pending) return;
    this.#pending.delete(key);
    clearTimeout(pending.timer);
    clearTimeout(pending.deadline);
    pending.resolve({
      ...(pending.final ? { final: pending.final } : {}),
      ...(pending.from ? { from: pending.from } : {}),
      provisional: pending.provisional,
      ms: performance.now() - pending.started,
    });
  }

  #receive(data: Buffer, from: RemoteInfo): void {
    const message = readMessage(data);
    if (!message) {
      this.unreadable++;
      return;
    }
    if (message.kind === 'request') {
      this.onRequest?.(message, from, data);
      return;
    }
    this.onAnyResponse?.(message, from);
    const key = `${message.via[0]?.branch ?? ''}|${message.cseq.method}`;
    const pending = this.#pending.get(key);
    if (!pending) {
      this.onStray?.(message, from);
      return;
    }
    pending.options.onResponse?.(message, from);
    if (message.status < 200) {
      if (pending.provisional.length < 16) pending.provisional.push(message);
      pending.options.onProvisional?.(message, from);
      return;
    }
    pending.final = message;
    pending.from = from;
    this.#finish(key, pending);
  }

  /** Transactions waiting for a final response. */
  get open(): number {
    return this.#pending.size;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const [key, pending] of [...this.#pending]) this.#finish(key, pending);
    try {
      this.#socket.close();
    } catch {
      // Already closed.
    }
  }
}

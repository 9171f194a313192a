/**
 * UDP sockets to send from: one source address, or a pool of many (`--sources
 * 127.1.0.0/16`: on Linux any 127.x.y.z can be bound without configuration). One socket per
 * address actually used, bound on first use, at most `maxSources` of them, all closed at
 * the end; the pool hands out address i modulo the number in use, so a run of N messages
 * from a /16 with the default 1024 sources uses min(N, 1024) addresses.
 */
import type { RemoteInfo, Socket } from 'node:dgram';
import type { AddressRange } from './address-range.ts';
import { attackError } from './errors.ts';
import { bindUdp } from './udp-bind.ts';

export const DEFAULT_MAX_SOURCES = 1024;
/** Sockets bound at once while opening the pool. */
const OPEN_CONCURRENCY = 64;

export type DatagramHandler = (data: Buffer, from: RemoteInfo, source: number) => void;

export interface SourcePoolOptions {
  readonly range: AddressRange;
  /** Most addresses (sockets) to use; default 1024. */
  readonly maxSources?: number;
  /** Local port for every socket; default 0 (any). */
  readonly port?: number;
  readonly onMessage: DatagramHandler;
  /** Send buffer size per socket, for unpaced floods. */
  readonly sendBufferBytes?: number;
  /**
   * Connect every socket to this one destination: sends then skip the per-datagram address
   * lookup (floods), and only that destination's datagrams are received.
   */
  readonly connect?: { readonly address: string; readonly port: number };
}

async function bindSocket(
  address: string,
  port: number,
  onMessage: (data: Buffer, from: RemoteInfo) => void,
  onError: () => void,
): Promise<Socket> {
  const socket = await bindUdp(address, port);
  // Send errors (ENOBUFS, ECONNREFUSED echoes) are counted, never thrown.
  socket.on('error', onError);
  socket.on('message', onMessage);
  return socket;
}

export class SourcePool {
  readonly #options: SourcePoolOptions;
  readonly #sockets: (Socket | undefined)[];
  /** Local port per source, kept: socket.address() is a system call, too dear per datagram. */
  readonly #ports: Uint16Array;
  readonly size: number;
  /** Send errors reported by the sockets (ENOBUFS under an unpaced flood, ICMP echoes). */
  sendErrors = 0;
  #closed = false;

  constructor(options: SourcePoolOptions) {
    this.#options = options;
    this.size = Math.max(1, Math.min(options.range.size, options.maxSources ?? DEFAULT_MAX_SOURCES));
    this.#sockets = new Array(this.size);
    this.#ports = new Uint16Array(this.size);
  }

  /** The source index message `seq` goes out from. */
  indexFor(seq: number): number {
    return seq % this.size;
  }

  addressOf(index: number): string {
    return this.#options.range.at(index);
  }

  /** Binds the sockets of the first `used` sources (those a run of that many messages needs). */
  async open(used: number): Promise<void> {
    const wanted = Math.min(used, this.size);
    for (let first = 0; first < wanted; first += OPEN_CONCURRENCY) {
      const jobs: Promise<void>[] = [];
      for (let i = first; i < Math.min(wanted, first + OPEN_CONCURRENCY); i++) {
        jobs.push(this.#open(i).then(() => undefined));
      }
      await Promise.all(jobs);
    }
  }

  async #open(index: number): Promise<Socket> {
    const existing = this.#sockets[index];
    if (existing) return existing;
    const socket = await bindSocket(
      this.addressOf(index),
      this.#options.port ?? 0,
      (data, from) => this.#options.onMessage(data, from, index),
      () => {
        this.sendErrors++;
      },
    );
    if (this.#closed) {
      socket.close();
      throw attackError('SW_ERR_ATTACK_BIND', 'the source pool was closed');
    }
    if (this.#options.sendBufferBytes !== undefined) {
      try {
        socket.setSendBufferSize(this.#options.sendBufferBytes);
      } catch {
        // The kernel may cap it; the default works, only slower.
      }
    }
    const destination = this.#options.connect;
    if (destination !== undefined) {
      await new Promise<void>((resolve, reject) => {
        socket.connect(destination.port, destination.address, () => resolve());
        socket.once('error', reject);
      });
    }
    this.#sockets[index] = socket;
    this.#ports[index] = socket.address().port;
    return socket;
  }

  /** The socket of source `index` (bound on first use). */
  socket(index: number): Promise<Socket> {
    return this.#open(index);
  }

  /** True when sockets are connected to one destination (send without an address). */
  get connected(): boolean {
    return this.#options.connect !== undefined;
  }

  /** The socket of source `index` if already bound (the hot path of a flood). */
  boundSocket(index: number): Socket | undefined {
    return this.#sockets[index];
  }

  /** Local port of source `index` (0 before it is bound). */
  portOf(index: number): number {
    return this.#ports[index] ?? 0;
  }

  /** How many sockets are bound. */
  get bound(): number {
    return this.#sockets.filter((s) => s !== undefined).length;
  }

  close(): void {
    this.#closed = true;
    for (let i = 0; i < this.#sockets.length; i++) {
      const socket = this.#sockets[i];
      if (!socket) continue;
      try {
        socket.close();
      } catch {
        // Already closed.
      }
      this.#sockets[i] = undefined;
    }
  }
}

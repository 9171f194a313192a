import { randomBytes } from 'node:crypto';
import { createSocket, type Socket as DatagramSocket } from 'node:dgram';

/**
 * How long work waits in a UDP socket's kernel receive queue, measured for real: Node
 * gives no receive timestamps, so a probe socket on this host sends the listening socket a
 * small datagram every `intervalMs`, stamped with when it left. The queue is first in,
 * first out, so when the probe is read its wait is exactly what every datagram queued
 * beside it waited: the age of the work at the head of the queue, kernel queue and event
 * loop together. A probe not back yet is waiting still (or was dropped because the queue
 * was full): the age is then at least its time outstanding.
 *
 * Probes come from our own socket's address and port and carry a random per-process
 * token, so no datagram from elsewhere passes for one (and one from a spoofed 127.x
 * source is a martian the kernel drops on any other interface).
 */

const MAGIC = 'SWQP';
/** Outstanding probes remembered: a ring; one whose slot was reused counts as lost. */
const RING = 256;

export interface QueueProbeOptions {
  /** The listening socket's port and the address to reach it on (a wildcard becomes loopback). */
  readonly host: string;
  readonly port: number;
  readonly family: 4 | 6;
  readonly intervalMs?: number;
  readonly now?: () => number;
}

export class QueueProbe {
  readonly #socket: DatagramSocket;
  readonly #target: { host: string; port: number };
  readonly #token: string;
  readonly #tokenBytes: Buffer;
  readonly #now: () => number;
  readonly #sentAt = new Float64Array(RING);
  #timer: NodeJS.Timeout | undefined;
  #localAddress = '';
  #localPort = -1;
  /** Sequence number of the next probe, and of the last one read back. */
  #next = 0;
  #lastRead = -1;
  #lastAgeMs = 0;

  private constructor(socket: DatagramSocket, target: { host: string; port: number }, now: () => number) {
    this.#socket = socket;
    this.#target = target;
    this.#token = randomBytes(12).toString('hex');
    this.#tokenBytes = Buffer.from(`${MAGIC}${this.#token}`, 'latin1');
    this.#now = now;
  }

  /** Binds the probe socket and starts probing; resolves once it can send. */
  static async start(options: QueueProbeOptions): Promise<QueueProbe> {
    const loopback = options.family === 6 ? '::1' : '127.0.0.1';
    const wildcard = options.host === '0.0.0.0' || options.host === '::' || options.host === '';
    const host = wildcard ? loopback : options.host;
    const socket = createSocket({ type: options.family === 6 ? 'udp6' : 'udp4' });
    const probe = new QueueProbe(
      socket,
      { host, port: options.port },
      options.now ?? (() => performance.now()),
    );
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ address: host, port: 0 }, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    // A send that fails (the listener closing) must not take the process down.
    socket.on('error', () => {});
    const bound = socket.address();
    probe.#localAddress = bound.address;
    probe.#localPort = bound.port;
    probe.#timer = setInterval(() => probe.send(), options.intervalMs ?? 20);
    probe.#timer.unref();
    socket.unref();
    return probe;
  }

  /** True (and measured) when this datagram is one of our probes; the caller then drops it. */
  take(address: string, port: number, data: Buffer): boolean {
    if (port !== this.#localPort || address !== this.#localAddress) return false;
    const tokenBytes = this.#tokenBytes;
    if (
      data.length <= tokenBytes.length ||
      data.compare(tokenBytes, 0, tokenBytes.length, 0, tokenBytes.length) !== 0
    ) {
      return false;
    }
    const seq = Number(data.toString('latin1', tokenBytes.length));
    if (!Number.isSafeInteger(seq) || seq <= this.#lastRead || seq >= this.#next || this.#next - seq > RING) {
      return true;
    }
    this.#lastRead = seq;
    this.#lastAgeMs = Math.max(0, this.#now() - this.#sentAt[seq % RING]!);
    return true;
  }

  /**
   * The age of the work now being read, in ms: the last probe's wait, or longer when the
   * probe after it has been out longer than that (queued still, or dropped by a full queue).
   */
  ageMs(): number {
    const waiting = this.#lastRead + 1;
    if (waiting >= this.#next) return this.#lastAgeMs;
    const slot = this.#next - waiting > RING ? this.#next - RING : waiting;
    const outstanding = this.#now() - this.#sentAt[slot % RING]!;
    return Math.max(this.#lastAgeMs, outstanding);
  }

  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    try {
      this.#socket.close();
    } catch {
      // Already closed.
    }
  }

  /** Sends one probe now (the timer calls this every `intervalMs`). */
  send(): void {
    const seq = this.#next++;
    this.#sentAt[seq % RING] = this.#now();
    this.#socket.send(`${MAGIC}${this.#token}${seq}`, this.#target.port, this.#target.host);
  }
}

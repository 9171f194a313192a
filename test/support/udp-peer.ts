import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';

/** A SIP peer on a loopback UDP socket: records what it receives, sends raw text. */
export class UdpPeer {
  readonly received: { text: string; port: number; address: string }[] = [];
  readonly #socket: Socket;
  #waiters: (() => void)[] = [];

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('message', (data, rinfo) => {
      this.received.push({ text: data.toString('latin1'), port: rinfo.port, address: rinfo.address });
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const wake of waiters) wake();
    });
  }

  static async bind(address = '127.0.0.1'): Promise<UdpPeer> {
    const socket = createSocket(address.includes(':') ? 'udp6' : 'udp4');
    socket.bind(0, address);
    await once(socket, 'listening');
    return new UdpPeer(socket);
  }

  get port(): number {
    return this.#socket.address().port;
  }

  get address(): string {
    return this.#socket.address().address;
  }

  send(text: string, port: number, address = '127.0.0.1'): void {
    this.#socket.send(Buffer.from(text, 'latin1'), port, address);
  }

  /** Resolves with the first message (received so far or later) matching, removing it; rejects after timeoutMs. */
  async next(match: (text: string) => boolean = () => true, timeoutMs = 3000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.received.findIndex((m) => match(m.text));
      if (index >= 0) return this.received.splice(index, 1)[0]!.text;
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(
          `no matching message within ${timeoutMs} ms; have: ${this.received.map((m) => m.text.split('\r\n')[0]).join(' | ')}`,
        );
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** How many received messages match, after waiting quietMs for stragglers. */
  async count(match: (text: string) => boolean, quietMs = 300): Promise<number> {
    await new Promise((resolve) => setTimeout(resolve, quietMs));
    return this.received.filter((m) => match(m.text)).length;
  }

  close(): void {
    this.#socket.close();
  }
}

/** The value of the first header with this name (case-insensitive, long form). */
export function header(text: string, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const line of text.split('\r\n').slice(1)) {
    if (line === '') break;
    const colon = line.indexOf(':');
    if (line.slice(0, colon).trim().toLowerCase() === lower) return line.slice(colon + 1).trim();
  }
  return undefined;
}

/** Every value of a header, field lines in order. */
export function headers(text: string, name: string): string[] {
  const lower = name.toLowerCase();
  const out: string[] = [];
  for (const line of text.split('\r\n').slice(1)) {
    if (line === '') break;
    const colon = line.indexOf(':');
    if (line.slice(0, colon).trim().toLowerCase() === lower) out.push(line.slice(colon + 1).trim());
  }
  return out;
}

export const startLine = (text: string): string => text.slice(0, text.indexOf('\r\n'));

/**
 * The upstream's answer to a forwarded request: every Via and Record-Route copied, To tagged
 * (`uas-1`) unless it already has a tag or the status is 100, then `extra` header lines.
 */
export function answer(forwarded: string, status: number, reason: string, extra: string[] = []): string {
  const to = header(forwarded, 'to')!;
  return [
    `SIP/2.0 ${status} ${reason}`,
    ...headers(forwarded, 'via').map((v) => `Via: ${v}`),
    ...headers(forwarded, 'record-route').map((v) => `Record-Route: ${v}`),
    `From: ${header(forwarded, 'from')}`,
    `To: ${to}${status > 100 && !to.includes('tag=') ? ';tag=uas-1' : ''}`,
    `Call-ID: ${header(forwarded, 'call-id')}`,
    `CSeq: ${header(forwarded, 'cseq')}`,
    ...extra,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

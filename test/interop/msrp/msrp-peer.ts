/**
 * An MSRP endpoint for tests (RFC 4975), written apart from sipwarden's own MSRP code so
 * that it checks it: frames are written as the RFC's text, byte for byte, and read by a
 * reader of its own (start line, headers, body up to CRLF + the end line of the frame's
 * transaction). It connects to the relay (it is the active party, RFC 6135) and records
 * every frame it receives.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';

export interface ReceivedFrame {
  readonly startLine: string;
  readonly transactionId: string;
  /** `SEND`, `REPORT`... for a request; the status as text for a response. */
  readonly method?: string;
  readonly status?: number;
  readonly headers: ReadonlyMap<string, string>;
  readonly body?: Buffer;
  readonly flag: string;
}

export class MsrpPeer {
  readonly received: ReceivedFrame[] = [];
  readonly #socket: Socket;
  #buffer = Buffer.alloc(0);
  #waiters: (() => void)[] = [];
  closed = false;
  /** A frame received that RFC 4975's grammar refuses: the peer stops reading. */
  error: string | undefined;

  private constructor(
    socket: Socket,
    /** This peer's own MSRP URI, as written in its a=path. */
    readonly path: string,
  ) {
    this.#socket = socket;
    socket.on('data', (data: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, data]);
      try {
        for (;;) {
          const frame = this.#take();
          if (frame === undefined) break;
          this.received.push(frame);
        }
      } catch (error) {
        this.error = (error as Error).message;
        socket.destroy();
      }
      this.#wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.#wake();
    });
    socket.on('error', () => {});
  }

  static async connect(port: number, path: string, host = '127.0.0.1'): Promise<MsrpPeer> {
    const socket = connect(port, host);
    await once(socket, 'connect');
    return new MsrpPeer(socket, path);
  }

  /** Over TLS (msrps), checking the relay's certificate against `ca`. */
  static async connectTls(port: number, path: string, ca: string): Promise<MsrpPeer> {
    const socket = connectTls({ port, host: '127.0.0.1', ca, servername: 'localhost' });
    await once(socket, 'secureConnect');
    return new MsrpPeer(socket, path);
  }

  /** A path URI for a peer's SDP: its address and a fresh session-id (`msrps` for TLS). */
  static newPath(port = 2855, scheme: 'msrp' | 'msrps' = 'msrp'): string {
    return `${scheme}://127.0.0.1:${port}/${randomBytes(6).toString('hex')};tcp`;
  }

  write(text: string | Buffer): void {
    this.#socket.write(text);
  }

  /** A SEND (one chunk), as RFC 4975 7.1.1 writes it; returns its transaction id. */
  send(
    toPath: string,
    options: {
      messageId?: string;
      byteRange?: string;
      contentType?: string;
      body?: Buffer;
      flag?: '$' | '+' | '#';
      extra?: string[];
      fromPath?: string;
    } = {},
  ): string {
    const tid = randomBytes(6).toString('hex');
    const head = [
      `MSRP ${tid} SEND`,
      `To-Path: ${toPath}`,
      `From-Path: ${options.fromPath ?? this.path}`,
      ...(options.messageId === undefined ? [] : [`Message-ID: ${options.messageId}`]),
      ...(options.byteRange === undefined ? [] : [`Byte-Range: ${options.byteRange}`]),
      ...(options.extra ?? []),
    ];
    const end = `-------${tid}${options.flag ?? '$'}\r\n`;
    if (options.body === undefined) {
      this.write(`${head.join('\r\n')}\r\n${end}`);
    } else {
      head.push(`Content-Type: ${options.contentType ?? 'application/octet-stream'}`, '', '');
      this.write(
        Buffer.concat([Buffer.from(head.join('\r\n'), 'latin1'), options.body, Buffer.from(`\r\n${end}`)]),
      );
    }
    return tid;
  }

  /** A whole message in chunks of `chunkBytes`, each with its Byte-Range (RFC 4975 5.1). */
  sendChunked(
    toPath: string,
    messageId: string,
    content: Buffer,
    chunkBytes: number,
    contentType?: string,
  ): string[] {
    const tids: string[] = [];
    for (let at = 0; at < content.length; at += chunkBytes) {
      const chunk = content.subarray(at, at + chunkBytes);
      const last = at + chunk.length >= content.length;
      tids.push(
        this.send(toPath, {
          messageId,
          byteRange: `${at + 1}-${at + chunk.length}/${content.length}`,
          body: chunk,
          flag: last ? '$' : '+',
          ...(contentType === undefined ? {} : { contentType }),
        }),
      );
    }
    return tids;
  }

  /** The 200 a receiver owes for a SEND (RFC 4975 7.2). */
  respond(frame: ReceivedFrame, status = 200, comment = 'OK'): void {
    this.write(
      [
        `MSRP ${frame.transactionId} ${status} ${comment}`,
        `To-Path: ${frame.headers.get('from-path')!.split(' ')[0]}`,
        `From-Path: ${this.path}`,
        `-------${frame.transactionId}$`,
        '',
      ].join('\r\n'),
    );
  }

  /** The first frame received (so far or later) matching, removed; rejects after timeoutMs. */
  async next(match: (f: ReceivedFrame) => boolean = () => true, timeoutMs = 5000): Promise<ReceivedFrame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.received.findIndex(match);
      if (index >= 0) return this.received.splice(index, 1)[0]!;
      const left = deadline - Date.now();
      if (this.error !== undefined) throw new Error(`bad MSRP frame received: ${this.error}`);
      if (left <= 0 || this.closed)
        throw new Error(
          `no matching MSRP frame${this.closed ? ' (connection closed)' : ''}; have: ${this.received.map((f) => f.startLine).join(' | ')}`,
        );
      await this.#wait(left);
    }
  }

  /** The response to transaction `tid`. */
  response(tid: string, timeoutMs = 5000): Promise<ReceivedFrame> {
    return this.next((f) => f.status !== undefined && f.transactionId === tid, timeoutMs);
  }

  /** Resolves when the relay has closed the connection; rejects after timeoutMs. */
  async closedByPeer(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('the connection stayed open');
      await this.#wait(left);
    }
  }

  close(): void {
    this.#socket.destroy();
  }

  #wait(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  /** One whole frame off the front of the buffer, if there is one. */
  #take(): ReceivedFrame | undefined {
    const buffer = this.#buffer;
    const lineEnd = buffer.indexOf('\r\n');
    if (lineEnd < 0) return undefined;
    const startLine = buffer.toString('latin1', 0, lineEnd);
    const [scheme, tid, third] = startLine.split(' ');
    if (scheme !== 'MSRP' || tid === undefined || third === undefined)
      throw new Error(`not MSRP: ${startLine}`);
    // transact-id = ident = ALPHANUM 3*31ident-char (RFC 4975 9)
    if (!/^[A-Za-z0-9][A-Za-z0-9.\-+%=]{3,31}$/.test(tid)) throw new Error(`bad transaction id: ${tid}`);
    const endLine = `-------${tid}`;
    const headers = new Map<string, string>();
    let p = lineEnd + 2;
    let body: Buffer | undefined;
    let endAt: number;
    for (;;) {
      const e = buffer.indexOf('\r\n', p);
      if (e < 0) return undefined;
      const line = buffer.toString('latin1', p, e);
      if (line.startsWith(endLine)) {
        endAt = p;
        break;
      }
      if (line === '') {
        const marker = buffer.indexOf(`\r\n${endLine}`, e + 2 - 2);
        if (marker < 0) return undefined;
        body = buffer.subarray(e + 2, Math.max(e + 2, marker));
        endAt = marker + 2;
        break;
      }
      const colon = line.indexOf(': ');
      headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 2));
      p = e + 2;
    }
    const frameEnd = buffer.indexOf('\r\n', endAt);
    if (frameEnd < 0) return undefined;
    const flag = buffer.toString('latin1', endAt + endLine.length, frameEnd);
    this.#buffer = buffer.subarray(frameEnd + 2);
    const status = /^[0-9]{3}$/.test(third) ? Number(third) : undefined;
    return {
      startLine,
      transactionId: tid,
      ...(status === undefined ? { method: third } : { status }),
      headers,
      ...(body === undefined ? {} : { body: Buffer.from(body) }),
      flag,
    };
  }
}

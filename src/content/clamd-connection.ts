/**
 * One connection to clamd: writes with backpressure and reads NUL-terminated replies (the
 * `z` command form of clamd's protocol, see clamd(8)). Replies are bounded in size; any socket
 * error or close fails what is pending and makes the connection unusable.
 */
import type { Socket } from 'node:net';

export class ClamdConnection {
  private readonly received: Buffer[] = [];
  private receivedBytes = 0;
  private readonly replies: string[] = [];
  private waiter: { resolve: (reply: string) => void; reject: (error: Error) => void } | undefined;
  private drainWaiter: (() => void) | undefined;
  private failure: Error | undefined;
  /** Bytes received in total: a reused connection that fails before any may be retried. */
  bytesReceived = 0;
  /** Requests sent in this IDSESSION; clamd numbers its replies with it. */
  requests = 0;
  /** When it went back to the pool (for the idle timeout). */
  idleSince = 0;

  constructor(
    readonly socket: Socket,
    private readonly maxReplyBytes: number,
  ) {
    socket.on('data', (data: Buffer) => this.onData(data));
    socket.on('error', (error) => this.fail(error));
    socket.on('close', () => this.fail(new Error('connection closed by clamd')));
    socket.on('drain', () => this.wakeDrain());
  }

  /** True while nothing failed and the socket can still be written. */
  get usable(): boolean {
    return this.failure === undefined && !this.socket.destroyed && this.socket.writable;
  }

  /** A reply already received (clamd may answer before all content is sent: size limit). */
  get replied(): boolean {
    return this.replies.length > 0;
  }

  /** Writes `data`; resolves once the socket takes more (backpressure), rejects on failure. */
  async write(data: Buffer): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.socket.write(data)) return;
    await new Promise<void>((resolve) => {
      this.drainWaiter = resolve;
    });
    if (this.failure) throw this.failure;
  }

  /** The next NUL-terminated reply, without the NUL. */
  reply(): Promise<string> {
    const ready = this.replies.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  destroy(reason?: Error): void {
    this.fail(reason ?? new Error('connection closed'));
    this.socket.destroy();
  }

  private onData(data: Buffer): void {
    this.bytesReceived += data.length;
    let rest = data;
    for (;;) {
      const nul = rest.indexOf(0);
      if (nul < 0) break;
      this.received.push(rest.subarray(0, nul));
      const reply = Buffer.concat(this.received).toString('latin1');
      this.received.length = 0;
      this.receivedBytes = 0;
      rest = rest.subarray(nul + 1);
      const waiter = this.waiter;
      this.waiter = undefined;
      if (waiter) waiter.resolve(reply);
      else this.replies.push(reply);
    }
    if (rest.length === 0) return;
    this.receivedBytes += rest.length;
    if (this.receivedBytes > this.maxReplyBytes || this.replies.length > 4) {
      this.destroy(new Error(`clamd reply longer than ${this.maxReplyBytes} bytes`));
      return;
    }
    this.received.push(Buffer.from(rest));
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.reject(error);
    this.wakeDrain();
  }

  private wakeDrain(): void {
    const wake = this.drainWaiter;
    this.drainWaiter = undefined;
    wake?.();
  }
}

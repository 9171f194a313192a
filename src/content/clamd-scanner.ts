/**
 * The clamd client: ContentScanner over clamd's INSTREAM command (clamd(8)), on TCP or a unix
 * socket. Content is streamed in chunks (`<u32 big-endian length><bytes>`, ended by a zero
 * length), never collected first. Connections are kept in IDSESSION mode and pooled; scans
 * run at most `maxConcurrentScans` at a time, with at most `maxQueuedScans` waiting; every
 * scan (wait, connect, send, reply) ends by `scanTimeoutMs`. Never rejects: clamd down, slow,
 * busy or refusing the size are `error` results, for the caller's failure mode.
 */
import { connect, type Socket } from 'node:net';
import { ClamdConnection } from './clamd-connection.ts';
import type { ContentScanner, ScanResult } from './scanner.ts';

export type ClamdEndpoint = { readonly host: string; readonly port: number } | { readonly socket: string };

export interface ClamdScannerOptions {
  readonly endpoint: ClamdEndpoint;
  /** Milliseconds for a new connection; default 1000. */
  readonly connectTimeoutMs?: number;
  /** Milliseconds for one whole scan, from the call to the reply (queue wait included); default 5000. */
  readonly scanTimeoutMs?: number;
  /** Scans in progress at once (each holds one connection); default 8. */
  readonly maxConcurrentScans?: number;
  /** Scans waiting for a slot; past it a scan is an error at once ("busy"); default 64. */
  readonly maxQueuedScans?: number;
  /** Idle connections kept; default maxConcurrentScans. 0 disables pooling. */
  readonly maxIdleConnections?: number;
  /** An idle connection is closed after this; default 10000 (below clamd's IdleTimeout, 30 s). */
  readonly idleTimeoutMs?: number;
  /**
   * Content longer than this is not sent but answered as an error: set it to clamd's
   * StreamMaxLength (clamd's default 100 MiB, the default here).
   */
  readonly maxContentBytes?: number;
  /** Largest INSTREAM chunk sent; default 64 KiB. */
  readonly chunkBytes?: number;
}

const MAX_REPLY_BYTES = 4096;
const INSTREAM = Buffer.from('zINSTREAM\0', 'latin1');
const IDSESSION = Buffer.from('zIDSESSION\0', 'latin1');
const END = Buffer.from('zEND\0', 'latin1');
const END_OF_STREAM = Buffer.alloc(4);

/** Parses one INSTREAM reply (session prefix already removed). */
export function parseInstreamReply(reply: string): ScanResult {
  const text = reply.trim();
  if (text === 'stream: OK') return { verdict: 'clean' };
  const found = /^stream: (.+) FOUND$/.exec(text);
  if (found) return { verdict: 'infected', signature: found[1]! };
  if (/size limit exceeded/i.test(text)) {
    return { verdict: 'error', reason: 'content larger than clamd accepts (StreamMaxLength)' };
  }
  if (text.endsWith('ERROR')) return { verdict: 'error', reason: `clamd: ${text.slice(0, 200)}` };
  return { verdict: 'error', reason: `unexpected clamd reply: ${text.slice(0, 200)}` };
}

class ScanFailure extends Error {}

interface Waiter {
  readonly grant: () => void;
}

export class ClamdScanner implements ContentScanner {
  private readonly connectTimeoutMs: number;
  private readonly scanTimeoutMs: number;
  private readonly maxConcurrent: number;
  private readonly maxQueued: number;
  private readonly maxIdle: number;
  private readonly idleTimeoutMs: number;
  private readonly chunkBytes: number;
  private readonly maxContentBytes: number;
  private active = 0;
  private readonly queue: Waiter[] = [];
  private readonly idle: ClamdConnection[] = [];
  private readonly inUse = new Set<ClamdConnection>();
  private idleTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Connections opened so far (a pool that works opens few). */
  connectionsOpened = 0;

  constructor(private readonly options: ClamdScannerOptions) {
    this.connectTimeoutMs = options.connectTimeoutMs ?? 1000;
    this.scanTimeoutMs = options.scanTimeoutMs ?? 5000;
    this.maxConcurrent = Math.max(1, options.maxConcurrentScans ?? 8);
    this.maxQueued = Math.max(0, options.maxQueuedScans ?? 64);
    this.maxIdle = Math.max(0, options.maxIdleConnections ?? this.maxConcurrent);
    this.idleTimeoutMs = options.idleTimeoutMs ?? 10000;
    this.chunkBytes = Math.max(1, options.chunkBytes ?? 64 * 1024);
    this.maxContentBytes = options.maxContentBytes ?? 100 * 1024 * 1024;
  }

  /** Scans in progress and waiting (for metrics and tests). */
  get load(): { readonly active: number; readonly queued: number; readonly idleConnections: number } {
    return { active: this.active, queued: this.queue.length, idleConnections: this.idle.length };
  }

  async scan(content: Buffer | AsyncIterable<Buffer>, signal?: AbortSignal): Promise<ScanResult> {
    if (this.closed) return { verdict: 'error', reason: 'scanner closed' };
    if (signal?.aborted) return { verdict: 'error', reason: 'scan aborted' };
    // One controller ends everything of this scan: the deadline, the caller's signal.
    const controller = new AbortController();
    const timer = setTimeout(
      () => controller.abort(new ScanFailure(`no clamd answer within ${this.scanTimeoutMs} ms`)),
      this.scanTimeoutMs,
    );
    const onAbort = () => controller.abort(new ScanFailure('scan aborted'));
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const granted = await this.acquire(controller.signal);
      if (!granted.ok) return { verdict: 'error', reason: granted.reason };
      try {
        return await this.scanHoldingSlot(content, controller.signal);
      } finally {
        this.release();
      }
    } catch (error) {
      return { verdict: 'error', reason: reasonOf(error, controller.signal) };
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.idleTimer);
    this.idleTimer = undefined;
    for (const waiter of this.queue.splice(0)) waiter.grant();
    for (const connection of this.idle.splice(0)) this.endSession(connection);
    for (const connection of this.inUse) connection.destroy(new ScanFailure('scanner closed'));
  }

  private async scanHoldingSlot(
    content: Buffer | AsyncIterable<Buffer>,
    signal: AbortSignal,
  ): Promise<ScanResult> {
    const pooled = this.takeIdle();
    const connection = pooled ?? (await this.open(signal));
    try {
      return await this.instream(connection, content, signal);
    } catch (error) {
      // A pooled connection clamd had closed meanwhile (restart, its idle timeout): the
      // content, if whole, is sent once more on a new connection.
      if (pooled && connection.bytesReceived === 0 && Buffer.isBuffer(content) && !signal.aborted) {
        return await this.instream(await this.open(signal), content, signal);
      }
      throw error;
    }
  }

  /** One INSTREAM on `connection`; the connection goes back to the pool or is destroyed. */
  private async instream(
    connection: ClamdConnection,
    content: Buffer | AsyncIterable<Buffer>,
    signal: AbortSignal,
  ): Promise<ScanResult> {
    this.inUse.add(connection);
    const onAbort = () => connection.destroy(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    let reusable = false;
    try {
      connection.requests++;
      try {
        await this.send(connection, content, signal);
      } catch (error) {
        // clamd answers and closes before all is sent when the content passes its size
        // limit; the answer is lost when its close resets the connection.
        if (!connection.replied) {
          if (signal.aborted || error instanceof ScanFailure) throw error;
          throw new ScanFailure(
            `clamd closed the connection during the content (larger than its StreamMaxLength?): ${reasonOf(error, signal)}`,
          );
        }
      }
      const raw = await connection.reply();
      const session = /^(\d+): /.exec(raw);
      if (!session || Number(session[1]) !== connection.requests) {
        return { verdict: 'error', reason: `unexpected clamd reply: ${raw.slice(0, 200)}` };
      }
      const result = parseInstreamReply(raw.slice(session[0].length));
      reusable = result.verdict !== 'error';
      return result;
    } finally {
      signal.removeEventListener('abort', onAbort);
      this.inUse.delete(connection);
      if (reusable && connection.usable && !this.closed) this.putIdle(connection);
      else connection.destroy();
    }
  }

  private async send(
    connection: ClamdConnection,
    content: Buffer | AsyncIterable<Buffer>,
    signal: AbortSignal,
  ): Promise<void> {
    await connection.write(INSTREAM);
    let sent = 0;
    const pieces = Buffer.isBuffer(content) ? [content] : content;
    for await (const piece of pieces) {
      for (let offset = 0; offset < piece.length; offset += this.chunkBytes) {
        // clamd answered early (size limit): stop sending, read its answer.
        if (connection.replied) return;
        const chunk = piece.subarray(offset, offset + this.chunkBytes);
        sent += chunk.length;
        if (sent > this.maxContentBytes) {
          throw new ScanFailure(`content larger than ${this.maxContentBytes} bytes, the scan limit`);
        }
        const header = Buffer.allocUnsafe(4);
        header.writeUInt32BE(chunk.length, 0);
        await connection.write(header);
        await connection.write(chunk);
      }
      if (signal.aborted) throw signal.reason;
    }
    if (!connection.replied) await connection.write(END_OF_STREAM);
  }

  private open(signal: AbortSignal): Promise<ClamdConnection> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) {
        reject(signal.reason);
        return;
      }
      const endpoint = this.options.endpoint;
      const socket: Socket =
        'socket' in endpoint
          ? connect({ path: endpoint.socket })
          : connect({ host: endpoint.host, port: endpoint.port });
      socket.setNoDelay(true);
      this.connectionsOpened++;
      const finish = (error?: Error) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        socket.off('error', onError);
        socket.off('connect', onConnect);
        if (error) {
          socket.destroy();
          reject(error);
          return;
        }
        const connection = new ClamdConnection(socket, MAX_REPLY_BYTES);
        connection.write(IDSESSION).then(
          () => resolve(connection),
          (e: unknown) => reject(e),
        );
      };
      const onError = (error: NodeJS.ErrnoException) =>
        finish(new ScanFailure(`clamd unreachable (${error.code ?? error.message})`));
      const onConnect = () => finish();
      const onAbort = () => finish(signal.reason as Error);
      const timer = setTimeout(
        () => finish(new ScanFailure(`no connection to clamd within ${this.connectTimeoutMs} ms`)),
        this.connectTimeoutMs,
      );
      socket.once('error', onError);
      socket.once('connect', onConnect);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private acquire(signal: AbortSignal): Promise<{ ok: true } | { ok: false; reason: string }> {
    if (this.active < this.maxConcurrent) {
      this.active++;
      return Promise.resolve({ ok: true });
    }
    if (this.queue.length >= this.maxQueued) {
      return Promise.resolve({ ok: false, reason: 'scanner busy: too many scans waiting' });
    }
    return new Promise((resolve) => {
      const waiter: Waiter = {
        grant: () => {
          signal.removeEventListener('abort', onAbort);
          if (this.closed) {
            resolve({ ok: false, reason: 'scanner closed' });
            return;
          }
          this.active++;
          resolve({ ok: true });
        },
      };
      const onAbort = () => {
        const index = this.queue.indexOf(waiter);
        if (index >= 0) this.queue.splice(index, 1);
        resolve({ ok: false, reason: reasonOf(signal.reason, signal) });
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.queue.push(waiter);
    });
  }

  private release(): void {
    this.active--;
    this.queue.shift()?.grant();
  }

  private takeIdle(): ClamdConnection | undefined {
    for (;;) {
      const connection = this.idle.pop();
      if (!connection) return undefined;
      if (connection.usable) return connection;
      connection.destroy();
    }
  }

  private putIdle(connection: ClamdConnection): void {
    if (this.idle.length >= this.maxIdle) {
      this.endSession(connection);
      return;
    }
    connection.idleSince = Date.now();
    this.idle.push(connection);
    if (!this.idleTimer) {
      this.idleTimer = setInterval(() => this.sweepIdle(), Math.max(100, this.idleTimeoutMs / 2));
      this.idleTimer.unref();
    }
  }

  private sweepIdle(): void {
    const now = Date.now();
    for (let i = this.idle.length - 1; i >= 0; i--) {
      const connection = this.idle[i]!;
      if (!connection.usable || now - connection.idleSince >= this.idleTimeoutMs) {
        this.idle.splice(i, 1);
        this.endSession(connection);
      }
    }
    if (this.idle.length === 0) {
      clearInterval(this.idleTimer);
      this.idleTimer = undefined;
    }
  }

  /** Ends an IDSESSION politely (zEND) and closes the connection. */
  private endSession(connection: ClamdConnection): void {
    if (connection.usable) connection.socket.end(END);
    setTimeout(() => connection.destroy(), 1000).unref();
  }
}

function reasonOf(error: unknown, signal: AbortSignal): string {
  const cause = signal.aborted ? signal.reason : error;
  if (cause instanceof Error) return cause.message;
  return String(cause);
}

/**
 * Security events to an HTTP endpoint: each batch is POSTed as JSON (`{"events": [...]}`),
 * signed with HMAC-SHA-256 over `timestamp.body` (headers `X-Sipwarden-Timestamp` and
 * `X-Sipwarden-Signature: sha256=<hex>`), so that the receiver can check where it came
 * from and refuse a replay. One request at a time; a failure (an error, a timeout, a status
 * other than 2xx) is retried with backoff up to `maxAttempts`, then its events are dropped
 * and counted. Events wait in a bounded queue; past the bound new ones are dropped and
 * counted: a receiver that is down never holds the bus or grows memory.
 */
import { createHmac } from 'node:crypto';
import type { Logger } from '../../log/logger.ts';
import type { EventSink, SecurityEvent } from '../types.ts';
import type { ExportStats } from './syslog-sink.ts';

export interface WebhookSinkOptions {
  readonly url: string;
  /** The HMAC key the receiver shares. */
  readonly secret: string;
  readonly timeoutMs: number;
  readonly maxAttempts: number;
  readonly maxQueued: number;
  /** Events per request at most. */
  readonly batchSize: number;
  readonly log: Logger;
  /** The first retry waits this long, doubling to 30 s. */
  readonly retryDelayMs?: number;
}

const MAX_RETRY_DELAY_MS = 30_000;

export function signWebhook(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export class WebhookSink implements EventSink {
  readonly stats: ExportStats & { failedRequests: number } = { sent: 0, dropped: 0, failedRequests: 0 };
  readonly #options: WebhookSinkOptions;
  readonly #queue: SecurityEvent[] = [];
  #busy = false;
  #closed = false;
  #timer: NodeJS.Timeout | undefined;
  #wake: (() => void) | undefined;
  #idle: Promise<void> = Promise.resolve();

  constructor(options: WebhookSinkOptions) {
    this.#options = options;
  }

  write(events: readonly SecurityEvent[]): void {
    if (this.#closed) return;
    for (const event of events) {
      if (this.#queue.length >= this.#options.maxQueued) this.stats.dropped++;
      else this.#queue.push(event);
    }
    this.#next();
  }

  /** Stops retrying; a request under way is given until its timeout. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#wake?.();
    await this.#idle;
    this.stats.dropped += this.#queue.length;
    this.#queue.length = 0;
  }

  #next(): void {
    if (this.#busy || this.#queue.length === 0) return;
    this.#busy = true;
    const batch = this.#queue.splice(0, this.#options.batchSize);
    this.#idle = this.#deliver(batch).finally(() => {
      this.#busy = false;
      if (!this.#closed) this.#next();
    });
  }

  async #deliver(batch: SecurityEvent[]): Promise<void> {
    const o = this.#options;
    const body = JSON.stringify({ events: batch });
    let delay = o.retryDelayMs ?? 1000;
    for (let attempt = 1; attempt <= o.maxAttempts; attempt++) {
      const timestamp = String(Math.floor(Date.now() / 1000));
      try {
        const response = await fetch(o.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'x-sipwarden-timestamp': timestamp,
            'x-sipwarden-signature': signWebhook(o.secret, timestamp, body),
          },
          body,
          signal: AbortSignal.timeout(o.timeoutMs),
        });
        await response.body?.cancel();
        if (response.ok) {
          this.stats.sent += batch.length;
          return;
        }
        o.log.warn({ url: o.url, status: response.status, attempt }, 'webhook refused events');
      } catch (error) {
        o.log.warn({ url: o.url, err: error, attempt }, 'webhook unreachable');
      }
      this.stats.failedRequests++;
      if (this.#closed || attempt === o.maxAttempts) break;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        this.#timer = setTimeout(resolve, delay);
        this.#timer.unref();
      });
      this.#wake = undefined;
      if (this.#closed) break;
      delay = Math.min(MAX_RETRY_DELAY_MS, delay * 2);
    }
    this.stats.dropped += batch.length;
  }
}

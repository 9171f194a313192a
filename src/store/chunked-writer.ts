/**
 * Rows written to SQLite off the hot path, for the event store and the CDR store alike: a
 * batch is written in transactions of at most `chunk` rows, the first chunk at once and the
 * rest one per event-loop turn, so that the proxy is never held up for more than a chunk.
 * At most `maxPending` rows wait; beyond that they are counted as dropped. A failed write
 * is logged and counted, never thrown.
 */
import type { Logger } from '../log/logger.ts';

export interface ChunkedWriterOptions<T> {
  /** Writes one chunk in one transaction; may throw. */
  readonly writeBatch: (rows: readonly T[]) => void;
  readonly log: Logger;
  /** Names the store and its rows in log lines: `event store`, `events`. */
  readonly store: string;
  readonly rows: string;
  readonly chunk?: number;
  readonly maxPending?: number;
}

export interface ChunkedWriterStats {
  readonly rowsWritten: number;
  readonly writeErrors: number;
  /** Rows waiting for the next chunk. */
  readonly pending: number;
  /** Rows dropped because `maxPending` were already waiting. */
  readonly rowsDropped: number;
}

export const DEFAULT_WRITE_CHUNK = 2000;
const DEFAULT_MAX_PENDING = 100_000;

export class ChunkedWriter<T> {
  readonly #options: ChunkedWriterOptions<T>;
  readonly #chunk: number;
  readonly #maxPending: number;
  /** Rows waiting, oldest first, from `#start` on (a chunk is taken without moving the rest). */
  #pending: T[] = [];
  #start = 0;
  #scheduled: NodeJS.Immediate | undefined;
  #closed = false;
  #rowsWritten = 0;
  #writeErrors = 0;
  #rowsDropped = 0;

  constructor(options: ChunkedWriterOptions<T>) {
    this.#options = options;
    this.#chunk = options.chunk ?? DEFAULT_WRITE_CHUNK;
    this.#maxPending = options.maxPending ?? DEFAULT_MAX_PENDING;
  }

  /** Takes the rows: the first chunk is written now, the rest on later turns. Never throws. */
  write(rows: readonly T[]): void {
    if (this.#closed || rows.length === 0) return;
    const room = this.#maxPending - (this.#pending.length - this.#start);
    if (rows.length > room) {
      const dropped = rows.length - Math.max(0, room);
      this.#rowsDropped += dropped;
      this.#options.log.warn({ dropped }, `${this.#options.store}: too many ${this.#options.rows} waiting`);
    }
    for (let i = 0; i < rows.length && i < room; i++) this.#pending.push(rows[i]!);
    if (this.#scheduled === undefined) this.#drainChunk();
  }

  /** Writes every waiting row now. */
  drain(): void {
    if (this.#scheduled !== undefined) clearImmediate(this.#scheduled);
    this.#scheduled = undefined;
    while (this.#pending.length > this.#start) this.#writeChunk();
  }

  /** Writes what waits, then takes no more. */
  close(): void {
    this.drain();
    this.#closed = true;
  }

  stats(): ChunkedWriterStats {
    return {
      rowsWritten: this.#rowsWritten,
      writeErrors: this.#writeErrors,
      pending: this.#pending.length - this.#start,
      rowsDropped: this.#rowsDropped,
    };
  }

  #drainChunk(): void {
    this.#scheduled = undefined;
    if (this.#closed) return;
    this.#writeChunk();
    if (this.#pending.length > this.#start) this.#scheduled = setImmediate(() => this.#drainChunk());
  }

  #writeChunk(): void {
    const end = Math.min(this.#pending.length, this.#start + this.#chunk);
    const chunk = this.#pending.slice(this.#start, end);
    this.#start = end;
    if (this.#start === this.#pending.length) {
      this.#pending = [];
      this.#start = 0;
    }
    try {
      this.#options.writeBatch(chunk);
      this.#rowsWritten += chunk.length;
    } catch (error) {
      this.#writeErrors++;
      this.#options.log.error(
        { err: error, rows: chunk.length, writeErrors: this.#writeErrors },
        `${this.#options.store}: cannot write ${this.#options.rows}`,
      );
    }
  }
}

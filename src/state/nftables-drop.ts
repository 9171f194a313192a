/**
 * Blocked addresses mirrored into the kernel (nftables), so that their datagrams and
 * connection attempts to sipwarden's SIP ports are dropped before they reach user space.
 *
 * sipwarden owns one table (`inet <table>`, `sipwarden` by default) and touches nothing
 * else: two sets with timeouts (`ipv4_addr`, `ipv6_addr`, `flags timeout`, bounded by
 * `maxElements`) and one input chain whose rules drop (and count) UDP and TCP to the SIP
 * listening ports from those sets. The kernel expires elements itself, with the block's
 * expiry; a block until removed has no timeout.
 *
 * Only address blocks go to the kernel: networks (an interval set refuses overlapping
 * networks, which the block table allows) and rule keys stay user space decisions.
 *
 * Changes are queued (O(1), on the hot path) and written in batches on a timer: one
 * `nft -f -` with the batch on stdin, never a process per packet, at most one at a time.
 * A batch applies atomically or not at all; a failed one (nft missing, no permission) is
 * logged and reported through `onError` (an event), never thrown, and the whole table is
 * rebuilt from the block table at the next attempt, with a growing pause between failures.
 * `close()` deletes the table.
 */
import { spawn } from 'node:child_process';
import type { Logger } from '../log/logger.ts';
import { parseAddress } from './ip.ts';
import type { BlockListener } from './persist-observers.ts';
import type { BlockEntry } from './types.ts';

export interface NftablesDropOptions {
  /** The nft program. */
  readonly nft: string;
  /** The table's name, in family `inet`. */
  readonly table: string;
  /** Elements per set at most (the kernel refuses more; the user space table still blocks). */
  readonly maxElements: number;
  /** The blocks in force, for a rebuild (at start and after a failed batch). */
  readonly snapshot: () => readonly BlockEntry[];
  readonly log: Logger;
  /** A batch failed: the reason, for an event. */
  readonly onError: (reason: string) => void;
  readonly flushIntervalMs?: number;
  readonly clock?: () => number;
  /**
   * The program and arguments run in place of `nft` (`-f -` follows): tests run nft inside
   * their own network namespace with `ip netns exec NS nft`.
   */
  readonly command?: readonly string[];
}

export interface NftablesDropStats {
  readonly batches: number;
  readonly failures: number;
  /** Addresses waiting for the next batch. */
  readonly pending: number;
}

const DEFAULT_FLUSH_INTERVAL_MS = 100;
const MAX_PENDING = 100_000;
const FIRST_RETRY_MS = 1000;
const MAX_RETRY_MS = 60_000;
/** nft's own limit on one run; a batch is small text, so a stuck nft is the only way to reach it. */
const NFT_TIMEOUT_MS = 10_000;
const TABLE_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,31}$/;

/** An address key's family and nft text, or undefined for networks and rule keys. */
function addressOf(key: string): { set: 'blocked4' | 'blocked6'; text: string } | undefined {
  if (key.includes('/')) return undefined;
  const parsed = parseAddress(key);
  if (parsed === undefined) return undefined;
  return { set: parsed.family === 4 ? 'blocked4' : 'blocked6', text: parsed.text };
}

export class NftablesDrop implements BlockListener {
  readonly #options: NftablesDropOptions;
  readonly #clock: () => number;
  /** Address -> expiry (epoch ms, Infinity) to add, or null to remove. */
  readonly #pending = new Map<string, number | null>();
  #ports: readonly number[] = [];
  #started = false;
  #closed = false;
  #rebuild = true;
  #running: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #retryAt = 0;
  #retryMs = FIRST_RETRY_MS;
  #batches = 0;
  #failures = 0;

  constructor(options: NftablesDropOptions) {
    if (!TABLE_NAME.test(options.table))
      throw new Error(`kernelDrop.table: ${options.table} is not a table name`);
    this.#options = options;
    this.#clock = options.clock ?? Date.now;
  }

  /**
   * Creates the table with every address block in force and starts the batch timer.
   * Resolves true when the kernel has the table, false when nft failed (reported).
   */
  async start(ports: readonly number[]): Promise<boolean> {
    this.#ports = [...new Set(ports)].filter((p) => Number.isInteger(p) && p > 0 && p < 65536);
    this.#started = true;
    this.#rebuild = true;
    const ok = await this.flush();
    if (!this.#closed) {
      this.#timer = setInterval(
        () => void this.flush(),
        this.#options.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS,
      );
      this.#timer.unref();
    }
    return ok;
  }

  added(entry: BlockEntry): void {
    if (entry.scope !== 'address') return;
    const address = addressOf(entry.key);
    if (address !== undefined) this.#queue(address.text, entry.expiresAt);
  }

  removed(keys: readonly string[]): void {
    for (const key of keys) {
      const address = addressOf(key);
      if (address !== undefined) this.#queue(address.text, null);
    }
  }

  #queue(address: string, expiresAt: number | null): void {
    if (this.#closed || this.#rebuild) return;
    if (!this.#pending.has(address) && this.#pending.size >= MAX_PENDING) {
      // Too much at once: rebuild the sets from the block table instead.
      this.#pending.clear();
      this.#rebuild = true;
      return;
    }
    this.#pending.set(address, expiresAt);
  }

  /** Applies what waits (or rebuilds the table); true when nothing failed. Never rejects. */
  async flush(): Promise<boolean> {
    if (!this.#started || this.#closed) return true;
    if (this.#running !== undefined) {
      await this.#running;
      return true;
    }
    if (!this.#rebuild && this.#pending.size === 0) return true;
    const now = this.#clock();
    if (now < this.#retryAt) return false;
    const script = this.#rebuild ? this.#tableScript(now) : this.#changeScript(now);
    const wasRebuild = this.#rebuild;
    this.#rebuild = false;
    this.#pending.clear();
    let ok = false;
    this.#running = this.#apply(script).then((error) => {
      this.#batches++;
      if (error === undefined) {
        ok = true;
        this.#retryMs = FIRST_RETRY_MS;
        this.#retryAt = 0;
        return;
      }
      this.#failures++;
      // The kernel may now hold less than the table: start again from the block table.
      this.#rebuild = true;
      this.#pending.clear();
      this.#retryAt = this.#clock() + this.#retryMs;
      this.#retryMs = Math.min(MAX_RETRY_MS, this.#retryMs * 2);
      const reason = `kernel drop: nft failed${wasRebuild ? ' to create the table' : ''}: ${error}`;
      this.#options.log.error({ failures: this.#failures }, reason);
      this.#options.onError(reason);
    });
    await this.#running;
    this.#running = undefined;
    return ok;
  }

  /** The table from scratch: created if absent, deleted, defined again with every address block. */
  #tableScript(now: number): string {
    const { table, maxElements } = this.#options;
    const ports = this.#ports.length > 0 ? `{ ${this.#ports.join(', ')} }` : '{ 5060 }';
    const lines = [
      `add table inet ${table}`,
      `delete table inet ${table}`,
      `table inet ${table} {`,
      `  set blocked4 { type ipv4_addr; flags timeout; size ${maxElements}; }`,
      `  set blocked6 { type ipv6_addr; flags timeout; size ${maxElements}; }`,
      '  chain input {',
      '    type filter hook input priority filter - 10; policy accept;',
      `    ip saddr @blocked4 meta l4proto { udp, tcp } th dport ${ports} counter drop`,
      `    ip6 saddr @blocked6 meta l4proto { udp, tcp } th dport ${ports} counter drop`,
      '  }',
      '}',
    ];
    const counts = { blocked4: 0, blocked6: 0 };
    for (const entry of this.#options.snapshot()) {
      if (entry.scope !== 'address') continue;
      const address = addressOf(entry.key);
      if (address === undefined || counts[address.set] >= maxElements) continue;
      const element = this.#element(address.text, entry.expiresAt, now);
      if (element === undefined) continue;
      counts[address.set]++;
      lines.push(`add element inet ${table} ${address.set} { ${element} }`);
    }
    return `${lines.join('\n')}\n`;
  }

  /**
   * Each change as add, delete (so that the batch never fails on an element the kernel
   * already expired, nor keeps an old timeout: `add` of an existing element changes nothing),
   * then add with the new timeout.
   */
  #changeScript(now: number): string {
    const { table } = this.#options;
    const lines: string[] = [];
    for (const [text, expiresAt] of this.#pending) {
      const address = addressOf(text);
      if (address === undefined) continue;
      const prefix = `inet ${table} ${address.set}`;
      lines.push(`add element ${prefix} { ${text} }`, `delete element ${prefix} { ${text} }`);
      const element = expiresAt === null ? undefined : this.#element(text, expiresAt, now);
      if (element !== undefined) lines.push(`add element ${prefix} { ${element} }`);
    }
    return `${lines.join('\n')}\n`;
  }

  #element(text: string, expiresAt: number, now: number): string | undefined {
    if (!Number.isFinite(expiresAt)) return text;
    const seconds = Math.ceil((expiresAt - now) / 1000);
    return seconds >= 1 ? `${text} timeout ${seconds}s` : undefined;
  }

  /** Runs `nft -f -` with the script on stdin; resolves with the error, if any. */
  #apply(script: string): Promise<string | undefined> {
    return new Promise((resolve) => {
      let settled = false;
      const done = (error: string | undefined): void => {
        if (settled) return;
        settled = true;
        resolve(error);
      };
      let stderr = '';
      const [program, ...args] = this.#options.command ?? [this.#options.nft];
      const child = spawn(program ?? this.#options.nft, [...args, '-f', '-'], {
        stdio: ['pipe', 'ignore', 'pipe'],
        timeout: NFT_TIMEOUT_MS,
      });
      child.on('error', (error: NodeJS.ErrnoException) =>
        done(error.code === 'ENOENT' ? `${this.#options.nft} not found` : error.message),
      );
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (chunk: string) => {
        if (stderr.length < 2000) stderr += chunk;
      });
      child.stdin.on('error', () => {
        // nft exited before reading everything: its exit status says why.
      });
      child.on('close', (code, signal) => {
        if (code === 0) done(undefined);
        else done(firstLine(stderr) ?? `exit ${code ?? signal}`);
      });
      child.stdin.end(script);
    });
  }

  stats(): NftablesDropStats {
    return { batches: this.#batches, failures: this.#failures, pending: this.#pending.size };
  }

  /** Stops the timer and deletes the table (when it was created). Never rejects. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    if (!this.#started) return;
    if (this.#running !== undefined) await this.#running;
    const { table } = this.#options;
    // `add` first, so that deleting a table that was never created is no error.
    const error = await this.#apply(`add table inet ${table}\ndelete table inet ${table}\n`);
    if (error !== undefined) this.#options.log.error({}, `kernel drop: cannot delete the table: ${error}`);
  }
}

function firstLine(text: string): string | undefined {
  const line = text
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l.length > 0);
  // Printable ASCII only, bounded: it goes into an event.
  return line === undefined ? undefined : line.replace(/[^\x20-\x7e]/g, '?').slice(0, 300);
}

/**
 * Child processes for interop tests and benchmarks: started with a known pid, their output
 * kept (bounded), waited on, and always stopped, even when a test fails or throws.
 *
 * Each child is started as the leader of its own process group, so stopping it reaches the
 * workers it forked (Kamailio forks one process per worker and timer): the signal goes to
 * the group whose id is the child's pid, never to processes found by name.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** Output kept per stream: the last 64 KiB. */
export const OUTPUT_LIMIT = 64 * 1024;
const DEFAULT_GRACE_MS = 3000;

export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface StartOptions {
  /** A short name for messages ("kamailio", "sipp-uac"). */
  readonly name?: string;
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Bytes kept per stream (stdout, stderr); default OUTPUT_LIMIT. */
  readonly outputLimit?: number;
}

export type OutputMatcher = RegExp | ((output: string) => boolean);
export type StreamChoice = 'stdout' | 'stderr' | 'both';

/** A bounded tail of a stream: drops the oldest bytes past the limit. */
class Tail {
  private chunks: string[] = [];
  private size = 0;
  constructor(private readonly limit: number) {}

  push(text: string): void {
    this.chunks.push(text);
    this.size += text.length;
    while (this.size > this.limit && this.chunks.length > 1) {
      this.size -= this.chunks.shift()!.length;
    }
    if (this.size > this.limit) {
      const only = this.chunks[0]!;
      this.chunks = [only.slice(only.length - this.limit)];
      this.size = this.limit;
    }
  }

  text(): string {
    if (this.chunks.length > 1) this.chunks = [this.chunks.join('')];
    return this.chunks[0] ?? '';
  }
}

const live = new Set<ManagedProcess>();

export class ManagedProcess {
  readonly pid: number;
  readonly name: string;
  readonly command: string;
  /** Settles when the process has exited (never rejects). */
  readonly exited: Promise<ExitStatus>;
  private readonly child: ChildProcess;
  private readonly out: Tail;
  private readonly err: Tail;
  private status: ExitStatus | undefined;
  private readonly listeners = new Set<() => void>();
  /** The leader's 'exit' (which can come well before 'close', while forked workers hold the pipes). */
  private leaderExited = false;

  constructor(command: string, args: readonly string[], options: StartOptions = {}) {
    const limit = options.outputLimit ?? OUTPUT_LIMIT;
    this.out = new Tail(limit);
    this.err = new Tail(limit);
    this.name = options.name ?? command;
    this.command = [command, ...args].join(' ');
    this.child = spawn(command, [...args], {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      // Own process group: stop() signals -pid and so reaches forked workers too.
      detached: true,
    });
    if (this.child.pid === undefined) {
      // spawn failed synchronously (ENOENT is reported through 'error' with pid undefined).
      this.pid = -1;
    } else {
      this.pid = this.child.pid;
      live.add(this);
    }
    this.child.stdout!.setEncoding('latin1');
    this.child.stderr!.setEncoding('latin1');
    this.child.stdout!.on('data', (chunk: string) => {
      this.out.push(chunk);
      this.notify();
    });
    this.child.stderr!.on('data', (chunk: string) => {
      this.err.push(chunk);
      this.notify();
    });
    this.exited = new Promise<ExitStatus>((resolve) => {
      const done = (status: ExitStatus) => {
        if (this.status) return;
        this.status = status;
        live.delete(this);
        this.notify();
        resolve(status);
      };
      this.child.once('error', (error) => {
        this.err.push(`\n[harness] ${this.name}: ${error.message}\n`);
        done({ code: null, signal: null });
      });
      // 'close' (not 'exit'): the output streams are drained by then.
      this.child.once('close', (code, signal) => done({ code, signal }));
      this.child.once('exit', () => {
        this.leaderExited = true;
      });
    });
  }

  get running(): boolean {
    return this.status === undefined && this.pid > 0;
  }

  get exitStatus(): ExitStatus | undefined {
    return this.status;
  }

  stdout(): string {
    return this.out.text();
  }

  stderr(): string {
    return this.err.text();
  }

  output(stream: StreamChoice = 'both'): string {
    if (stream === 'stdout') return this.stdout();
    if (stream === 'stderr') return this.stderr();
    return this.stdout() + this.stderr();
  }

  /**
   * Resolves when the kept output (stdout, stderr or both) matches; rejects after
   * `timeoutMs`, or when the process exits first, with the output's tail in the message.
   */
  waitFor(matcher: OutputMatcher, timeoutMs: number, stream: StreamChoice = 'both'): Promise<void> {
    const test = typeof matcher === 'function' ? matcher : (text: string) => matcher.test(text);
    return new Promise<void>((resolve, reject) => {
      let finished = false;
      const check = () => {
        if (finished) return;
        if (test(this.output(stream))) {
          finish();
          resolve();
        } else if (this.status) {
          finish();
          reject(
            new Error(`${this.name} exited (${describe(this.status)}) before ${matcher}\n${this.tail()}`),
          );
        }
      };
      const timer = setTimeout(() => {
        if (finished) return;
        finish();
        reject(new Error(`${this.name}: no ${matcher} within ${timeoutMs} ms\n${this.tail()}`));
      }, timeoutMs);
      const finish = () => {
        finished = true;
        clearTimeout(timer);
        this.listeners.delete(check);
      };
      this.listeners.add(check);
      check();
    });
  }

  /** Resolves with the exit status; rejects (without stopping it) after `timeoutMs`. */
  async waitForExit(timeoutMs: number): Promise<ExitStatus> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${this.name} still running after ${timeoutMs} ms\n${this.tail()}`)),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Sends `signal` to the process group (the process and whatever it forked). */
  signal(signal: NodeJS.Signals): void {
    if (!this.running) return;
    // Once the leader and its whole group are gone, its pid may belong to someone else's
    // new process group (pids are reused quickly): never signal it then.
    if (this.leaderExited && processGroupMembers(this.pid).length === 0) return;
    signalGroup(this.pid, signal);
  }

  /**
   * SIGTERM to the group, SIGKILL after `graceMs` if the leader is still there; resolves
   * once no process of the group is alive.
   */
  async stop(graceMs = DEFAULT_GRACE_MS): Promise<ExitStatus> {
    if (!this.running) {
      await this.reapGroup();
      return this.status ?? { code: null, signal: null };
    }
    this.signal('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.signal('SIGKILL');
        resolve();
      }, graceMs);
    });
    await Promise.race([this.exited, killed]);
    clearTimeout(timer);
    const status = await this.exited;
    await this.reapGroup();
    return status;
  }

  /**
   * The leader is gone; make sure no process it forked outlives it (bounded wait: a killed
   * process needs a moment to become a zombie).
   */
  private async reapGroup(): Promise<void> {
    if (this.pid <= 0) return;
    for (let i = 0; i < 100 && processGroupMembers(this.pid).length > 0; i++) {
      signalGroup(this.pid, 'SIGKILL');
      await sleep(20);
    }
  }

  /** The last lines of output, for error messages. */
  tail(bytes = 4000): string {
    const text = this.output();
    return text.length > bytes ? `...${text.slice(text.length - bytes)}` : text;
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

function describe(status: ExitStatus): string {
  return status.signal ? `signal ${status.signal}` : `code ${status.code}`;
}

/**
 * Live (not zombie) processes in process group `pgid`, from /proc (Linux). Used to check
 * that stopping a daemon left none of its workers behind: signalling the group is no proof,
 * as a zombie still counts as a member until its parent reaps it.
 */
export function processGroupMembers(pgid: number): number[] {
  const members: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
    } catch {
      continue; // exited meanwhile
    }
    // pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses, so split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] !== 'Z' && Number(fields[2]) === pgid) members.push(Number(entry));
  }
  return members;
}

/** Starts `command` with `args`; the process is registered for global cleanup. */
export function startProcess(
  command: string,
  args: readonly string[],
  options: StartOptions = {},
): ManagedProcess {
  installExitHooks();
  return new ManagedProcess(command, args, options);
}

/** Processes started by this harness and not yet exited. */
export function liveProcesses(): readonly ManagedProcess[] {
  return [...live];
}

/** Stops every process this harness started that is still running (for `after` hooks). */
export async function stopAll(graceMs = DEFAULT_GRACE_MS): Promise<void> {
  await Promise.all([...live].map((p) => p.stop(graceMs)));
}

/** Last resort on exit: SIGKILL every group still running (synchronous, as 'exit' requires). */
function killAllNow(): void {
  for (const p of live) signalGroup(p.pid, 'SIGKILL');
  live.clear();
}

let hooksInstalled = false;

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', killAllNow);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      killAllNow();
      // Keep the default meaning of the signal: end this process too.
      process.kill(process.pid, signal);
    });
  }
}

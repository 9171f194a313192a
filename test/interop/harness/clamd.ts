/**
 * Debian's clamd (package clamav-daemon), started for a test on a free loopback TCP port and a
 * unix socket in its own temporary directory, with a signature database the harness writes:
 * the EICAR test signature only (no official database is needed, or available offline).
 * Stopped by its pid (process.ts); `pause()`/`resume()` (SIGSTOP/SIGCONT) make it "slow":
 * connections are still accepted by the kernel but nothing is answered.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, waitForListening } from './ports.ts';
import { type ManagedProcess, startProcess } from './process.ts';
import { tempDir } from './workdir.ts';

export const CLAMD_BIN = process.env.CLAMD_BIN ?? '/usr/sbin/clamd';
/** Debian's clamav-testfiles: samples of many formats (clean under the EICAR-only database). */
export const CLAMAV_TESTFILES = '/usr/share/clamav-testfiles';

/** The EICAR anti-virus test string (68 bytes), which the database below detects. */
export const EICAR = Buffer.from(
  'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*',
  'latin1',
);
/** The signature name clamd reports for EICAR with this database (".UNOFFICIAL": not from the official feed). */
export const EICAR_SIGNATURE = 'Eicar-Test-Signature.UNOFFICIAL';

export interface ClamdOptions {
  /** clamd's StreamMaxLength (INSTREAM bytes accepted), e.g. '1M'; clamd's default 100M if unset. */
  readonly streamMaxLength?: string;
  /** clamd's MaxThreads; default clamd's own (10). */
  readonly maxThreads?: number;
  /** Milliseconds to wait for the sockets; default 15000. */
  readonly startTimeoutMs?: number;
}

export class Clamd {
  constructor(
    readonly process: ManagedProcess,
    readonly host: string,
    readonly port: number,
    /** Path of clamd's unix socket. */
    readonly socket: string,
    readonly dir: string,
  ) {}

  get pid(): number {
    return this.process.pid;
  }

  /** Stops answering (SIGSTOP): connects still succeed (kernel backlog), scans hang. */
  pause(): void {
    this.process.signal('SIGSTOP');
  }

  resume(): void {
    this.process.signal('SIGCONT');
  }

  /** SIGKILL, as a crash: no clean shutdown, the socket file may stay behind. */
  async kill(): Promise<void> {
    this.process.signal('SIGCONT');
    this.process.signal('SIGKILL');
    await this.process.waitForExit(5000);
  }

  async stop(): Promise<void> {
    this.process.signal('SIGCONT');
    await this.process.stop();
  }
}

/** True when Debian's clamd is installed (tests skip with a reason otherwise). */
export function clamdAvailable(): boolean {
  return existsSync(CLAMD_BIN);
}

/**
 * Starts clamd with an EICAR-only database; resolves once both its TCP port and its unix
 * socket accept connections. `port` may be given to restart clamd where it was.
 */
export async function startClamd(options: ClamdOptions & { port?: number } = {}): Promise<Clamd> {
  const dir = tempDir('clamd');
  const host = '127.0.0.1';
  const port = options.port ?? (await freePort(host, ['tcp']));
  const socket = join(dir, 'clamd.sock');
  writeFileSync(join(dir, 'test.ndb'), `Eicar-Test-Signature:0:*:${EICAR.toString('hex')}\n`);
  const lines = [
    'Foreground yes',
    `DatabaseDirectory ${dir}`,
    `LocalSocket ${socket}`,
    `TCPSocket ${port}`,
    `TCPAddr ${host}`,
    `LogFile ${join(dir, 'clamd.log')}`,
    // No periodic database reload during a test.
    'SelfCheck 0',
  ];
  if (options.streamMaxLength) lines.push(`StreamMaxLength ${options.streamMaxLength}`);
  if (options.maxThreads) lines.push(`MaxThreads ${options.maxThreads}`);
  const config = join(dir, 'clamd.conf');
  writeFileSync(config, `${lines.join('\n')}\n`);
  const process = startProcess(CLAMD_BIN, ['-c', config], { name: 'clamd' });
  const timeout = options.startTimeoutMs ?? 15000;
  try {
    await waitForListening(port, ['tcp'], timeout, host);
    const deadline = Date.now() + timeout;
    while (!existsSync(socket)) {
      if (!process.running) throw new Error(`clamd exited\n${process.tail()}`);
      if (Date.now() > deadline) throw new Error(`clamd: no ${socket} within ${timeout} ms`);
      await sleep(20);
    }
  } catch (error) {
    await process.stop();
    throw error;
  }
  return new Clamd(process, host, port, socket, dir);
}

/**
 * sipwarden started as a child process, the way an operator starts it:
 *   node bin/sipwarden.js start --listen HOST:PORT --upstream HOST:PORT [more args]
 * so its resident memory and CPU are its own (the load benchmark reads /proc/PID/status).
 * Tests that want it in-process use startGateway() from src/gateway.ts instead.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type PortKind, waitForListening } from './ports.ts';
import { type ExitStatus, type ManagedProcess, startProcess } from './process.ts';

export const REPO_ROOT = join(import.meta.dirname, '..', '..', '..');
export const SIPWARDEN_BIN = join(REPO_ROOT, 'bin', 'sipwarden.js');

export interface SipwardenOptions {
  readonly host?: string;
  /** Listening port (UDP, and TCP when `listenKinds` includes it). */
  readonly port: number;
  readonly upstream: { readonly host: string; readonly port: number };
  /** What to wait for before resolving; default UDP only. */
  readonly listenKinds?: readonly PortKind[];
  readonly extraArgs?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  readonly startTimeoutMs?: number;
}

export class Sipwarden {
  constructor(
    readonly process: ManagedProcess,
    readonly host: string,
    readonly port: number,
  ) {}

  get pid(): number {
    return this.process.pid;
  }

  stop(): Promise<ExitStatus> {
    return this.process.stop();
  }
}

/** True when the command line entry point exists in this checkout. */
export function sipwardenAvailable(): boolean {
  return existsSync(SIPWARDEN_BIN);
}

/** Starts sipwarden and resolves once it listens; rejects (and stops it) if it does not. */
export async function startSipwarden(options: SipwardenOptions): Promise<Sipwarden> {
  const host = options.host ?? '127.0.0.1';
  const args = [
    SIPWARDEN_BIN,
    'start',
    '--listen',
    `${host}:${options.port}`,
    '--upstream',
    `${options.upstream.host}:${options.upstream.port}`,
    // No event file in the checkout and no fixed management port unless a test asks for them.
    '--events-db',
    ':memory:',
    '--management',
    'off',
    ...(options.extraArgs ?? []),
  ];
  const child = startProcess(process.execPath, args, {
    name: 'sipwarden',
    cwd: options.cwd ?? REPO_ROOT,
    env: options.env ?? process.env,
  });
  try {
    await Promise.race([
      waitForListening(options.port, options.listenKinds ?? ['udp'], options.startTimeoutMs ?? 15000, host),
      child.exited.then((status) => {
        throw new Error(`sipwarden exited at start (${JSON.stringify(status)})\n${child.tail()}`);
      }),
    ]);
  } catch (error) {
    await child.stop();
    throw error;
  }
  return new Sipwarden(child, host, options.port);
}

/**
 * sipwarden started as a child process, the way an operator starts it:
 *   node bin/sipwarden.js start -c CONFIG --listen HOST:PORT --upstream HOST:PORT [more args]
 * so its resident memory and CPU are its own (the load benchmark reads /proc/PID/status).
 * Tests that want it in-process use startGateway() from src/gateway.ts instead.
 *
 * It runs in a temporary directory with a config file written there: the harness's base
 * settings (management API on a free port, events in memory, so that two instances never
 * collide on port 9060 nor write a database into the checkout) with the caller's `config`
 * merged over them. The config is written as JSON, which YAML reads as is. Its management
 * socket is in that directory: client() talks over it as the local command line does (no
 * token), and apiToken() makes a token for tests that call the API over HTTP.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Role } from '../../../src/api/auth/roles.ts';
import { ApiUnreachableError, ManagementClient } from '../../../src/api/client.ts';
import { type PortKind, waitForListening } from './ports.ts';
import { type ExitStatus, type ManagedProcess, startProcess } from './process.ts';
import { tempDir } from './workdir.ts';

export const REPO_ROOT = join(import.meta.dirname, '..', '..', '..');
export const SIPWARDEN_BIN = join(REPO_ROOT, 'bin', 'sipwarden.js');

export type SipwardenConfig = { readonly [key: string]: unknown };

/** What every harness-started sipwarden gets unless the caller's config says otherwise. */
export const HARNESS_BASE_CONFIG: SipwardenConfig = {
  management: { port: 0 },
  events: { database: ':memory:' },
};

export interface SipwardenOptions {
  readonly host?: string;
  /**
   * UDP and TCP listening port, passed as --listen; when `config` has its own `listen`,
   * that list is used instead and this is only the port waited on.
   */
  readonly port: number;
  readonly upstream: { readonly host: string; readonly port: number };
  /** Config merged over HARNESS_BASE_CONFIG (objects merged key by key, anything else replaced). */
  readonly config?: SipwardenConfig;
  /** What to wait for on `port` before resolving; default UDP only. */
  readonly listenKinds?: readonly PortKind[];
  readonly extraArgs?: readonly string[];
  /** The entry point to run; this checkout's bin/sipwarden.js by default (A/B runs name another). */
  readonly bin?: string;
  /** Flags for node itself, before the script (e.g. --cpu-prof, which NODE_OPTIONS refuses). */
  readonly nodeArgs?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  /** Working directory; a fresh temporary one by default. */
  readonly cwd?: string;
  readonly startTimeoutMs?: number;
  /** Bytes of output kept per stream (default: the process harness's). */
  readonly outputLimit?: number;
}

export class Sipwarden {
  constructor(
    readonly process: ManagedProcess,
    readonly host: string,
    readonly port: number,
    readonly configPath: string,
    /** The management socket, when the config has one. */
    readonly socketPath?: string,
  ) {}

  /** A client over the management socket (admin, as the local command line). */
  client(): ManagementClient {
    if (this.socketPath === undefined) throw new Error('this sipwarden has no management socket');
    return ManagementClient.overSocket(this.socketPath);
  }

  /** A new API token of that role, made over the socket (the process may keep it in memory only). */
  async apiToken(role: Role = 'admin'): Promise<string> {
    // The API starts after the SIP listeners: its socket may not be there yet (up to 10 s).
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        const answer = await this.client().request<{ token: string }>('POST', '/api/tokens', {
          name: `test-${role}`,
          role,
        });
        return answer.token;
      } catch (error) {
        if (!(error instanceof ApiUnreachableError) || Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }

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

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `over` merged onto `base`: nested objects key by key, arrays and scalars replaced. */
export function mergeConfig(base: SipwardenConfig, over: SipwardenConfig): SipwardenConfig {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const current = out[key];
    out[key] = isPlainObject(current) && isPlainObject(value) ? mergeConfig(current, value) : value;
  }
  return out;
}

/** Starts sipwarden and resolves once it listens; rejects (and stops it) if it does not. */
export async function startSipwarden(options: SipwardenOptions): Promise<Sipwarden> {
  const host = options.host ?? '127.0.0.1';
  const cwd = options.cwd ?? tempDir('sipwarden');
  const config = mergeConfig(
    mergeConfig(HARNESS_BASE_CONFIG, { management: { socket: join(cwd, 'sipwarden.sock') } }),
    options.config ?? {},
  );
  const configPath = join(cwd, 'sipwarden.yaml');
  writeFileSync(configPath, `${JSON.stringify(config, null, 2)}\n`);
  const args = [...(options.nodeArgs ?? []), options.bin ?? SIPWARDEN_BIN, 'start', '-c', configPath];
  if (config.listen === undefined) args.push('--listen', `${host}:${options.port}`);
  args.push('--upstream', `${options.upstream.host}:${options.upstream.port}`, ...(options.extraArgs ?? []));
  const child = startProcess(process.execPath, args, {
    name: 'sipwarden',
    cwd,
    env: options.env ?? process.env,
    ...(options.outputLimit === undefined ? {} : { outputLimit: options.outputLimit }),
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
  const management = config.management as { enabled?: boolean; socket?: unknown } | undefined;
  const socketPath =
    management?.enabled !== false && typeof management?.socket === 'string' ? management.socket : undefined;
  return new Sipwarden(child, host, options.port, configPath, socketPath);
}

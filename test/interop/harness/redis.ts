/**
 * Debian's redis-server started by a test on a free loopback port, in the foreground (so the
 * process harness holds its pid and stopAll() stops it), with nothing written to disk:
 *   redis-server --port P --bind 127.0.0.1 --save '' --appendonly no --dir D
 * `kill()` ends it with SIGKILL, as a crash would; `pause()`/`resume()` make it hang and go on; `restart()` starts a new one, empty, on the
 * same port (a Redis that lost its data, the harder case for the nodes that resynchronise).
 */
import { existsSync } from 'node:fs';
import { freePort } from './ports.ts';
import { type ExitStatus, type ManagedProcess, startProcess } from './process.ts';
import { tempDir } from './workdir.ts';

export const REDIS_SERVER = '/usr/bin/redis-server';

export function redisAvailable(): boolean {
  return existsSync(REDIS_SERVER);
}

export class RedisServer {
  #process: ManagedProcess;

  constructor(
    process: ManagedProcess,
    readonly host: string,
    readonly port: number,
    readonly dir: string,
  ) {
    this.#process = process;
  }

  get url(): string {
    return `redis://${this.host}:${this.port}`;
  }

  get pid(): number {
    return this.#process.pid;
  }

  get running(): boolean {
    return this.#process.running;
  }

  /** Ends it at once with SIGKILL (no shutdown, no save), as a crash would. */
  async kill(): Promise<ExitStatus> {
    this.#process.signal('SIGKILL');
    return this.#process.waitForExit(5000);
  }

  /** Stops it answering (SIGSTOP) with its connections left open: a hung server. */
  pause(): void {
    this.#process.signal('SIGSTOP');
  }

  /** Lets a paused server go on (SIGCONT). */
  resume(): void {
    this.#process.signal('SIGCONT');
  }

  /** Starts an empty Redis again on the same port; resolves once it accepts connections. */
  async restart(): Promise<void> {
    if (this.#process.running) await this.kill();
    this.#process = await launch(this.host, this.port, this.dir);
  }

  stop(): Promise<ExitStatus> {
    return this.#process.stop();
  }
}

async function launch(host: string, port: number, dir: string): Promise<ManagedProcess> {
  const args = ['--port', String(port), '--bind', host, '--save', '', '--appendonly', 'no', '--dir', dir];
  const child = startProcess(REDIS_SERVER, args, { name: 'redis-server', cwd: dir });
  try {
    await Promise.race([
      child.waitFor(/Ready to accept connections/, 10_000, 'stdout'),
      child.exited.then((status) => {
        throw new Error(`redis-server exited at start (${JSON.stringify(status)})\n${child.tail()}`);
      }),
    ]);
  } catch (error) {
    await child.stop();
    throw error;
  }
  return child;
}

/** Starts redis-server on a free loopback TCP port. */
export async function startRedis(host = '127.0.0.1'): Promise<RedisServer> {
  const port = await freePort(host, ['tcp']);
  const dir = tempDir('redis');
  return new RedisServer(await launch(host, port, dir), host, port, dir);
}

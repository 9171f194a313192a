/**
 * A Linux network namespace with only `lo` in it, for tests whose messages name real
 * addresses: the RFC 4475 torture messages carry 192.0.2.x and other hosts in Via, Contact
 * and Route, and a gateway under test must have no way to reach any of them. Inside the
 * namespace every address but 127.0.0.0/8 and ::1 is unreachable.
 *
 * Creating one needs root (CAP_SYS_ADMIN) and iproute2. The namespace is named after this
 * process so two test runs never share one, and is always deleted by `remove()`.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

export const IP_BIN = process.env.IP_BIN ?? 'ip';

export class NetworkNamespace {
  private removed = false;

  private constructor(readonly name: string) {}

  /** Why a namespace cannot be made here, or undefined when it can. */
  static unavailable(): string | undefined {
    if (process.platform !== 'linux') return 'network namespaces need Linux';
    if (process.getuid?.() !== 0) return 'creating a network namespace needs root';
    try {
      execFileSync(IP_BIN, ['-V'], { stdio: 'ignore' });
    } catch {
      return `iproute2 (${IP_BIN}) is not installed`;
    }
    return undefined;
  }

  /** Creates the namespace and brings its loopback interface up; removes it again on failure. */
  static create(prefix: string): NetworkNamespace {
    const ns = new NetworkNamespace(`${prefix}-${process.pid}-${randomBytes(3).toString('hex')}`);
    execFileSync(IP_BIN, ['netns', 'add', ns.name], { stdio: 'pipe' });
    try {
      execFileSync(IP_BIN, ['netns', 'exec', ns.name, IP_BIN, 'link', 'set', 'lo', 'up'], { stdio: 'pipe' });
      // Nothing but loopback: the test relies on it, so check rather than assume.
      const links = execFileSync(IP_BIN, ['netns', 'exec', ns.name, IP_BIN, '-o', 'link', 'show'], {
        encoding: 'utf8',
      });
      const names = links
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map((line) => line.split(':')[1]?.trim().split('@')[0]);
      if (names.length !== 1 || names[0] !== 'lo') throw new Error(`namespace has links ${names.join(', ')}`);
    } catch (error) {
      ns.remove();
      throw error;
    }
    // Deleted even when the test process ends early.
    process.once('exit', () => ns.remove());
    return ns;
  }

  /** The command line that runs `command` inside the namespace. */
  exec(command: string, args: readonly string[]): { command: string; args: string[] } {
    return { command: IP_BIN, args: ['netns', 'exec', this.name, command, ...args] };
  }

  /** Deletes the namespace (idempotent; never throws). */
  remove(): void {
    if (this.removed) return;
    this.removed = true;
    try {
      execFileSync(IP_BIN, ['netns', 'delete', this.name], { stdio: 'ignore' });
    } catch {
      // Already gone.
    }
  }
}

/** Resolves once something listens on `port` (UDP or TCP) inside namespace `netns`; rejects after `timeoutMs`. */
export async function waitForListeningIn(
  netns: string,
  port: number,
  kind: 'udp' | 'tcp',
  timeoutMs: number,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const listing = execFileSync(
      IP_BIN,
      ['netns', 'exec', netns, 'ss', '-Hln', kind === 'udp' ? '-u' : '-t'],
      {
        encoding: 'utf8',
      },
    );
    if (listing.split('\n').some((line) => line.split(/\s+/)[3]?.endsWith(`:${port}`))) return;
    if (Date.now() > end)
      throw new Error(`nothing listens on ${kind} port ${port} in ${netns} within ${timeoutMs} ms`);
    await sleep(50);
  }
}

/**
 * Debian's dnsmasq started by a test as an authoritative-only DNS server on a free loopback
 * port, with a zone the test writes, in the foreground (so the process harness holds its pid
 * and stopAll() stops it):
 *   dnsmasq -k --conf-file=ZONE --port P --listen-address 127.0.0.1 --bind-interfaces
 *           --no-resolv --no-hosts --log-queries --log-facility=-
 * The zone is dnsmasq configuration lines (`host-record=`, `srv-host=`, `naptr-record=`,
 * `local=/test/` so that unknown names get NXDOMAIN and are never forwarded anywhere). Address
 * records can also be kept in a hosts file (`hosts`), which SIGHUP re-reads: `setHosts()`.
 * Every query it receives is logged: `queries(name)` counts them.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './ports.ts';
import { type ExitStatus, type ManagedProcess, startProcess } from './process.ts';
import { tempDir } from './workdir.ts';

export const DNSMASQ = '/usr/sbin/dnsmasq';

export function dnsmasqAvailable(): boolean {
  return existsSync(DNSMASQ);
}

export interface DnsmasqOptions {
  /** dnsmasq configuration lines: the zone. */
  readonly zone: readonly string[];
  /** Lines of a hosts file (`127.0.0.1 pbx.example.test`), re-read on SIGHUP. */
  readonly hosts?: readonly string[];
  /** TTL of the answers from the zone and the hosts file (dnsmasq's local-ttl); default 60. */
  readonly ttl?: number;
}

export class Dnsmasq {
  readonly #process: ManagedProcess;
  readonly #hostsFile: string;

  constructor(
    process: ManagedProcess,
    readonly port: number,
    hostsFile: string,
  ) {
    this.#process = process;
    this.#hostsFile = hostsFile;
  }

  /** The server as node:dns setServers() and sipwarden's dns.servers take it. */
  get server(): string {
    return `127.0.0.1:${this.port}`;
  }

  get pid(): number {
    return this.#process.pid;
  }

  /** Replaces the hosts file and makes dnsmasq re-read it (SIGHUP); resolves once it has. */
  async setHosts(lines: readonly string[]): Promise<void> {
    writeFileSync(this.#hostsFile, lines.join('\n') + '\n');
    const before = this.#process.output().split('read ' + this.#hostsFile).length;
    this.#process.signal('SIGHUP');
    await this.#process.waitFor((output) => output.split('read ' + this.#hostsFile).length > before, 5000);
  }

  /** Queries received for `name` of `type` (A, AAAA, SRV, NAPTR) so far; `auth[...]` in an auth-zone. */
  queries(type: string, name: string): number {
    const output = this.#process.output();
    const count = (kind: string) => output.split(`${kind}[${type}] ${name} from`).length - 1;
    return count('query') + count('auth');
  }

  output(): string {
    return this.#process.output();
  }

  stop(): Promise<ExitStatus> {
    return this.#process.stop();
  }
}

/** Starts dnsmasq on a free loopback UDP port with the given zone. */
export async function startDnsmasq(options: DnsmasqOptions): Promise<Dnsmasq> {
  const dir = tempDir('dnsmasq');
  const port = await freePort('127.0.0.1', ['udp', 'tcp']);
  const zoneFile = join(dir, 'zone.conf');
  const hostsFile = join(dir, 'hosts');
  writeFileSync(zoneFile, options.zone.join('\n') + '\n');
  writeFileSync(hostsFile, (options.hosts ?? []).join('\n') + '\n');
  const args = [
    '--keep-in-foreground',
    `--conf-file=${zoneFile}`,
    `--port=${port}`,
    '--listen-address=127.0.0.1',
    '--bind-interfaces',
    '--no-resolv',
    '--no-hosts',
    '--no-poll',
    `--addn-hosts=${hostsFile}`,
    `--local-ttl=${options.ttl ?? 60}`,
    '--log-queries',
    '--log-facility=-',
    `--pid-file=${join(dir, 'dnsmasq.pid')}`,
    '--user=root',
  ];
  const child = startProcess(DNSMASQ, args, { name: 'dnsmasq', cwd: dir });
  try {
    await Promise.race([
      child.waitFor(/started, version/, 10_000),
      child.exited.then((status) => {
        throw new Error(`dnsmasq exited at start (${JSON.stringify(status)})\n${child.tail()}`);
      }),
    ]);
    // The hosts file is read after the start line.
    await child.waitFor((output) => output.includes('read ' + hostsFile), 5000);
  } catch (error) {
    await child.stop();
    throw error;
  }
  return new Dnsmasq(child, port, hostsFile);
}

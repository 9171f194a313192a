/**
 * Free loopback ports for test daemons (sipp, Kamailio, sipwarden) that take a port number
 * on their command line rather than binding port 0 themselves.
 *
 * A port is probed by binding it on every requested transport, then released; the daemon
 * binds it a moment later. Another process can take it in between: ports are drawn at random
 * from a range below Linux's ephemeral range (32768-60999, where the kernel picks outgoing
 * and port-0 ports) so that the window rarely matters, and a port handed out once is never
 * handed out again by this process.
 */
import { createSocket } from 'node:dgram';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export type PortKind = 'udp' | 'tcp';

const LOW = 20000;
const HIGH = 32000;
const MAX_ATTEMPTS = 200;
const handedOut = new Set<number>();

function probeUdp(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    socket.once('error', () => {
      socket.close();
      resolve(false);
    });
    socket.bind({ address: host, port, exclusive: true }, () => {
      socket.close(() => resolve(true));
    });
  });
}

function probeTcp(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => {
      server.close(() => resolve(true));
    });
  });
}

/** True when `port` can be bound on `host` for every kind in `kinds` right now. */
export async function isPortFree(
  port: number,
  host = '127.0.0.1',
  kinds: readonly PortKind[] = ['udp', 'tcp'],
): Promise<boolean> {
  for (const kind of kinds) {
    const free = kind === 'udp' ? await probeUdp(host, port) : await probeTcp(host, port);
    if (!free) return false;
  }
  return true;
}

/**
 * A port free on `host` for every kind in `kinds` (UDP and TCP by default, as SIP listens
 * on both with one number). Rejects after a bounded number of attempts.
 */
export async function freePort(
  host = '127.0.0.1',
  kinds: readonly PortKind[] = ['udp', 'tcp'],
): Promise<number> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
    if (handedOut.has(port)) continue;
    if (await isPortFree(port, host, kinds)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port on ${host} (${kinds.join('+')}) after ${MAX_ATTEMPTS} attempts`);
}

/** `count` distinct free ports (each free on every kind in `kinds`). */
export async function freePorts(
  count: number,
  host = '127.0.0.1',
  kinds: readonly PortKind[] = ['udp', 'tcp'],
): Promise<number[]> {
  const ports: number[] = [];
  for (let i = 0; i < count; i++) ports.push(await freePort(host, kinds));
  return ports;
}

/** /proc/net address of an IPv4 host: the address as a little-endian hex word. */
function procHex(host: string): string | undefined {
  const parts = host.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return undefined;
  return parts
    .reverse()
    .map((p) => p.toString(16).padStart(2, '0'))
    .join('')
    .toUpperCase();
}

/**
 * True when some process has bound `port` on `host` (or on the wildcard address) for `kind`
 * (TCP: listening). Read from /proc/net without touching the port, so a daemon that is
 * still starting is never raced. Linux only; IPv4 hosts.
 */
export async function isListening(port: number, kind: PortKind, host = '127.0.0.1'): Promise<boolean> {
  const hostHex = procHex(host);
  const portHex = port.toString(16).toUpperCase().padStart(4, '0');
  let table: string;
  try {
    table = await readFile(`/proc/net/${kind}`, 'latin1');
  } catch {
    return false;
  }
  for (const line of table.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    const local = fields[1];
    const state = fields[3];
    if (!local || !state) continue;
    const [addr, p] = local.split(':');
    if (p !== portHex) continue;
    if (addr !== hostHex && addr !== '00000000') continue;
    if (kind === 'tcp' && state !== '0A') continue; // 0A: TCP_LISTEN
    return true;
  }
  return false;
}

/** Resolves once `port` is bound for every kind in `kinds`; rejects after `timeoutMs`. */
export async function waitForListening(
  port: number,
  kinds: readonly PortKind[] = ['udp'],
  timeoutMs = 5000,
  host = '127.0.0.1',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let all = true;
    for (const kind of kinds) {
      if (!(await isListening(port, kind, host))) {
        all = false;
        break;
      }
    }
    if (all) return;
    if (Date.now() > deadline)
      throw new Error(`nothing listening on ${host}:${port} (${kinds.join('+')}) after ${timeoutMs} ms`);
    await sleep(20);
  }
}

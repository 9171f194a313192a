/**
 * Debian's rtpengine (rtpengine-daemon) started by a test in userspace mode on loopback:
 *   rtpengine --config-file=none --foreground --log-stderr --table=-1 --interface=lo/127.0.0.1
 *     --listen-ng=127.0.0.1:NG --listen-cli=127.0.0.1:CLI --port-min=A --port-max=B --delete-delay=0
 * `--table=-1` keeps forwarding in user space (no kernel module). The NG and CLI ports are free
 * loopback ports; the media range is a random block of 200 ports below the harness's other
 * ports, so that two tests (or helpers) running rtpengine at once rarely share one.
 * Stopped by its pid (process group), as every harness daemon is.
 */
import { existsSync } from 'node:fs';
import { freePort } from './ports.ts';
import { type ExitStatus, type ManagedProcess, startProcess } from './process.ts';
import { tempDir } from './workdir.ts';

export const RTPENGINE = '/usr/bin/rtpengine';

export function rtpengineAvailable(): boolean {
  return existsSync(RTPENGINE);
}

export class Rtpengine {
  constructor(
    readonly process: ManagedProcess,
    readonly host: string,
    readonly ngPort: number,
    readonly cliPort: number,
    readonly portMin: number,
    readonly portMax: number,
  ) {}

  get pid(): number {
    return this.process.pid;
  }

  /** Its log so far (it logs to stderr). */
  log(): string {
    return this.process.tail();
  }

  stop(): Promise<ExitStatus> {
    return this.process.stop();
  }
}

const MEDIA_BLOCK = 200;
/** Media ports come from 10000-19999: below ports.ts's 20000-32000 and the kernel's ephemeral range. */
const MEDIA_LOW = 10_000;
const MEDIA_BLOCKS = 50;

export async function startRtpengine(host = '127.0.0.1'): Promise<Rtpengine> {
  const ngPort = await freePort(host, ['udp']);
  const cliPort = await freePort(host, ['tcp']);
  const portMin = MEDIA_LOW + Math.floor(Math.random() * MEDIA_BLOCKS) * MEDIA_BLOCK;
  const portMax = portMin + MEDIA_BLOCK - 1;
  const args = [
    '--config-file=none',
    '--foreground',
    '--log-stderr',
    '--table=-1',
    `--interface=lo/${host}`,
    `--listen-ng=${host}:${ngPort}`,
    `--listen-cli=${host}:${cliPort}`,
    `--port-min=${portMin}`,
    `--port-max=${portMax}`,
    '--delete-delay=0',
  ];
  const child = startProcess(RTPENGINE, args, { name: 'rtpengine', cwd: tempDir('rtpengine') });
  try {
    await Promise.race([
      child.waitFor(/Startup complete/, 10_000, 'stderr'),
      child.exited.then((status) => {
        throw new Error(`rtpengine exited at start (${JSON.stringify(status)})\n${child.tail()}`);
      }),
    ]);
  } catch (error) {
    await child.stop();
    throw error;
  }
  return new Rtpengine(child, host, ngPort, cliPort, portMin, portMax);
}

/**
 * Kamailio (Debian's 5.6) started by tests as a reference proxy or as an independent TLS
 * client, from the configs in test/interop/kamailio/:
 *
 * - `proxy`: proxy.cfg, a plain transaction-stateful record-routing proxy (tm, rr, sl,
 *   maxfwd, textops, siputils, pv; no database) that sends every initial request to one
 *   upstream, in-dialog requests along their Route set.
 * - `proxy-secure`: proxy-secure.cfg, the same with a ban table (htable), per-source rate
 *   limiting (pike) and sanity checks in front.
 * - `tls`: tls.cfg, listens on UDP and relays over TLS to the upstream (tls module, with
 *   certificate verification off for the test's self-signed certificate).
 * - `registrar`: registrar.cfg, a registrar (usrloc in memory) that keeps each binding's
 *   Path (RFC 3327) and relays calls to registered users along it; it has no upstream.
 * - `answer-all`: answer-all.cfg, a stateless UAS that answers every request but ACK with
 *   "200 Answered By Upstream" and logs its Call-ID (the `upstream` option is not used).
 *
 * One worker per transport (children=1, tcp_children=1 in the configs), in the foreground
 * (-DD: no daemon, still forks its workers), logging to stderr (-E), small fixed memory
 * (-m shared MB, -M private MB, so no mlock or large shm is needed), its pid file, runtime
 * directory and working directory in a temporary directory. Listening sockets and the
 * upstream come from the command line (-l, -A), never from the machine's interfaces:
 * without -l Kamailio would listen on every address the machine has.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type CertificateFiles, selfSignedCertificate } from './certs.ts';
import { type PortKind, waitForListening } from './ports.ts';
import { type ExitStatus, type ManagedProcess, startProcess } from './process.ts';
import { tempDir } from './workdir.ts';

export const KAMAILIO_CONFIG_DIR = join(import.meta.dirname, '..', 'kamailio');
export const KAMAILIO_BIN = process.env.KAMAILIO_BIN ?? 'kamailio';

export type KamailioVariant = 'proxy-auth' | 'proxy' | 'proxy-secure' | 'tls' | 'registrar' | 'answer-all';
export type SipTransport = 'udp' | 'tcp' | 'tls';

export interface KamailioOptions {
  readonly variant?: KamailioVariant;
  /** Address to listen on; default 127.0.0.1. */
  readonly host?: string;
  /** UDP and TCP listening port (both, same number). */
  readonly port: number;
  /** TLS listening port: required by the tls variant (outgoing TLS leaves from a TLS socket). */
  readonly tlsPort?: number;
  /** Where initial requests go; required by every variant but `registrar`. */
  readonly upstream?: { readonly host: string; readonly port: number; readonly transport?: SipTransport };
  /** Log one line per request routed by Record-Route ("sw-interop: loose-route BYE"). */
  readonly dialogLog?: boolean;
  /** More -A defines: NAME, or NAME with a number or string value. */
  readonly defines?: Readonly<Record<string, true | number | string>>;
  /** -m: shared memory in MB (transactions live there); default 64. */
  readonly sharedMemoryMb?: number;
  /** -M: private memory per process in MB; default 8. */
  readonly privateMemoryMb?: number;
  /** -x: allocator for shared and private memory (qm: Kamailio's default, with debug records; tlsf, fm: faster). */
  readonly memoryManager?: 'qm' | 'fm' | 'tlsf';
  /** TLS variant: certificate for Kamailio's own TLS socket; a self-signed one by default. */
  readonly certificate?: CertificateFiles;
  readonly workDir?: string;
  /** Time allowed to start listening; default 10 s. */
  readonly startTimeoutMs?: number;
}

export class Kamailio {
  constructor(
    readonly process: ManagedProcess,
    readonly host: string,
    readonly port: number,
    readonly workDir: string,
    readonly tlsPort?: number,
  ) {}

  get pid(): number {
    return this.process.pid;
  }

  /** Lines of its log (stderr) that match `pattern`, counted in the kept output tail. */
  countLog(pattern: RegExp): number {
    const flags = pattern.flags.includes('g') ? pattern.flags : `${pattern.flags}g`;
    return [...this.process.stderr().matchAll(new RegExp(pattern.source, flags))].length;
  }

  stop(): Promise<ExitStatus> {
    return this.process.stop();
  }
}

function defineArg(name: string, value: true | number | string): string {
  if (value === true) return name;
  if (typeof value === 'number') return `${name}=${value}`;
  return `${name}="${value}"`;
}

/** The upstream as a SIP URI with its transport (`;transport=` omitted for UDP). */
export function upstreamUri(upstream: NonNullable<KamailioOptions['upstream']>): string {
  const host = upstream.host.includes(':') ? `[${upstream.host}]` : upstream.host;
  const transport = upstream.transport ?? 'udp';
  return `sip:${host}:${upstream.port}${transport === 'udp' ? '' : `;transport=${transport}`}`;
}

/** Writes the tls module's own configuration (server and client profiles). */
function writeTlsModuleConfig(dir: string, certificate: CertificateFiles): string {
  const path = join(dir, 'tls-module.cfg');
  writeFileSync(
    path,
    [
      '[server:default]',
      'method = TLSv1.2+',
      'verify_certificate = no',
      'require_certificate = no',
      `private_key = ${certificate.keyPath}`,
      `certificate = ${certificate.certPath}`,
      '',
      '[client:default]',
      'method = TLSv1.2+',
      // The peer under test presents a self-signed test certificate.
      'verify_certificate = no',
      'require_certificate = no',
      '',
    ].join('\n'),
  );
  return path;
}

/** Starts Kamailio and resolves once its sockets are bound. */
export async function startKamailio(options: KamailioOptions): Promise<Kamailio> {
  const variant = options.variant ?? 'proxy';
  const host = options.host ?? '127.0.0.1';
  const workDir = options.workDir ?? tempDir(`kamailio-${variant}`);
  const config = join(KAMAILIO_CONFIG_DIR, `${variant}.cfg`);
  const args = ['-DD', '-E', '-f', config, '-P', join(workDir, 'kamailio.pid'), '-Y', workDir, '-w', workDir];
  args.push('-m', String(options.sharedMemoryMb ?? 64), '-M', String(options.privateMemoryMb ?? 8));
  if (options.memoryManager) args.push('-x', options.memoryManager);
  args.push('-l', `udp:${host}:${options.port}`, '-l', `tcp:${host}:${options.port}`);
  if (!options.upstream && variant !== 'registrar') throw new Error(`the ${variant} variant needs upstream`);
  const defines: Record<string, true | number | string> = options.upstream
    ? { UPSTREAM: upstreamUri(options.upstream) }
    : {};
  if (variant === 'tls') {
    if (options.tlsPort === undefined) throw new Error('the tls variant needs tlsPort');
    args.push('-l', `tls:${host}:${options.tlsPort}`);
    const certificate = options.certificate ?? selfSignedCertificate(workDir);
    defines.TLS_CONFIG = writeTlsModuleConfig(workDir, certificate);
  }
  if (options.dialogLog) defines.WITH_DIALOG_LOG = true;
  Object.assign(defines, options.defines);
  for (const [name, value] of Object.entries(defines)) args.push('-A', defineArg(name, value));

  const child = startProcess(KAMAILIO_BIN, args, { name: `kamailio-${variant}`, cwd: workDir });
  const kinds: PortKind[] = ['udp', 'tcp'];
  const timeout = options.startTimeoutMs ?? 10000;
  try {
    await Promise.race([
      (async () => {
        await waitForListening(options.port, kinds, timeout, host);
        if (options.tlsPort !== undefined) await waitForListening(options.tlsPort, ['tcp'], timeout, host);
      })(),
      child.exited.then((status) => {
        throw new Error(`kamailio exited at start (${JSON.stringify(status)})\n${child.tail()}`);
      }),
    ]);
  } catch (error) {
    await child.stop();
    throw error;
  }
  return new Kamailio(child, host, options.port, workDir, options.tlsPort);
}

/**
 * `sipwarden tls-cert --out DIR`: writes a self-signed certificate and its key
 * (DIR/cert.pem, DIR/key.pem, the key readable by its owner only) and prints the config
 * lines that use them. For tests and first set-ups; production wants a CA-issued pair.
 */
import { existsSync, mkdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { CliError, EXIT_FAILURE, EXIT_USAGE, messageOf } from '../cli-error.ts';

interface TlsCertOptions {
  readonly out: string;
  readonly cn?: string;
  readonly days: string;
  readonly alt?: readonly string[];
  readonly force?: boolean;
}

const MAX_DAYS = 3650;

export function registerTlsCert(program: Command): void {
  program
    .command('tls-cert')
    .description('write a self-signed TLS certificate and key (DIR/cert.pem, DIR/key.pem)')
    .requiredOption('--out <dir>', 'directory to write cert.pem and key.pem to (created if missing)')
    .option('--cn <name>', 'certificate common name (default: this host name)')
    .option('--days <n>', `validity in days, 1..${MAX_DAYS}`, '365')
    .option(
      '--alt <name>',
      'subject alternative name, a DNS name or IP address (repeatable)',
      (value: string, previous: string[] | undefined) => [...(previous ?? []), value],
    )
    .option('--force', 'replace existing files')
    .action((options: TlsCertOptions) => tlsCert(options));
}

async function tlsCert(options: TlsCertOptions): Promise<void> {
  const days = /^\d{1,5}$/.test(options.days) ? Number(options.days) : Number.NaN;
  if (!(days >= 1 && days <= MAX_DAYS)) {
    throw new CliError(EXIT_USAGE, [`--days: ${JSON.stringify(options.days)} must be 1..${MAX_DAYS}`]);
  }
  const commonName = options.cn ?? hostname();
  const certPath = resolve(join(options.out, 'cert.pem'));
  const keyPath = resolve(join(options.out, 'key.pem'));
  if (options.force !== true) {
    // Checked before the key is generated; writeNew still refuses to replace a file.
    for (const path of [keyPath, certPath]) {
      if (existsSync(path))
        throw new CliError(EXIT_FAILURE, [`tls-cert: ${path} exists already (use --force to replace it)`]);
    }
  }
  let pair: { cert: string; key: string };
  try {
    const { generateSelfSignedCertificate } = await import('../../transport/tls-cert.ts');
    pair = await generateSelfSignedCertificate({
      commonName,
      days,
      ...(options.alt === undefined ? {} : { altNames: [...options.alt] }),
    });
  } catch (error) {
    throw new CliError(EXIT_FAILURE, [`tls-cert: cannot create the certificate: ${messageOf(error)}`]);
  }
  try {
    mkdirSync(options.out, { recursive: true, mode: 0o755 });
    writeNew(keyPath, pair.key, 0o600, options.force === true);
    writeNew(certPath, pair.cert, 0o644, options.force === true);
  } catch (error) {
    throw new CliError(EXIT_FAILURE, [`tls-cert: ${describeWriteError(error)}`]);
  }
  process.stdout.write(
    [
      `wrote ${certPath} (self-signed, CN=${commonName}, valid ${days} days)`,
      `wrote ${keyPath} (mode 0600)`,
      '',
      'to use them, add to your configuration file:',
      '',
      'tls:',
      `  cert: ${certPath}`,
      `  key: ${keyPath}`,
      'listen:',
      '  - { host: 0.0.0.0, port: 5060, transports: [udp, tcp] }',
      '  - { host: 0.0.0.0, port: 5061, transports: [tls] }',
      '',
    ].join('\n'),
  );
}

/**
 * Creates the file with its mode from the start, so a key is never readable by others even
 * for a moment; an existing file is replaced only with --force.
 */
function writeNew(path: string, text: string, mode: number, force: boolean): void {
  if (force) {
    try {
      unlinkSync(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  writeFileSync(path, text, { mode, flag: 'wx' });
}

function describeWriteError(error: unknown): string {
  const { code, path } = error as NodeJS.ErrnoException;
  if (code === 'EEXIST') return `${path} exists already (use --force to replace it)`;
  if (code === 'EACCES' || code === 'EPERM') return `${path}: permission denied`;
  return messageOf(error);
}

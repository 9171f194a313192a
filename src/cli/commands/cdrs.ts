/**
 * `sipwarden cdrs [--since 1d] [--until T] [--user U] [--csv | --json] [--limit N]
 * [--config FILE | --db FILE]`: call detail records, newest first, read from the
 * database file (table `cdrs`), whether the gateway runs or not. The file is found as the
 * gateway finds it (config/data-dir.ts): `--db`, else `events.database` of the
 * configuration, else `events.db` in the data directory.
 */

import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { CallDetailRecord } from '../../cdr/cdr.ts';
import { cdrCsv } from '../../cdr/cdr-csv.ts';
import { DEFAULT_CDR_QUERY_LIMIT, MAX_CDR_QUERY_LIMIT, openCdrReader } from '../../cdr/cdr-store.ts';
import { MEMORY_DATABASE } from '../../config/data-dir.ts';
import { CliError, EXIT_FAILURE, EXIT_USAGE } from '../cli-error.ts';
import { readTimeWindow } from '../time-window-options.ts';
import { configuredDatabase } from '../users-database.ts';

interface CdrsOptions {
  readonly config?: string;
  readonly db?: string;
  readonly since?: string;
  readonly until?: string;
  readonly user?: string;
  readonly limit?: string;
  readonly csv?: boolean;
  readonly json?: boolean;
}

export function registerCdrs(program: Command): void {
  program
    .command('cdrs')
    .description('show call detail records (one per call attempt), newest first')
    .option(
      '-c, --config <file>',
      'the configuration whose database to read (default: the embedded defaults)',
    )
    .option('--db <file>', 'read this database file instead (as `sipwarden users --db`)')
    .option(
      '--since <time>',
      'calls started since: a duration back from now (1d), an ISO 8601 time or epoch ms',
    )
    .option('--until <time>', 'calls started until: as --since')
    .option(
      '--user <user>',
      'calls of this user (or user@domain), caller or callee, signalled or authenticated',
    )
    .option(
      '--limit <n>',
      `at most this many records, 1..${MAX_CDR_QUERY_LIMIT} (default ${DEFAULT_CDR_QUERY_LIMIT})`,
    )
    .option('--csv', 'print CSV (a header row, then one row per record)')
    .option('--json', 'print JSON: { "cdrs": [...] }')
    .action((options: CdrsOptions) => cdrs(options));
}

function cdrs(options: CdrsOptions): void {
  if (options.csv && options.json) throw new CliError(EXIT_USAGE, ['--csv and --json: choose one']);
  const window = readTimeWindow(options, MAX_CDR_QUERY_LIMIT);
  const database = databaseOf(options);
  let records: CallDetailRecord[];
  try {
    const reader = openCdrReader(database);
    try {
      records = reader.query({
        ...window,
        ...(options.user === undefined ? {} : { user: options.user }),
      });
    } finally {
      reader.close();
    }
  } catch (error) {
    throw new CliError(EXIT_FAILURE, [(error as Error).message]);
  }
  if (options.csv) process.stdout.write(cdrCsv(records));
  else if (options.json) process.stdout.write(`${JSON.stringify({ cdrs: records }, null, 2)}\n`);
  else if (records.length === 0) process.stdout.write('no call detail records\n');
  else process.stdout.write(cdrTable(records));
}

function databaseOf(options: CdrsOptions): string {
  if (options.db !== undefined) return resolve(options.db);
  const location = configuredDatabase(options.config);
  if (location.database === MEMORY_DATABASE) {
    throw new CliError(EXIT_USAGE, [
      'events.database is :memory: — records live in the running gateway only: ask its API (GET /api/cdrs)',
    ]);
  }
  return location.database;
}

/** One line per record: the columns an operator reads first. */
function cdrTable(records: readonly CallDetailRecord[]): string {
  const rows = records.map((r) => [
    new Date(r.startTime).toISOString(),
    r.durationMs === null ? '-' : `${(r.durationMs / 1000).toFixed(1)}s`,
    r.disposition,
    r.status === null ? '-' : String(r.status),
    r.endedBy ?? '-',
    address(r.fromUser, r.fromDomain),
    address(r.requestUser ?? r.toUser, r.requestUser === null ? r.toDomain : r.requestDomain),
    r.authUser === null ? '-' : address(r.authUser, r.authDomain),
    `${r.sourceTransport}:${r.sourceAddress}:${r.sourcePort}`,
    r.refusalStage === null ? '' : `${r.refusalStage}/${r.refusalRule ?? '-'}`,
  ]);
  const header = [
    'START',
    'DURATION',
    'DISPOSITION',
    'STATUS',
    'ENDED BY',
    'FROM',
    'TO',
    'AUTH',
    'SOURCE',
    'REFUSED BY',
  ];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}

function address(user: string | null, domain: string | null): string {
  if (user === null) return domain ?? '-';
  return domain === null ? user : `${user}@${domain}`;
}

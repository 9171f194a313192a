/**
 * `sipwarden audit [--since 7d] [--until T] [--actor NAME] [--action block.add|session.*]
 * [--limit N] [--json] [--config FILE | --db FILE]`: the audit log, newest first, read from
 * the database file (table `audit`) whether the gateway runs or not, as `sipwarden cdrs`
 * finds it: `--db`, else `events.database` of the configuration, else `events.db` in the
 * data directory. Reading the file needs its owner's rights, as the audit log should.
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import {
  type AuditEntry,
  DEFAULT_AUDIT_QUERY_LIMIT,
  MAX_AUDIT_QUERY_LIMIT,
  openAuditReader,
} from '../../audit/audit-log.ts';
import { MEMORY_DATABASE } from '../../config/data-dir.ts';
import { CliError, EXIT_FAILURE, EXIT_USAGE } from '../cli-error.ts';
import { readTimeWindow } from '../time-window-options.ts';
import { configuredDatabase } from '../users-database.ts';

interface AuditOptions {
  readonly config?: string;
  readonly db?: string;
  readonly since?: string;
  readonly until?: string;
  readonly actor?: string;
  readonly action?: string;
  readonly limit?: string;
  readonly json?: boolean;
}

export function registerAudit(program: Command): void {
  program
    .command('audit')
    .description('show the audit log (logins, blocks, account changes, reloads), newest first')
    .option(
      '-c, --config <file>',
      'the configuration whose database to read (default: the embedded defaults)',
    )
    .option('--db <file>', 'read this database file instead')
    .option('--since <time>', 'entries since: a duration back from now (7d), an ISO 8601 time or epoch ms')
    .option('--until <time>', 'entries until: as --since')
    .option('--actor <name>', 'entries of this account (`local` for the socket and signals)')
    .option('--action <action>', 'one action (block.add) or a family (session.*)')
    .option(
      '--limit <n>',
      `at most this many entries, 1..${MAX_AUDIT_QUERY_LIMIT} (default ${DEFAULT_AUDIT_QUERY_LIMIT})`,
    )
    .option('--json', 'print JSON: { "audit": [...] }')
    .action((options: AuditOptions) => audit(options));
}

function audit(options: AuditOptions): void {
  if (options.db !== undefined && options.config !== undefined) {
    throw new CliError(EXIT_USAGE, ['give --config or --db, not both']);
  }
  const window = readTimeWindow(options, MAX_AUDIT_QUERY_LIMIT);
  const database = databaseOf(options);
  let entries: AuditEntry[];
  try {
    const reader = openAuditReader(database);
    try {
      entries = reader.list({
        ...window,
        ...(options.actor === undefined ? {} : { actor: options.actor }),
        ...(options.action === undefined ? {} : { action: options.action }),
      });
    } finally {
      reader.close();
    }
  } catch (error) {
    throw new CliError(EXIT_FAILURE, [(error as Error).message]);
  }
  if (options.json) process.stdout.write(`${JSON.stringify({ audit: entries }, null, 2)}\n`);
  else if (entries.length === 0) process.stdout.write('no audit entries\n');
  else process.stdout.write(auditTable(entries));
}

function databaseOf(options: AuditOptions): string {
  if (options.db !== undefined) return resolve(options.db);
  const location = configuredDatabase(options.config);
  if (location.database === MEMORY_DATABASE) {
    throw new CliError(EXIT_USAGE, [
      'events.database is :memory: — the audit log lives in the running gateway only: ask its API (GET /api/audit)',
    ]);
  }
  return location.database;
}

/** One line per entry; the detail as compact JSON at the end. */
export function auditTable(entries: readonly AuditEntry[]): string {
  const rows = entries.map((e) => [
    new Date(e.at).toISOString(),
    e.actor,
    e.address,
    e.action,
    e.outcome,
    e.target ?? '-',
    e.detail === undefined ? '' : JSON.stringify(e.detail),
  ]);
  const header = ['TIME', 'ACTOR', 'ADDRESS', 'ACTION', 'OUTCOME', 'TARGET', 'DETAIL'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}

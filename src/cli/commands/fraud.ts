/**
 * `sipwarden fraud holds [--api URL] [--json]`: the identities whose calls the fraud stage
 * holds for an operator; `sipwarden fraud release USER@DOMAIN [--api URL]`: lets one call
 * again.
 */
import type { Command } from 'commander';
import { ManagementClient, resolveApiUrl } from '../../api/client.ts';
import { holdsTable } from '../../api/format.ts';
import { CliError, EXIT_USAGE } from '../cli-error.ts';
import { API_OPTION_HELP } from './block.ts';

interface ApiOptions {
  readonly api?: string;
  readonly json?: boolean;
}

function client(options: ApiOptions): ManagementClient {
  const api = resolveApiUrl(options.api);
  if (!api.ok) throw new CliError(EXIT_USAGE, [api.message]);
  return new ManagementClient(api.url);
}

export function registerFraud(program: Command): void {
  const fraud = program.command('fraud').description('toll fraud: identities held for an operator');
  fraud
    .command('holds')
    .description('list the identities whose new calls are held')
    .option('--api <url>', API_OPTION_HELP)
    .option('--json', "print the API's answer as JSON")
    .action(async (options: ApiOptions) => {
      const answer = await client(options).fraudHolds();
      if (options.json === true) process.stdout.write(`${JSON.stringify(answer, null, 2)}\n`);
      else if (answer.holds.length === 0) process.stdout.write('no identity held\n');
      else process.stdout.write(holdsTable(answer.holds));
    });
  fraud
    .command('release')
    .description('release a held identity: its new calls go through again')
    .argument('<identity>', 'user@domain, as `sipwarden fraud holds` lists it')
    .option('--api <url>', API_OPTION_HELP)
    .action(async (identity: string, options: ApiOptions) => {
      await client(options).releaseHold(identity);
      process.stdout.write(`released ${identity}\n`);
    });
}

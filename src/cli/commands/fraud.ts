/**
 * `sipwarden fraud holds [--json]`: the identities whose calls the fraud stage
 * holds for an operator; `sipwarden fraud release USER@DOMAIN`: lets one call
 * again.
 */
import type { Command } from 'commander';
import { holdsTable } from '../../api/format.ts';
import { type ApiOptions, apiOptions, managementClient } from '../management-client.ts';

interface FraudOptions extends ApiOptions {
  readonly json?: boolean;
}

export function registerFraud(program: Command): void {
  const fraud = program.command('fraud').description('toll fraud: identities held for an operator');
  apiOptions(fraud.command('holds'))
    .description('list the identities whose new calls are held')
    .option('--json', "print the API's answer as JSON")
    .action(async (options: FraudOptions) => {
      const answer = await managementClient(options).fraudHolds();
      if (options.json === true) process.stdout.write(`${JSON.stringify(answer, null, 2)}\n`);
      else if (answer.holds.length === 0) process.stdout.write('no identity held\n');
      else process.stdout.write(holdsTable(answer.holds));
    });
  apiOptions(fraud.command('release'))
    .description('release a held identity: its new calls go through again')
    .argument('<identity>', 'user@domain, as `sipwarden fraud holds` lists it')
    .action(async (identity: string, options: FraudOptions) => {
      await managementClient(options).releaseHold(identity);
      process.stdout.write(`released ${identity}\n`);
    });
}

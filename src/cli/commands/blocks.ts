/** `sipwarden blocks [--api URL] [--json]`: lists the blocks in force on the running gateway. */
import type { Command } from 'commander';
import { ManagementClient, resolveApiUrl } from '../../api/client.ts';
import { blocksTable } from '../../api/format.ts';
import { CliError, EXIT_USAGE } from '../cli-error.ts';
import { API_OPTION_HELP } from './block.ts';

interface BlocksOptions {
  readonly api?: string;
  readonly json?: boolean;
}

export function registerBlocks(program: Command): void {
  program
    .command('blocks')
    .description('list the blocks in force on the running gateway')
    .option('--api <url>', API_OPTION_HELP)
    .option('--json', "print the API's answer as JSON")
    .action((options: BlocksOptions) => blocks(options));
}

async function blocks(options: BlocksOptions): Promise<void> {
  const api = resolveApiUrl(options.api);
  if (!api.ok) throw new CliError(EXIT_USAGE, [api.message]);
  const answer = await new ManagementClient(api.url).blocks();
  if (options.json === true) {
    process.stdout.write(`${JSON.stringify(answer, null, 2)}\n`);
  } else if (answer.blocks.length === 0) {
    process.stdout.write('no blocks in force\n');
  } else {
    process.stdout.write(blocksTable(answer.blocks));
    if (answer.total > answer.blocks.length) {
      process.stdout.write(`(${answer.blocks.length} of ${answer.total} shown)\n`);
    }
  }
}

/** `sipwarden blocks [--api URL] [--json]`: lists the blocks in force on the running gateway. */
import type { Command } from 'commander';
import { blocksTable } from '../../api/format.ts';
import { type ApiOptions, apiOptions, managementClient } from '../management-client.ts';

interface BlocksOptions extends ApiOptions {
  readonly json?: boolean;
}

export function registerBlocks(program: Command): void {
  apiOptions(program.command('blocks'))
    .description('list the blocks in force on the running gateway')
    .option('--json', "print the API's answer as JSON")
    .action((options: BlocksOptions) => blocks(options));
}

async function blocks(options: BlocksOptions): Promise<void> {
  const answer = await managementClient(options).blocks();
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

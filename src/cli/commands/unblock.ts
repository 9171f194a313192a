/** `sipwarden unblock ADDRESS [--api URL]`: removes a block from the running gateway. */
import type { Command } from 'commander';
import { ManagementClient, resolveApiUrl } from '../../api/client.ts';
import { CliError, EXIT_USAGE } from '../cli-error.ts';
import { API_OPTION_HELP } from './block.ts';

interface UnblockOptions {
  readonly api?: string;
}

export function registerUnblock(program: Command): void {
  program
    .command('unblock')
    .description('remove a block from the running gateway')
    .argument('<address>', 'the blocked address, network (CIDR) or rule key, as `sipwarden blocks` lists it')
    .option('--api <url>', API_OPTION_HELP)
    .action((address: string, options: UnblockOptions) => unblock(address, options));
}

async function unblock(address: string, options: UnblockOptions): Promise<void> {
  const api = resolveApiUrl(options.api);
  if (!api.ok) throw new CliError(EXIT_USAGE, [api.message]);
  await new ManagementClient(api.url).unblock(address);
  process.stdout.write(`unblocked ${address}\n`);
}

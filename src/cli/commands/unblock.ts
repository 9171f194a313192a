/** `sipwarden unblock ADDRESS [--api URL]`: removes a block from the running gateway. */
import type { Command } from 'commander';
import { type ApiOptions, apiOptions, managementClient } from '../management-client.ts';

interface UnblockOptions extends ApiOptions {}

export function registerUnblock(program: Command): void {
  apiOptions(program.command('unblock'))
    .description('remove a block from the running gateway')
    .argument('<address>', 'the blocked address, network (CIDR) or rule key, as `sipwarden blocks` lists it')
    .action((address: string, options: UnblockOptions) => unblock(address, options));
}

async function unblock(address: string, options: UnblockOptions): Promise<void> {
  await managementClient(options).unblock(address);
  process.stdout.write(`unblocked ${address}\n`);
}
